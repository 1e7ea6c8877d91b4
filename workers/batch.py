"""The batch job: claim many due deliveries of one network in one statement, send them with a
thread pool of the network's `concurrency` (a keep-alive session per thread), record in batches.

Same guarantees as the single job (workers/delivery.py, whose pieces it reuses): each delivery is
claimed by compare-and-set in SQL, so a batch run twice sends each delivery once. The hot path
costs a few SQL statements and Redis round trips per batch, not per postback: the job holds
concurrency slots while it sends, and records finished attempts many at a time.
"""

import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import selectinload

from bridge import queue as queue_module
from bridge import runtime as runtime_module
from bridge.storage.models import (DELIVERED, DUE_STATUSES, REJECTED, SENDING, Attempt, Delivery,
                                   NetworkState, utcnow)
from workers import classify, limits, templating
from workers import delivery as single

RECORD_EVERY_S = 0.05  # write finished attempts at least this often (end-to-end latency)
SETTLED = {classify.DELIVERED: DELIVERED, classify.DUPLICATE: DELIVERED,
           classify.REJECTED: REJECTED}  # answers that end a delivery, recorded in bulk
CIRCUIT_OPEN, NO_SLOT = "circuit open", "every concurrency slot is busy"
ATTEMPT_COLUMNS = [column.key for column in Attempt.__table__.columns if column.key != "id"]
_pools: dict[tuple[str, int], ThreadPoolExecutor] = {}


def pool_for(network) -> ThreadPoolExecutor:
    """One long-lived pool per network: its threads keep their keep-alive sessions across jobs."""
    key = (network.name, network.concurrency)
    if key not in _pools:
        _pools[key] = ThreadPoolExecutor(network.concurrency, f"postback-{network.name}")
    return _pools[key]


def deliver_batch(network_name: str, delivery_ids: list[int] | None = None) -> dict:
    """Send the given deliveries, or (None) every due delivery of the network up to a batch."""
    rt = runtime_module.current()
    network = rt.config.network(network_name)
    if network is None:
        return {"single": [single.deliver(i) for i in delivery_ids or []]}
    if delivery_ids is None:
        queue_module.clear_wake(rt.redis, network_name)  # before the claim: no webhook is missed
    claimed = claim_many(rt, network, delivery_ids)
    if delivery_ids is None and len(claimed) == queue_module.batch_size(network):
        queue_module.wake(rt.queue, [network_name])  # more are due: the next job takes them
    ready = prepare(rt, network, claimed)
    refill = None
    if delivery_ids is None:  # "send what is due": what falls due meanwhile joins the run
        def refill():
            return prepare(rt, network, claim_many(rt, network, None))
    sent = send_all(rt, network, ready, refill)
    return {"claimed": len(claimed), "sent": sent}


def claim_many(rt, network, delivery_ids: list[int] | None) -> list[int]:
    """One compare-and-set for the batch: due → sending, leased for one send's time (the job
    extends the lease while it runs). A claim whose worker died is the sweeper's once the
    lease is over: `recover_lost` records the lost attempt and makes it due again."""
    now, size = utcnow(), queue_module.batch_size(network)
    due = Delivery.status.in_(DUE_STATUSES) & (Delivery.next_attempt_at <= now)
    chosen = (Delivery.id.in_(delivery_ids) if delivery_ids is not None else Delivery.id.in_(
        select(Delivery.id).where(Delivery.network == network.name, due)
        .order_by(Delivery.next_attempt_at).limit(size).scalar_subquery()))
    lease = timedelta(seconds=single.lease_s(rt, network))
    with rt.session() as session:
        return list(session.scalars(update(Delivery).where(
            chosen, Delivery.network == network.name, due)
            .values(status=SENDING, attempts=Delivery.attempts + 1, lease_until=now + lease)
            .returning(Delivery.id)))


def prepare(rt, network, claimed: list[int]) -> list[tuple[int, int, object]]:
    """Render each claimed delivery's request; held or skipped ones are settled here."""
    if not claimed:
        return []
    ready = []
    with rt.session() as session:
        state = session.get(NetworkState, network.name)  # paused: each delivery asks (probes)
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(claimed))
                               .options(selectinload(Delivery.event))).all()
        for delivery in rows:
            if single._blocked(rt, session, delivery, network, bool(state and state.paused)):
                continue
            values = templating.values_for(delivery.event, delivery, network)
            request = templating.render(network, values, delivery.kind, delivery.event.is_test)
            ready.append((delivery.id, delivery.attempts, request))
        if state and state.paused and any(
                d.reason.startswith(limits.PAUSED_REASON) for d in rows if d.status != SENDING):
            limits.release_if_resumed(session, network.name)
    return ready


def send_all(rt, network, ready: list, refill=None) -> int:
    """Send on the network's pool, as many at once as the job holds concurrency slots (shared
    by every worker); record finished attempts as they come in. With `refill`, deliveries that
    fall due while the run lasts join it (a slow network must not hold them to the next job)."""
    if not ready:
        return 0
    lease_s, finished, sent = single.lease_s(rt, network), queue.SimpleQueue(), len(ready)
    with limits.Slots(rt, network, lease_s) as slots:
        running = submit_all(rt, network, ready, slots, finished)
        renew_at = time.monotonic() + lease_s / 2
        while running:
            if refill and len(running) < network.concurrency:
                more = refill()
                running.update(submit_all(rt, network, more, slots, finished))
                sent += len(more)
            slots.hold(len(running))
            done = [(running.pop(f), f.result()) for f in collect(finished, len(running))]
            record_many(rt, network, [(*ids, *result) for ids, result in done
                                      if isinstance(result, tuple)])
            hand_back(rt, network, [(ids[0], result) for ids, result in done
                                    if isinstance(result, str)])
            if running and time.monotonic() > renew_at:
                renew_at = extend_claims(rt, [i for i, _ in running.values()], lease_s)
    return sent


