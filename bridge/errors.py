"""The one table from error to HTTP answer (DESIGN: "Answers to the store"), used by the Flask
app's error handlers and by the webhook endpoint, which answers without Flask
(bridge/webhooks.py)."""

import logging
import uuid

from flask import current_app, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bridge.exceptions import (InvalidInputError, RateLimitedError, UnauthorizedError,
                               UnknownSourceError)
from connectors.errors import SignatureError

log = logging.getLogger("bridge.web")
RETRY_AFTER_S = "30"


def answer(code: int, **body):
    """A JSON answer: the app's JSON straight into its response class (jsonify's checks and
    pretty-printing switch cost three times as much)."""
    return current_app.response_class(current_app.json.dumps(body), code,
                                      mimetype="application/json")


def _bad_signature(error: SignatureError):
    log.info("webhook result=bad_signature reason=%r", str(error)[:200])
    return 401, {"error": "invalid signature", "detail": str(error)[:200]}, {}


def _database_down(error):
    log.error("database unavailable: %s", type(error).__name__)
    return 503, {"error": "database unavailable, retry later"}, {"Retry-After": RETRY_AFTER_S}


def _unexpected(error):
    incident = uuid.uuid4().hex[:12]
    log.exception("unexpected error, incident %s", incident)
    return 500, {"error": "internal error", "incident": incident}, {}


# (error class, its answer: (status, JSON body, extra headers)), the more specific first.
REPLIES = (
    (UnknownSourceError, lambda e: (404, {"error": "unknown source"}, {})),
    (SignatureError, _bad_signature),
    (RequestEntityTooLarge, lambda e: (413, {"error": "body too large"}, {})),
    (InvalidInputError, lambda e: (400, {"error": str(e)}, {})),
    (UnauthorizedError, lambda e: (401, {"error": str(e)}, {})),
    (RateLimitedError,
     lambda e: (429, {"error": "too many requests, slow down"}, {"Retry-After": "60"})),
    (DBAPIError, _database_down),  # OperationalError too: connection refused, lock timeout
    (HTTPException, lambda e: (e.code, {"error": e.name.lower()}, {})),
    (Exception, _unexpected),
)


def reply_to(error: Exception) -> tuple[int, dict, dict]:
    """The answer to an error, as Flask's handlers would choose it. Call it in the `except`
    block: an unexpected error is logged with its traceback."""
    return next(reply(error) for kind, reply in REPLIES if isinstance(error, kind))


def register(app) -> None:
    """Install the answers on the app: no error ever leaves as an HTML page or a traceback."""
    for kind, reply in REPLIES:
        app.register_error_handler(kind, lambda error, reply=reply: _as_response(*reply(error)))
    app.before_request(refuse_oversize_stream)


def _as_response(code: int, body: dict, headers: dict):
    response = answer(code, **body)
    response.headers.update(headers)
    return response


def refuse_oversize_stream() -> None:
    """A chunked body past MAX_CONTENT_LENGTH is a 413 (Werkzeug would silently cut it there)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if not limit or "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return
    refuse_past(limit, request.get_data(cache=True), request.input_stream)


def refuse_past(limit: int, body: bytes, stream) -> None:
    """A 413 when a body read up to `limit` still has more to read."""
    if len(body) >= limit and stream.read(1):
        raise RequestEntityTooLarge()
