"""The RQ job: claim a delivery in SQL, send its postback, record the attempt, decide what next."""

import logging
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from sqlalchemy import or_, update

from bridge import alerts, metrics
from bridge import queue as queue_module
from bridge import runtime as runtime_module
from bridge.storage.models import (DEAD, DELIVERED, DUE_STATUSES, PENDING, REJECTED, RETRYING,
                                   SENDING, SKIPPED, Attempt, Delivery, NetworkState, utcnow)
from workers import backoff, classify, limits, templating

log = logging.getLogger("bridge.delivery")
EXCERPT_CHARS = 500
HOLD_S = 30  # how long a refund waits between looks at its sale's delivery
_local = threading.local()


def deliver(delivery_id: int) -> str:
    """Send one delivery if it is still due; safe to run twice (the SQL claim decides)."""
    rt = runtime_module.current()
    network_name = claim(rt, delivery_id)
    if network_name is None:
        return "not claimed"
    network = rt.config.network(network_name)
    with rt.session() as session:
        delivery = session.get(Delivery, delivery_id)
        blocked = _blocked(rt, session, delivery, network)
        slot = "" if blocked else limits.acquire(rt, network, lease_s(rt, network))
        if slot is None:
            _wait(delivery, "every concurrency slot is busy", limits.slot_wait_s())
            return "held"
        if blocked:
            return blocked
        values = templating.values_for(delivery.event, delivery, network)
        request = templating.render(network, values, delivery.kind, delivery.event.is_test)
        number = delivery.attempts
    try:
        outcome, attempt = send(rt, request, network)
    finally:
        limits.release(rt, network, slot)
    attempt.delivery_id, attempt.number = delivery_id, number
    _record(rt, delivery_id, network, outcome, attempt)
    return outcome.status


def lease_s(rt, network) -> float:
    """How long a claim (and a concurrency slot) lasts before another worker may take over."""
    return (network.timeout_s if network else 10) * 2 + rt.config.worker.lease_margin_s


def claim(rt, delivery_id: int) -> str | None:
    """Compare-and-set: due (or sending with an expired lease) → sending. The network, or None."""
    now = utcnow()
    with rt.session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return None
        taken_over = delivery.status == SENDING
        lease = timedelta(seconds=lease_s(rt, rt.config.network(delivery.network)))
        result = session.execute(update(Delivery).where(
            Delivery.id == delivery_id,
            or_(Delivery.status.in_(DUE_STATUSES) & (Delivery.next_attempt_at <= now),
                (Delivery.status == SENDING) & (Delivery.lease_until < now)),
        ).values(status=SENDING, lease_until=now + lease, attempts=Delivery.attempts + 1))
        if result.rowcount != 1:
            return None
        if taken_over:
            session.add(lost_attempt(delivery_id, delivery.attempts, now))
        return delivery.network


def lost_attempt(delivery_id: int, number: int, now) -> Attempt:
    """The attempt of a worker that died mid-request: sent or not, nobody saw the answer."""
    return Attempt(delivery_id=delivery_id, number=number, started_at=now, outcome=RETRYING,
                   error="no answer recorded: the worker stopped mid-attempt (lease expired)")


def _blocked(rt, session, delivery: Delivery, network, check_pause: bool = True) -> str:
    """Reasons not to send now: network gone or paused, or a refund whose sale is not delivered.
    (`check_pause=False`: the caller saw the network unpaused a moment ago.)"""
    if network is None:
        _finish(delivery, SKIPPED, "network no longer configured")
        return SKIPPED
    sale = delivery.depends_on_id and session.get(Delivery, delivery.depends_on_id)
    if sale and sale.status in (DEAD, REJECTED, SKIPPED):
        _finish(delivery, SKIPPED, f"sale never delivered ({sale.status})")
        return SKIPPED
    if sale and sale.status != DELIVERED:
        _wait(delivery, "waiting for the sale's delivery", HOLD_S)
        return "held"
    paused, hold_s = limits.admits(session, network) if check_pause else ("", 0)
    if paused:
        _wait(delivery, paused, hold_s)
        return "held"
    return ""


def _finish(delivery: Delivery, status: str, reason: str) -> None:
    delivery.status, delivery.reason, delivery.lease_until = status, reason, None
    delivery.attempts -= 1  # nothing was sent


def _wait(delivery: Delivery, reason: str, seconds: float) -> None:
    _finish(delivery, PENDING if delivery.attempts <= 1 else RETRYING, reason)
    delivery.next_attempt_at = utcnow() + timedelta(seconds=seconds)


def _session() -> requests.Session:
    """One pooled HTTP session per worker thread (keep-alive connections reused). It does not
    read the environment on every request (a third of requests' cost): see _environment."""
    if not hasattr(_local, "http"):
        _local.http = requests.Session()
        _local.http.trust_env = False
    return _local.http


def _environment(url: str) -> dict:
    """What requests takes from the environment for this URL's host (proxies and no_proxy,
    REQUESTS_CA_BUNDLE), read once per host and thread."""
    known, host = _local.__dict__.setdefault("environment", {}), urlsplit(url)[:2]
    if host not in known:
        known[host] = requests.Session().merge_environment_settings(url, {}, None, None, None)
    return known[host]


