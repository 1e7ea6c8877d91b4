"""GET /metrics: the counters of every process (bridge.metrics) and the queue depth."""

import os

from flask import Blueprint, Response, current_app
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest,
                               multiprocess)
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

bp = Blueprint("metrics", __name__)


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
