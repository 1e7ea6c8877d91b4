"""The merchant backend's API (Bearer server.api_token): POST /api/clicks, /api/conversions."""

import hmac

from flask import Blueprint, current_app, request

from bridge import clickstore, offline
from bridge.errors import answer
from bridge.exceptions import InvalidInputError, UnauthorizedError
from connectors.base import load_json
from connectors.errors import InvalidPayloadError

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def require_api_token():
    expected = current_app.config["RUNTIME"].config.server.api_token
    if not expected:
        raise UnauthorizedError("server.api_token is not set: the API is off")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise UnauthorizedError("missing or wrong api token (Authorization: Bearer …)")


@bp.post("/clicks")
def add_click():
    runtime = current_app.config["RUNTIME"]
    click = clickstore.from_mapping(_body(), "api", allow_email=True)
    with runtime.session() as session:
        row = clickstore.record(session, runtime.config, click)
        expires = row.expires_at.isoformat() if row.expires_at else None
        return answer(201, status="stored", id=row.id, network=row.network, expires_at=expires)


@bp.post("/conversions")
def add_conversion():
    outcome = offline.store(current_app.config["RUNTIME"], _body())
    return answer(201 if outcome.status == "accepted" else 200, status=outcome.status,
                  events=outcome.event_ids, attribution=outcome.attribution,
                  deliveries=outcome.deliveries)


def _body() -> dict:
    """The JSON object, numbers kept exact (amounts never pass through a float)."""
    try:
        return load_json(request.get_data())
    except InvalidPayloadError as exc:
        raise InvalidInputError(str(exc)) from None
