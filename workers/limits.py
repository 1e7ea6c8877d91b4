"""Back-pressure per network: a concurrency limit that holds across worker processes (a Redis
semaphore whose slots expire), and a circuit breaker kept in SQL (network_states).

The breaker: after `breaker.failures` retryable failures in a row (timeouts, connection errors,
5xx) the network is paused with a probe time; once it has come, one delivery is let through
(half-open); its success closes the breaker, its failure opens it for another cool-down.
"""

import logging
import random
import time
import uuid
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from bridge.storage.models import DUE_STATUSES, Delivery, NetworkState, utcnow
from workers import classify

log = logging.getLogger("bridge.limits")
SLOTS_KEY = "bridge:slots:{}"
PAUSED_REASON = "network paused"  # the start of a held delivery's reason
# Drop expired slots, take one if fewer than the limit are held; 1 when taken.
ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


def slot_wait_s() -> float:
    """How long a delivery that found every slot taken waits (jittered so they do not herd)."""
    return random.uniform(0.5, 1.5)


def acquire(rt, network, lease_s: float) -> str | None:
    """A slot token, None when all `concurrency` slots are taken, "" when Redis is away."""
    token, now = uuid.uuid4().hex, time.time()
    try:
        taken = rt.redis.eval(ACQUIRE_SCRIPT, 1, SLOTS_KEY.format(network.name), now,
                              network.concurrency, now + lease_s, token, int(lease_s * 2000))
    except RedisError as exc:
        # The job came from Redis a moment ago; sending without a slot beats not sending.
        log.warning("concurrency slot unavailable (%s): sending without one", exc)
        return ""
    return token if taken == 1 else None


def release(rt, network, token: str) -> None:
    if not token:
        return
    try:
        rt.redis.zrem(SLOTS_KEY.format(network.name), token)
    except RedisError as exc:
        log.warning("could not release a concurrency slot (%s); it expires by itself", exc)


def admits(session, network) -> tuple[str, float]:
    """("", 0) when the network may be sent to now; else (why not, seconds to hold)."""
    state = session.get(NetworkState, network.name)
    if state is None or not state.paused:
        return "", 0
    if state.probe_at is None:
        return f"{PAUSED_REASON}: {state.reason}", 30
    now = utcnow()
    probe = session.execute(update(NetworkState).where(
        NetworkState.name == network.name, NetworkState.paused.is_(True),
        NetworkState.probe_at <= now,
    ).values(probe_at=now + timedelta(seconds=network.breaker.cooldown_s)))
    if probe.rowcount == 1:
        log.info("circuit half-open network=%s: sending one probe", network.name)
        return "", 0
    wait = (state.probe_at - now).total_seconds() if state.probe_at > now else 0
    return f"{PAUSED_REASON}: {state.reason}", max(wait, network.breaker.cooldown_s / 2, 0.5)


def is_failure(outcome: classify.Outcome, response_status: int | None) -> bool:
    """What the breaker counts: no answer at all, or a 5xx."""
    return outcome.status == classify.RETRYING and (response_status is None
                                                    or response_status >= 500)


def ensure_state(rt, name: str) -> None:
    """A network_states row to count on (another worker may create it at the same moment)."""
    try:
        with rt.session() as session:
            if session.get(NetworkState, name) is None:
                session.add(NetworkState(name=name))
    except IntegrityError:
        pass


def count_failure(session, network) -> str:
    """One more failure in a row; the reason when this one opened the breaker, else ""."""
    failures = network.breaker.failures
    session.execute(update(NetworkState).where(NetworkState.name == network.name)
                    .values(consecutive_failures=NetworkState.consecutive_failures + 1))
    reason = f"circuit open after {failures} failures in a row; probing again"
    opened = session.execute(update(NetworkState).where(
        NetworkState.name == network.name, NetworkState.paused.is_(False),
        NetworkState.consecutive_failures >= failures,
    ).values(paused=True, reason=reason,
             probe_at=utcnow() + timedelta(seconds=network.breaker.cooldown_s)))
    if opened.rowcount == 1:
        log.warning("circuit open network=%s after %d failures", network.name, failures)
        return reason
    return ""


def count_success(session, network) -> None:
    """The network answered: the count starts again, and an open breaker closes."""
    closed = session.execute(update(NetworkState).where(
        NetworkState.name == network.name, NetworkState.probe_at.is_not(None),
    ).values(paused=False, reason="", probe_at=None, consecutive_failures=0))
    session.execute(update(NetworkState).where(
        NetworkState.name == network.name, NetworkState.consecutive_failures > 0,
    ).values(consecutive_failures=0))
    if closed.rowcount == 1:
        log.info("circuit closed network=%s", network.name)
        release_held(session, network.name)


def release_held(session, name: str) -> int:
    """Deliveries held because the network was paused are due at once."""
    return session.execute(update(Delivery).where(
        Delivery.network == name, Delivery.status.in_(DUE_STATUSES),
        Delivery.reason.startswith(PAUSED_REASON),
    ).values(next_attempt_at=utcnow())).rowcount
