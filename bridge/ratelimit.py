"""Per-address request limits on the public capture endpoints, counted in Redis."""

import logging
import time

from redis.exceptions import RedisError

from bridge.exceptions import RateLimitedError

log = logging.getLogger("bridge.ratelimit")


def check(runtime, bucket: str, address: str) -> None:
    """RateLimitedError past attribution.rate_limit_per_minute; no Redis, no limit (fail open)."""
    limit = runtime.config.attribution.rate_limit_per_minute
    if not limit or not runtime.redis_url:
        return
    key = f"bridge:ratelimit:{bucket}:{address}:{int(time.time() // 60)}"
    try:
        pipe = runtime.redis.pipeline()
        count, _ = pipe.incr(key).expire(key, 120).execute()
    except RedisError as exc:
        # Losing a click costs the merchant money; a flood is only noise in the clicks table.
        log.warning("rate limit not checked, Redis unavailable: %s", exc)
        return
    if count > limit:
        raise RateLimitedError()
