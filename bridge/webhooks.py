"""POST /webhooks/<source>: verify on the raw body, parse, keep it in the inbox, answer.

The inbox job (workers/inbox.py) stores the events and deliveries: the request does one INSERT."""

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
        webhook = ingest.parse(connector, raw_body, request.headers, source,
                               runtime.config.click_params())
    except SignatureError:
        signature_failures.note(runtime, name)
        metrics.webhook(name, "bad_signature")
        raise
    except PingError:
        metrics.webhook(name, "ping")
        return answer(200, status="ping")
    except (IgnoredEventError, InvalidPayloadError) as error:
        return _unusable(runtime, source, error, raw_body)
    inbox_id = ingest.receive(runtime, source, webhook, raw_body, request.headers)
    if inbox_id is not None:
        queue.wake_inbox(runtime)
    result = "accepted" if inbox_id is not None else "duplicate"
    metrics.webhook(name, result)
    log.info("webhook source=%s event=%s topic=%s result=%s", name, webhook.event_id,
             webhook.topic, result)
    return answer(200, status=result, webhook=inbox_id)


def _unusable(runtime, source, error, raw_body):
    status = ingest.unusable_status(error)
    ingest.store_unusable(runtime, source, status, error, raw_body)
    metrics.webhook(source.name, status)
    log.info("webhook source=%s event=%s topic=%s result=%s reason=%s", source.name,
             error.event_id, error.topic, status, error)
    return answer(200, status=status, reason=str(error)[:200])

