"""POST /webhooks/<source>: verify on the raw body, keep it in the inbox, answer.

The request does the least that makes the order safe: the signature check and one INSERT (the
commit acknowledges). The inbox pass (workers/inbox.py) parses it once, and stores what it is:
events and deliveries, or an `ignored` or `invalid` event with the reason.

The endpoint is plain WSGI in front of the Flask app (installed on `app.wsgi_app`, Flask's
place for middleware), with the same answers (bridge/errors.py): a webhook needs nothing of
Flask's request machinery (contexts, URL adapter, session, hooks, response object), which cost
as much CPU as the webhook's own work. Every other path goes on to Flask."""

import json

from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_input_stream

from bridge import errors, ingest, metrics, queue, signature_failures
from bridge.exceptions import UnknownSourceError
from connectors import CONNECTORS
from connectors.errors import PingError, SignatureError

PREFIX = "/webhooks/"


class WebhookEndpoint:
    """WSGI: POST /webhooks/<name> answered here, anything else by `app` (Flask's wsgi_app)."""

    def __init__(self, app, runtime):
        self.app, self.runtime = app, runtime

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        name = path[len(PREFIX):]
        if not path.startswith(PREFIX) or not name or "/" in name:
            return self.app(environ, start_response)
        try:
            status, body, headers = *self.receive(name, environ), {}
        except Exception as error:
            status, body, headers = errors.reply_to(error)
        return respond(start_response, status, body, headers)

    def receive(self, name: str, environ) -> tuple[int, dict]:
        if environ["REQUEST_METHOD"] != "POST":
            raise MethodNotAllowed(["POST"])
        runtime = self.runtime
        source = runtime.config.source(name)
        if source is None or source.platform not in CONNECTORS:  # api sources take no webhooks
            raise UnknownSourceError(name)
        raw_body = read_body(environ, runtime.config.server.max_body_bytes)
        headers, connector = EnvironHeaders(environ), CONNECTORS[source.platform]
        try:
            connector.verify(raw_body, headers, source)
        except SignatureError:
            signature_failures.note(runtime, name)
            metrics.webhook(name, "bad_signature")
            raise
        except PingError:
            metrics.webhook(name, "ping")
            return 200, {"status": "ping"}
        inbox_id = ingest.receive(runtime, source, connector, raw_body, headers)
        if inbox_id is not None:
            queue.wake_inbox(runtime)
        if runtime.inbox_writer.crowded():
            queue.note_burst(runtime)
        result = "accepted" if inbox_id is not None else "duplicate"
        metrics.webhook(name, result)
        return 200, {"status": result, "webhook": inbox_id}


def read_body(environ, limit: int) -> bytes:
    """The raw body, or a 413 past `limit`: by its Content-Length, or once a chunked body
    reaches it (Werkzeug's stream would silently cut it there)."""
    body = get_input_stream(environ, max_content_length=limit).read()
    errors.refuse_past(limit, body, environ["wsgi.input"])
    return body


def respond(start_response, status: int, body: dict, headers: dict) -> list[bytes]:
    """A JSON answer, as Flask's would be (its JSON provider sorts the keys)."""
    data = json.dumps(body, sort_keys=True).encode()
    start_response(f"{status} {HTTP_STATUS_CODES[status]}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                    *headers.items()])
    return [data]
