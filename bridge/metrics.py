"""Prometheus metrics, multiprocess-safe: every gunicorn and worker process writes its own files
under PROMETHEUS_MULTIPROC_DIR, and GET /metrics (bridge.metrics_endpoint) adds them up
(prometheus_client's documented way). `bridge run/web/worker` set that directory
(runner.prepare_metrics_dir) before this is imported. No Flask here: the workers count too."""

from prometheus_client import Counter, Histogram

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
