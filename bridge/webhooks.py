"""POST /webhooks/<source>: verify on the raw body, parse, store in one transaction, answer."""

import logging

from flask import Blueprint, current_app, request

from bridge import ingest, metrics, queue, signature_failures
from bridge.errors import UnknownSourceError, answer
from connectors import CONNECTORS
from connectors.errors import IgnoredEventError, InvalidPayloadError, PingError, SignatureError

bp = Blueprint("webhooks", __name__)
log = logging.getLogger("bridge.webhooks")


@bp.post("/webhooks/<name>")
def receive(name: str):
    runtime = current_app.config["RUNTIME"]
    source = runtime.config.source(name)
    if source is None or source.platform not in CONNECTORS:  # api sources take no webhooks
        raise UnknownSourceError(name)
    raw_body = request.get_data(cache=True)  # before anything touches request.form
    connector = CONNECTORS[source.platform]
    try:
        connector.verify(raw_body, request.headers, source)
        webhook = _parse(connector, raw_body, source, click_params(runtime))
    except SignatureError:
        signature_failures.note(runtime, name)
        metrics.webhook(name, "bad_signature")
        raise
    except PingError:
        metrics.webhook(name, "ping")
        return answer(200, status="ping")
    except (IgnoredEventError, InvalidPayloadError) as error:
        return _unusable(runtime, source, error, raw_body)
    stored = ingest.store_webhook(runtime, source, webhook)
    queue.wake_due(runtime, stored.networks, [row[0] for row in stored.due])
    result = "duplicate" if stored.duplicate else "accepted"
    metrics.webhook(name, result)
    log.info("webhook source=%s event=%s topic=%s result=%s deliveries=%d", name,
             webhook.event_id, webhook.topic, result, len(stored.due))
    return answer(200, status=result, events=stored.event_ids)


def _parse(connector, raw_body: bytes, source, params: list[str]):
    """The connector's parse; a signed body it trips over is invalid, never a 500."""
    try:
        return connector.parse(raw_body, request.headers, source, params)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError,
            RecursionError) as exc:
        # A retry cannot fix the payload, and a non-2xx makes the platform disable the webhook.
        log.exception("webhook source=%s: connector could not read a signed body", source.name)
        raise InvalidPayloadError(f"unreadable payload ({type(exc).__name__})") from None


def _unusable(runtime, source, error, raw_body):
    status = "invalid" if isinstance(error, InvalidPayloadError) else "ignored"
    ingest.store_unusable(runtime, source, status, error, raw_body)
    metrics.webhook(source.name, status)
    log.info("webhook source=%s event=%s topic=%s result=%s reason=%s", source.name,
             error.event_id, error.topic, status, error)
    return answer(200, status=status, reason=str(error)[:200])


def click_params(runtime) -> list[str]:
    """Every click parameter name: each network's, then the generic ones."""
    config = runtime.config
    names = [p for n in config.networks for p in n.click_params] + config.attribution.click_params
    return list(dict.fromkeys(names))
