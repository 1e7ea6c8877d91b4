"""The one table from error to HTTP answer (DESIGN: "Answers to the store")."""

import logging
import uuid

from flask import current_app, request
from sqlalchemy.exc import DBAPIError, OperationalError
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


def register(app) -> None:
    """Install the answers on the app: no error ever leaves as an HTML page or a traceback."""
    app.register_error_handler(UnknownSourceError, lambda e: answer(404, error="unknown source"))
    app.register_error_handler(SignatureError, _bad_signature)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(InvalidInputError, lambda e: answer(400, error=str(e)))
    app.register_error_handler(UnauthorizedError, lambda e: answer(401, error=str(e)))
    app.register_error_handler(RateLimitedError, _rate_limited)
    app.register_error_handler(OperationalError, _database_down)
    app.register_error_handler(DBAPIError, _database_down)
    app.register_error_handler(HTTPException, lambda e: answer(e.code, error=e.name.lower()))
    app.register_error_handler(Exception, _unexpected)
    app.before_request(refuse_oversize_stream)


def refuse_oversize_stream() -> None:
    """A chunked body past MAX_CONTENT_LENGTH is a 413 (Werkzeug would silently cut it there)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if not limit or "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return
    if len(request.get_data(cache=True)) >= limit and request.input_stream.read(1):
        raise RequestEntityTooLarge()


def _bad_signature(error: SignatureError):
    log.info("webhook result=bad_signature reason=%r", str(error)[:200])
    return answer(401, error="invalid signature", detail=str(error)[:200])


def _too_large(_error):
    return answer(413, error="body too large")


def _rate_limited(_error):
    response = answer(429, error="too many requests, slow down")
    response.headers["Retry-After"] = "60"
    return response


def _database_down(error):
    log.error("database unavailable: %s", type(error).__name__)
    response = answer(503, error="database unavailable, retry later")
    response.headers["Retry-After"] = RETRY_AFTER_S
    return response


def _unexpected(error):
    incident = uuid.uuid4().hex[:12]
    log.exception("unexpected error, incident %s", incident)
    return answer(500, error="internal error", incident=incident)
