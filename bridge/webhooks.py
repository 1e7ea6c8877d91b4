"""POST /webhooks/<source>: verify on the raw body, keep it in the inbox, answer.

The request does the least that makes the order safe: the signature check and one INSERT (the
commit acknowledges). The inbox pass (workers/inbox.py) parses it once, and stores what it is:
events and deliveries, or an `ignored` or `invalid` event with the reason."""

from flask import Blueprint, current_app, request

from bridge import ingest, metrics, queue, signature_failures
from bridge.errors import UnknownSourceError, answer
from connectors import CONNECTORS
from connectors.errors import PingError, SignatureError

bp = Blueprint("webhooks", __name__)


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
    except SignatureError:
        signature_failures.note(runtime, name)
        metrics.webhook(name, "bad_signature")
        raise
    except PingError:
        metrics.webhook(name, "ping")
        return answer(200, status="ping")
    inbox_id = ingest.receive(runtime, source, connector, raw_body, request.headers)
    if inbox_id is not None:
        queue.wake_inbox(runtime)
    result = "accepted" if inbox_id is not None else "duplicate"
    metrics.webhook(name, result)
    return answer(200, status=result, webhook=inbox_id)
