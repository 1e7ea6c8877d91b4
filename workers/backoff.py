"""When to try again: exponential with jitter, inside the network's bounds, Retry-After first."""

import random
from datetime import datetime, timedelta


def next_delay_s(attempts: int, retry, retry_after_s: float | None = None, rng=random) -> float:
    """Seconds before attempt number attempts+1."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), retry.max_delay_s)
    base = retry.first_delay_s * 2 ** max(attempts - 1, 0)
    jittered = base * rng.uniform(0.8, 1.2)
    return min(max(jittered, retry.first_delay_s), retry.max_delay_s)


def out_of_attempts(attempts: int, created_at: datetime, now: datetime, retry) -> bool:
    """Dead after max_attempts, or once the delivery is older than max_age_h."""
    return attempts >= retry.max_attempts or now - created_at > timedelta(hours=retry.max_age_h)
