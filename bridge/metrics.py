"""Prometheus metrics, multiprocess-safe: every gunicorn and worker process writes its own files
under PROMETHEUS_MULTIPROC_DIR, and GET /metrics adds them up (prometheus_client's documented way).
`bridge run/web/worker` set that directory (runner.prepare_metrics_dir) before this is imported."""

import os

from flask import Blueprint, Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

bp = Blueprint("metrics", __name__)
WEBHOOKS = Counter("bridge_webhooks_total", "Webhooks received, by source and result",
                   ["source", "result"])
DELIVERIES = Counter("bridge_deliveries_total",
                     "Postback attempts by network and the delivery's resulting status",
                     ["network", "outcome"])
LATENCY = Histogram("bridge_attempt_latency_seconds", "Postback attempt latency", ["network"],
                    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def webhook(source: str, result: str) -> None:
    WEBHOOKS.labels(source, result).inc()


def attempt(network: str, outcome: str, latency_ms: float | None) -> None:
    DELIVERIES.labels(network, outcome).inc()
    if latency_ms is not None:
        LATENCY.labels(network).observe(latency_ms / 1000)


class QueueCollector:
    """Queue depth read from Redis at scrape time (a gauge no process has to keep up to date)."""

    def __init__(self, runtime):
        self.runtime = runtime

    def collect(self):
        gauge = GaugeMetricFamily("bridge_queue_jobs", "RQ jobs by state", labels=["state"])
        try:
            queue = self.runtime.queue
            for state, count in (("queued", queue.count),
                                 ("scheduled", queue.scheduled_job_registry.count),
                                 ("started", queue.started_job_registry.count),
                                 ("failed", queue.failed_job_registry.count)):
                gauge.add_metric([state], count)
        except (RedisError, RuntimeError):
            return
        yield gauge


@bp.get("/metrics")
def scrape():
    """Every process's counters (or this process's, without a multiprocess dir) and the queue."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(ThisProcess())
    registry.register(QueueCollector(current_app.config["RUNTIME"]))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class ThisProcess:
    """The default registry's metrics, for a single process run without a multiprocess dir."""

    def collect(self):
        yield from REGISTRY.collect()
