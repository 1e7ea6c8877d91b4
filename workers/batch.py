"""The batch job: claim many due deliveries of one network in one statement, send them with a
thread pool of the network's `concurrency` (a keep-alive session per thread), record in batches.

Same guarantees as the single job (workers/delivery.py, whose pieces it reuses): each delivery is
claimed by compare-and-set in SQL, so a batch run twice sends each delivery once.
"""

import math
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from bridge import queue as queue_module
from bridge import runtime as runtime_module
from bridge.storage.models import DUE_STATUSES, SENDING, Delivery, utcnow
from workers import delivery as single
from workers import limits, templating

RECORD_EVERY_S = 0.05  # write finished attempts at least this often (end-to-end latency)
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
    sent = send_all(rt, network, ready)
    return {"claimed": len(claimed), "sent": sent}


def claim_many(rt, network, delivery_ids: list[int] | None) -> list[int]:
    """One compare-and-set for the batch: due → sending, leased for as many rounds of the
    network's concurrency as were claimed. (A claim whose worker died is the sweeper's:
    `recover_lost` records the lost attempt and makes it due again.)"""
    now, size = utcnow(), queue_module.batch_size(network)
    due = Delivery.status.in_(DUE_STATUSES) & (Delivery.next_attempt_at <= now)
    chosen = (Delivery.id.in_(delivery_ids) if delivery_ids is not None else Delivery.id.in_(
        select(Delivery.id).where(Delivery.network == network.name, due)
        .order_by(Delivery.next_attempt_at).limit(size).scalar_subquery()))
    with rt.session() as session:
        claimed = list(session.scalars(update(Delivery).where(
            chosen, Delivery.network == network.name, due)
            .values(status=SENDING, attempts=Delivery.attempts + 1).returning(Delivery.id)))
        rounds = math.ceil(len(claimed) / network.concurrency)
        lease = timedelta(seconds=single.lease_s(rt, network) * rounds)
        if claimed:
            session.execute(update(Delivery).where(Delivery.id.in_(claimed))
                            .values(lease_until=now + lease))
        return claimed


def prepare(rt, network, claimed: list[int]) -> list[tuple[int, int, object]]:
    """Render each claimed delivery's request; held or skipped ones are settled here."""
    if not claimed:
        return []
    ready = []
    with rt.session() as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(claimed))
                               .options(selectinload(Delivery.event))).all()
        for delivery in rows:
            if single._blocked(rt, session, delivery, network):
                continue
            values = templating.values_for(delivery.event, delivery, network)
            request = templating.render(network, values, delivery.kind, delivery.event.is_test)
            ready.append((delivery.id, delivery.attempts, request))
    return ready


def send_all(rt, network, ready: list) -> int:
    """Send on a pool of `concurrency` threads; record finished attempts as they come in."""
    if not ready:
        return 0
    pool, guard = pool_for(network), FailureGuard(network.breaker.failures)
    running = {pool.submit(guard.send, rt, request, network): (delivery_id, number)
               for delivery_id, number, request in ready}
    while running:
        done, _ = wait(running, timeout=RECORD_EVERY_S, return_when=FIRST_COMPLETED)
        time.sleep(0 if len(done) >= network.concurrency else RECORD_EVERY_S / 5)
        done = {f: running.pop(f) for f in list(running) if f.done()}
        record_many(rt, network, [(*ids, *f.result()) for f, ids in done.items() if f.result()])
        hand_back(rt, network, [ids for f, ids in done.items() if f.result() is None])
    return len(ready)


class FailureGuard:
    """Stops a batch after as many failures in a row as open the network's breaker, so a dead
    network is not sent the rest of a batch before the breaker's count (in SQL) catches up."""

    def __init__(self, failures: int):
        self.limit, self.failures, self.lock = failures, 0, threading.Lock()

    def send(self, rt, request, network):
        """(outcome, attempt), or None when the batch stopped before this one was sent."""
        if self.failures >= self.limit:
            return None
        outcome, attempt = send_in_slot(rt, request, network)
        with self.lock:
            failed = limits.is_failure(outcome, attempt.response_status)
            self.failures = self.failures + 1 if failed else 0
        return outcome, attempt


def hand_back(rt, network, unsent: list[tuple[int, int]]) -> None:
    """Claimed but not sent (the batch stopped): they wait for the breaker's probe, unspent."""
    if not unsent:
        return
    with rt.session() as session:
        for delivery_id, _number in unsent:
            single._wait(session.get(Delivery, delivery_id), "circuit open",
                         network.breaker.cooldown_s)


def send_in_slot(rt, request, network):
    """Send once one of the network's concurrency slots (shared by every worker) is free."""
    deadline = time.monotonic() + single.lease_s(rt, network)
    slot = limits.acquire(rt, network, single.lease_s(rt, network))
    while slot is None and time.monotonic() < deadline:
        time.sleep(limits.slot_wait_s() / 5)
        slot = limits.acquire(rt, network, single.lease_s(rt, network))
    try:
        return single.send(rt, request, network)  # no slot by the deadline: send all the same
    finally:
        limits.release(rt, network, slot)


def record_many(rt, network, finished: list[tuple]) -> None:
    """Attempt rows and next states of many deliveries in one transaction, then observe each."""
    if not finished:
        return
    failures = [limits.is_failure(outcome, attempt.response_status)
                for *_, outcome, attempt in finished]
    if any(failures):
        limits.ensure_state(rt, network.name)
    observed = []
    with rt.session() as session:
        for delivery_id, number, outcome, attempt in finished:
            attempt.delivery_id, attempt.number = delivery_id, number
            result = single.apply_outcome(rt, session, delivery_id, network, outcome, attempt)
            observed.append((delivery_id, outcome, attempt, result))
    for delivery_id, outcome, attempt, result in observed:
        single.observe(rt, delivery_id, network, outcome, *result[:2], attempt, *result[2:])
