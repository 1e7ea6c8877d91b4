"""POST /webhooks/<source>: verify on the raw body, parse, store in one transaction, answer."""

import logging

from flask import Blueprint, current_app, request

from bridge import ingest, queue
from bridge.errors import UnknownSourceError, answer
from connectors import CONNECTORS
from connectors.errors import IgnoredEventError, InvalidPayloadError, PingError

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
        webhook = connector.parse(raw_body, request.headers, source, click_params(runtime))
    except PingError:
        return answer(200, status="ping")
    except (IgnoredEventError, InvalidPayloadError) as error:
        return _unusable(runtime, source, error, raw_body)
    stored = ingest.store_webhook(runtime, source, webhook)
    queue.enqueue(runtime.queue_or_none(), stored.due)
    log.info("webhook source=%s event=%s topic=%s result=%s deliveries=%d", name,
             webhook.event_id, webhook.topic, "duplicate" if stored.duplicate else "accepted",
             len(stored.due))
    return answer(200, status="duplicate" if stored.duplicate else "accepted",
                  events=stored.event_ids)


def _unusable(runtime, source, error, raw_body):
    status = "invalid" if isinstance(error, InvalidPayloadError) else "ignored"
    ingest.store_unusable(runtime, source, status, error, raw_body)
    log.info("webhook source=%s event=%s topic=%s result=%s reason=%s", source.name,
             error.event_id, error.topic, status, error)
    return answer(200, status=status, reason=str(error)[:200])


def click_params(runtime) -> list[str]:
    """Every click parameter name: each network's, then the generic ones."""
    config = runtime.config
    names = [p for n in config.networks for p in n.click_params] + config.attribution.click_params
    return list(dict.fromkeys(names))
