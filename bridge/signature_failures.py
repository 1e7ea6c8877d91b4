"""Signature failures (401s) per source, counted in Redis: one small hash per day, kept 8 days.

Nothing of a rejected webhook is stored in SQL (an unsigned request must not be able to fill the
database), so the count lives in Redis, where an INCR costs nothing and old days expire by TTL.
"""

from datetime import timedelta

from redis.exceptions import RedisError

from bridge.storage.models import utcnow

KEY = "bridge:signature-failures:{day}"
DAYS = 7


def note(rt, source: str) -> None:
    """Count one failure for a source today (best effort: a Redis outage loses the count)."""
    key = KEY.format(day=utcnow().strftime("%Y%m%d"))
    try:
        with rt.redis.pipeline() as pipe:
            pipe.hincrby(key, source, 1).expire(key, timedelta(days=DAYS + 1)).execute()
    except (RedisError, RuntimeError):
        pass


def counts(rt) -> dict[str, int] | None:
    """Failures per source over the last DAYS days; None when Redis cannot say."""
    today = utcnow()
    keys = [KEY.format(day=(today - timedelta(days=n)).strftime("%Y%m%d")) for n in range(DAYS)]
    try:
        with rt.redis.pipeline() as pipe:
            for key in keys:
                pipe.hgetall(key)
            days = pipe.execute()
    except (RedisError, RuntimeError):
        return None
    totals: dict[str, int] = {}
    for day in days:
        for source, count in day.items():
            totals[source.decode()] = totals.get(source.decode(), 0) + int(count)
    return totals
