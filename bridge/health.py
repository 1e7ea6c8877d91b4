"""Liveness and readiness."""

from flask import Blueprint, current_app
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import answer

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return answer(200, status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database answers; Redis is reported, not required (the sweeper catches up)."""
    runtime = current_app.config["RUNTIME"]
    database = _check(lambda: runtime.engine.connect().execute(text("select 1")).close(),
                      SQLAlchemyError)
    redis = _check(lambda: runtime.redis.ping(), (RedisError, RuntimeError))
    return answer(200 if database == "ok" else 503, database=database, redis=redis)


def _check(probe, errors) -> str:
    try:
        probe()
        return "ok"
    except errors as exc:
        return f"unavailable: {type(exc).__name__}"
