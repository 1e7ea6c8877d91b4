"""Alerts to alerts.webhook_url (Slack-compatible `{"text": …}`), debounced through Redis keys.

An alert must never break what raised it: every failure here is logged and swallowed."""

import logging
from datetime import datetime, timedelta

import requests
from redis.exceptions import RedisError

from bridge.storage.models import utcnow

log = logging.getLogger("bridge.alerts")
KEY = "bridge:alerts:{}"
NO_WORKER_SINCE = "bridge:alerts:no-worker-since"
CHECK_EVERY_S = 60


def send(rt, topic: str, text: str, page: str) -> bool:
    """Post one alert unless the same topic was alerted within the debounce time."""
    alerts = rt.config.alerts
    if not alerts.webhook_url:
        return False
    try:
        if not rt.redis.set(KEY.format(topic), "1", nx=True, ex=alerts.debounce_minutes * 60):
            return False
        link = f"{rt.config.server.public_url}/admin{page}"
        requests.post(alerts.webhook_url, json={"text": f"Postback Bridge: {text}\n{link}"},
                      timeout=5).raise_for_status()
    except (RedisError, RuntimeError, requests.RequestException) as exc:
        log.warning("alert topic=%s not sent: %s", topic, rt.mask(str(exc)))
        return False
    log.info("alert topic=%s sent", topic)
    return True


def delivery_dead(rt, delivery_id: int, network: str, reason: str) -> bool:
    return send(rt, f"dead:{network}", f"a postback to {network} went dead (delivery "
                f"{delivery_id}: {reason[:200]})", f"/deliveries/{delivery_id}")


def network_paused(rt, network: str, reason: str) -> bool:
    return send(rt, f"paused:{network}", f"network {network} was paused: {reason[:200]}. "
                "Fix its configuration, then resume it.", f"/deliveries?network={network}")


def check(rt, figures=None) -> list[str]:
    """The periodic checks (no worker for N minutes, accuracy); the topics alerted."""
    from bridge import status
    if not rt.config.alerts.webhook_url:
        return []
    try:
        if not rt.redis.set(KEY.format("check"), "1", nx=True, ex=CHECK_EVERY_S):
            return []
    except (RedisError, RuntimeError):
        return []
    figures = figures or status.collect(rt)
    sent = []
    if _no_worker_too_long(rt, bool(figures.queue.workers)) and send(
            rt, "no-worker", f"no worker has run for {rt.config.alerts.no_worker_minutes} "
            "minutes: postbacks are not being sent", "/"):
        sent.append("no-worker")
    threshold = rt.config.alerts.accuracy_threshold
    if figures.accuracy is not None and figures.accuracy < threshold and send(
            rt, "accuracy", f"only {figures.accuracy:.0%} of attributed orders were delivered "
            f"in 24 h (threshold {threshold:.0%})", "/accuracy"):
        sent.append("accuracy")
    return sent


def _no_worker_too_long(rt, has_worker: bool) -> bool:
    """Remember when workers disappeared; True once that is longer ago than the configured N."""
    if has_worker:
        rt.redis.delete(NO_WORKER_SINCE)
        return False
    rt.redis.set(NO_WORKER_SINCE, utcnow().isoformat(), nx=True)
    since = datetime.fromisoformat(rt.redis.get(NO_WORKER_SINCE).decode())
    return utcnow() - since >= timedelta(minutes=rt.config.alerts.no_worker_minutes)