def submit_all(rt, network, ready: list, slots, finished: queue.SimpleQueue) -> dict:
    """Queue every send on the network's pool: {future: (delivery id, attempt number)}; each
    future is put in `finished` when it is done."""
    guard, pool, running = FailureGuard(network.breaker.failures), pool_for(network), {}
    for delivery_id, number, request in ready:
        future = pool.submit(send_in_slot, rt, request, network, slots, guard)
        running[future] = (delivery_id, number)
        future.add_done_callback(finished.put)
    return running


def collect(finished: queue.SimpleQueue, running: int) -> list:
    """The futures that finish within RECORD_EVERY_S (so one transaction records many)."""
    deadline, done = time.monotonic() + RECORD_EVERY_S, []
    while len(done) < running:
        try:
            done.append(finished.get(timeout=max(deadline - time.monotonic(), 0)))
        except queue.Empty:
            break
    return done


def extend_claims(rt, delivery_ids: list[int], lease_s: float) -> float:
    """A batch that outlasts half its lease (a slow network, few free slots) keeps its claims;
    when to extend them again."""
    with rt.session() as session:
        session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids),
                                               Delivery.status == SENDING)
                        .values(lease_until=utcnow() + timedelta(seconds=lease_s))
                        .execution_options(synchronize_session=False))
    return time.monotonic() + lease_s / 2


class FailureGuard:
    """Stops a batch after as many failures in a row as open the network's breaker, so a dead
    network is not sent the rest of a batch before the breaker's count (in SQL) catches up."""

    def __init__(self, failures: int):
        self.limit, self.failures, self.lock = failures, 0, threading.Lock()

    def stopped(self) -> bool:
        return self.failures >= self.limit

    def count(self, outcome, attempt) -> None:
        with self.lock:
            failed = limits.is_failure(outcome, attempt.response_status)
            self.failures = self.failures + 1 if failed else 0


def send_in_slot(rt, request, network, slots: limits.Slots, guard: FailureGuard):
    """(outcome, attempt), once one of the job's slots is free; or why it was not sent."""
    slot = None if guard.stopped() else slots.take(slots.lease_s)
    if slot is None:
        return CIRCUIT_OPEN if guard.stopped() else NO_SLOT
    try:
        outcome, attempt = single.send(rt, request, network)
    finally:
        slots.give(slot)
    guard.count(outcome, attempt)
    return outcome, attempt


def hand_back(rt, network, unsent: list[tuple[int, str]]) -> None:
    """Claimed but not sent (the batch stopped, or no slot came): they wait, unspent."""
    if not unsent:
        return
    with rt.session() as session:
        for delivery_id, reason in unsent:
            wait_s = network.breaker.cooldown_s if reason == CIRCUIT_OPEN else limits.slot_wait_s()
            single._wait(session.get(Delivery, delivery_id), reason, wait_s)


def record_many(rt, network, finished: list[tuple]) -> None:
    """Attempt rows, the breaker's count and the next states of many deliveries in one
    transaction, then the log line and metrics of each."""
    if not finished:
        return
    counts = [limits.counted(outcome, attempt.response_status)
              for *_, outcome, attempt in finished]
    if any(counts):
        limits.ensure_state(rt, network.name)
    with rt.session() as session:
        session.execute(insert(Attempt), [attempt_row(*row) for row in finished])
        opened = limits.count_outcomes(session, network, counts)
        states, released = next_states(rt, session, network,
                                       [(delivery_id, outcome) for delivery_id, _, outcome, _
                                        in finished])
    for delivery_id, _number, outcome, attempt in finished:
        single.observe(rt, delivery_id, network, outcome, *states[delivery_id], attempt)
    single.after_commit(rt, network, opened, released)


def attempt_row(delivery_id: int, number: int, _outcome, attempt: Attempt) -> dict:
    """The attempt's row to insert (its delivery and number are set on it for the log line)."""
    attempt.delivery_id, attempt.number = delivery_id, number
    return {key: getattr(attempt, key) for key in ATTEMPT_COLUMNS}


def next_states(rt, session, network, outcomes: list[tuple[int, classify.Outcome]]):
    """Delivered and rejected deliveries in bulk, retries and pauses one by one; their
    {id: (status, reason)} and the number of refunds released."""
    states, released = settle(rt, session, [(i, o) for i, o in outcomes if o.status in SETTLED])
    for delivery_id, outcome in outcomes:
        if delivery_id not in states:
            status, reason, freed = single.next_state(rt, session, delivery_id, network, outcome)
            states[delivery_id], released = (status, reason), released + freed
    return states, released


def settle(rt, session, settled: list[tuple[int, classify.Outcome]]) -> tuple[dict, int]:
    """Delivered and rejected deliveries, one UPDATE per (status, reason); as next_states."""
    groups, now = defaultdict(list), utcnow()
    for delivery_id, outcome in settled:
        groups[SETTLED[outcome.status], rt.mask(outcome.reason)].append(delivery_id)
    for (status, reason), ids in groups.items():
        delivered = {"delivered_at": now} if status == DELIVERED else {}
        session.execute(update(Delivery).where(Delivery.id.in_(ids))
                        .values(status=status, reason=reason, lease_until=None, **delivered)
                        .execution_options(synchronize_session=False))
    sales = [i for (status, _), ids in groups.items() if status == DELIVERED for i in ids]
    released = single.release_dependents(session, sales) if sales else 0
    states = {i: key for key, ids in groups.items() for i in ids}
    return states, released
