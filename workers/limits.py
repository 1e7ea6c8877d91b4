"""Back-pressure per network: a concurrency limit that holds across worker processes (a Redis
semaphore whose slots expire), and a circuit breaker kept in SQL (network_states).

The breaker: after `breaker.failures` retryable failures in a row (timeouts, connection errors,
5xx) the network is paused with a probe time; once it has come, one delivery is let through
(half-open); its success closes the breaker, its failure opens it for another cool-down.
"""

import itertools
import logging
import queue
import random
import time
import uuid
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bridge.storage.models import DUE_STATUSES, Delivery, NetworkState, utcnow
from workers import classify

log = logging.getLogger("bridge.limits")
SLOTS_KEY = "bridge:slots:{}"
PAUSED_REASON = "network paused"  # the start of a held delivery's reason
# Drop expired slots, then take one per token given (ARGV[5]…) while fewer than the limit are
# held; how many were taken (the first tokens given).
ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local taken = math.max(0, math.min(#ARGV - 4, tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])))
for i = 5, 4 + taken do
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[i])
end
if taken > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return taken
"""


def slot_wait_s() -> float:
    """How long a delivery that found every slot taken waits (jittered so they do not herd)."""
    return random.uniform(0.5, 1.5)


def acquire(rt, network, lease_s: float) -> str | None:
    """A slot token, None when all `concurrency` slots are taken, "" when Redis is away."""
    token, now = uuid.uuid4().hex, time.time()
    try:
        taken = rt.redis.eval(ACQUIRE_SCRIPT, 1, SLOTS_KEY.format(network.name), now,
                              network.concurrency, now + lease_s, int(lease_s * 2000), token)
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


class Slots:
    """The concurrency slots one batch job holds while it sends: taken from and given back to
    Redis a few at a time (one round trip each), lent to the job's threads without one."""

    def __init__(self, rt, network, lease_s: float):
        self.rt, self.network, self.lease_s = rt, network, lease_s
        self.key, self.held, self.idle = SLOTS_KEY.format(network.name), [], queue.SimpleQueue()
        self.renew_at = 0.0

    def take(self, timeout_s: float) -> str | None:
        """A slot for one send, once one of those held is free; None if none was in time."""
        try:
            return self.idle.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def give(self, token: str) -> None:
        self.idle.put(token)

    def hold(self, wanted: int) -> None:
        """Hold `wanted` slots (at most the network's concurrency): take free ones, give back
        unused ones beyond that, and keep those held from expiring."""
        wanted = min(wanted, self.network.concurrency)
        surplus = []
        while len(self.held) - len(surplus) > wanted and not self.idle.empty():
            surplus.append(self.idle.get())
        missing = wanted - len(self.held)
        if surplus or missing > 0 or time.monotonic() > self.renew_at:
            self._exchange(surplus, max(missing, 0))

    def _exchange(self, surplus: list[str], missing: int) -> None:
        """One round trip: give back `surplus`, take up to `missing`, extend the others."""
        for token in surplus:
            self.held.remove(token)
        now, tokens = time.time(), [uuid.uuid4().hex for _ in range(missing)]
        pipe = self.rt.redis.pipeline(transaction=False)
        if any(surplus):
            pipe.zrem(self.key, *surplus)
        if any(self.held):
            pipe.zadd(self.key, {t: now + self.lease_s for t in self.held if t}, xx=True)
            pipe.pexpire(self.key, int(self.lease_s * 2000))
        pipe.eval(ACQUIRE_SCRIPT, 1, self.key, now, self.network.concurrency,
                  now + self.lease_s, int(self.lease_s * 2000), *tokens)
        try:
            taken = pipe.execute()[-1]
        except RedisError as exc:
            log.warning("concurrency slots unavailable (%s): sending without them", exc)
            taken, tokens = missing, [""] * missing
        for token in tokens[:taken]:
            self.held.append(token)
            self.idle.put(token)
        self.renew_at = time.monotonic() + self.lease_s / 4

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        """Give back every slot (a thread still sending keeps its own until it expires)."""
        self.hold(0)


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


def counted(outcome: classify.Outcome, response_status: int | None) -> bool | None:
    """How the breaker counts an attempt: True a failure, False a success, None not at all
    (the network paused itself with a 401/403/404)."""
    if is_failure(outcome, response_status):
        return True
    return None if outcome.status == classify.PAUSED else False


def count_outcomes(session, network, attempts: list[bool | None]) -> str:
    """The breaker's bookkeeping for attempts in the order they finished (`counted` of each):
    one run of failures or successes at a time; the reason when a run opened the breaker."""
    opened = ""
    for failed, run in itertools.groupby(attempts):
        if failed:
            opened = count_failure(session, network, len(list(run))) or opened
        elif failed is not None:
            count_success(session, network)
    return opened


def ensure_state(rt, name: str) -> None:
    """A network_states row to count on (another worker may create it at the same moment)."""
    try:
        with rt.session() as session:
            if session.get(NetworkState, name) is None:
                session.add(NetworkState(name=name))
    except IntegrityError:
        pass


def count_failure(session, network, failures_in_a_row: int = 1) -> str:
    """More failures in a row; the reason when they opened the breaker, else ""."""
    failures = network.breaker.failures
    session.execute(update(NetworkState).where(NetworkState.name == network.name).values(
        consecutive_failures=NetworkState.consecutive_failures + failures_in_a_row))
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


def release_if_resumed(session, name: str) -> None:
    """After a job held deliveries for a pause: if the network was resumed meanwhile, its
    release found them claimed, so they are released here (else they waited out the hold)."""
    session.flush()  # the holds first: a resume that commits after this look releases them
    if not session.scalar(select(NetworkState.paused).where(NetworkState.name == name)):
        release_held(session, name)


def release_held(session, name: str) -> int:
    """Deliveries held because the network was paused are due at once."""
    return session.execute(update(Delivery).where(
        Delivery.network == name, Delivery.status.in_(DUE_STATUSES),
        Delivery.reason.startswith(PAUSED_REASON),
    ).values(next_attempt_at=utcnow())).rowcount