def _text(response: requests.Response) -> str:
    """The body as text in its declared charset, else UTF-8 (not guessed: guessing costs more
    than the request)."""
    try:
        return response.content.decode(response.encoding or "utf-8", "replace")
    except LookupError:
        return response.content.decode("utf-8", "replace")


def send(rt, request, network) -> tuple[classify.Outcome, Attempt]:
    """Send one request; the outcome and its attempt row (every column set, ready to insert)."""
    attempt = Attempt(method=request.method, url=rt.mask(request.url), started_at=utcnow(),
                      headers={k: rt.mask(v) for k, v in request.headers.items()},
                      body=rt.mask((request.body or b"").decode("utf-8", "replace")),
                      response_status=None, response_excerpt="", error="")
    started = time.perf_counter()
    try:
        response = _session().request(
            request.method, request.url, headers=request.headers, data=request.body,
            timeout=(queue_module.CONNECT_TIMEOUT_S, network.timeout_s),
            **_environment(request.url))
    except requests.RequestException as error:
        outcome = classify.classify_error(error)
        attempt.error = rt.mask(outcome.reason)
    else:
        body = _text(response)[:EXCERPT_CHARS * 4]
        outcome = classify.classify(response.status_code, body, response.headers,
                                    network.classifier)
        attempt.response_status = response.status_code
        attempt.response_excerpt = rt.mask(body[:EXCERPT_CHARS])
    attempt.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    attempt.outcome = outcome.status
    return outcome, attempt


def _record(rt, delivery_id: int, network, outcome: classify.Outcome, attempt: Attempt) -> None:
    """The attempt row, the breaker's count and the delivery's next state, in one transaction."""
    counted = limits.counted(outcome, attempt.response_status)
    if counted:
        limits.ensure_state(rt, network.name)
    with rt.session() as session:
        session.add(attempt)
        opened = limits.count_outcomes(session, network, [counted])
        status, reason, released = next_state(rt, session, delivery_id, network, outcome)
    observe(rt, delivery_id, network, outcome, status, reason, attempt)
    after_commit(rt, network, opened, released)


def observe(rt, delivery_id: int, network, outcome, status: str, reason: str, attempt) -> None:
    """The log line, metrics and alerts of one recorded attempt (after its commit: they must
    not hold or break the transaction)."""
    log.info("attempt delivery=%s network=%s number=%s outcome=%s status=%s latency_ms=%s "
             "delivery_status=%s", delivery_id, network.name, attempt.number, outcome.status,
             attempt.response_status, attempt.latency_ms, status)
    metrics.attempt(network.name, classify.PAUSED if outcome.status == classify.PAUSED
                    else status, attempt.latency_ms)
    if status == DEAD:
        alerts.delivery_dead(rt, delivery_id, network.name, reason)
    elif outcome.status == classify.PAUSED:
        alerts.network_paused(rt, network.name, outcome.reason)


def after_commit(rt, network, opened: str, released: int) -> None:
    """Refunds released by delivered sales are woken; a breaker that opened is alerted."""
    if released:
        queue_module.wake(rt.queue_or_none(), [network.name])
    if opened:
        alerts.network_paused(rt, network.name, opened)


def next_state(rt, session, delivery_id: int, network, outcome):
    """Move the delivery to its next state after an attempt; (status, reason, refunds
    released)."""
    delivery = session.get(Delivery, delivery_id)
    delivery.lease_until, delivery.reason = None, rt.mask(outcome.reason)
    released = 0
    if outcome.status in (classify.DELIVERED, classify.DUPLICATE):
        delivery.status, delivery.delivered_at = DELIVERED, utcnow()
        released = release_dependents(session, [delivery_id])
    elif outcome.status == classify.REJECTED:
        delivery.status = REJECTED
    elif outcome.status == classify.PAUSED:
        _pause(session, network.name, outcome.reason)
        delivery.status = RETRYING
        delivery.next_attempt_at = utcnow() + timedelta(seconds=network.retry.first_delay_s)
    else:
        _schedule_retry(delivery, network, outcome)
    return delivery.status, delivery.reason, released


def release_dependents(session, sale_ids: list[int]) -> int:
    """Refunds held for these sales are due now, not at the end of their hold."""
    result = session.execute(update(Delivery).where(
        Delivery.depends_on_id.in_(sale_ids), Delivery.status.in_(DUE_STATUSES))
        .values(next_attempt_at=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def _schedule_retry(delivery: Delivery, network, outcome: classify.Outcome) -> None:
    now = utcnow()
    made = delivery.attempts - delivery.round_base
    if backoff.out_of_attempts(made, delivery.round_started_at, now, network.retry):
        delivery.status = DEAD
        delivery.reason = f"gave up after {delivery.attempts} attempts: {delivery.reason}"
        return
    delay = backoff.next_delay_s(made, network.retry, outcome.retry_after_s)
    delivery.status, delivery.next_attempt_at = RETRYING, now + timedelta(seconds=delay)


def _pause(session, name: str, reason: str) -> None:
    state = session.get(NetworkState, name) or NetworkState(name=name)
    state.paused, state.reason, state.probe_at = True, reason, None  # a human must resume it
    session.add(state)
    log.warning("network paused network=%s reason=%r", name, reason)
