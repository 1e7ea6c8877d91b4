"""Putting due deliveries on the RQ queue. Best effort: SQL is the truth, the sweeper catches up.

Jobs carry a batch of one network's deliveries (workers/batch.py). A webhook does not enqueue a
job per delivery: it wakes its network, which enqueues one "send what is due" job unless one is
already waiting, so a burst of webhooks becomes a few large batches instead of many tiny jobs.
"""

import hashlib
import logging
import time
import uuid
from datetime import timedelta

from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from bridge.storage.models import SENDING, Delivery

log = logging.getLogger("bridge.queue")
JOB_FUNCTION = "workers.delivery.deliver"
BATCH_FUNCTION = "workers.batch.deliver_batch"
INBOX_WAKE_KEY = "bridge:inbox-woken"  # set while a wake-up waits for an inbox thread
INBOX_WAKE_LIST = "bridge:inbox-wake"  # the worker processes' inbox threads block on it
INBOX_LINGER_S = 0.01  # saves the web tier a Redis round trip per webhook under load
_inbox_asked_at = -INBOX_LINGER_S
BURST_KEY = "bridge:inbox:burst"  # set while a web process's commits are crowded
BURST_NOTE_EVERY_S = 0.1
BURST_TTL_MS = 300
_burst_noted_at = -BURST_NOTE_EVERY_S
JOB_TIMEOUT_S = 180
BATCH_TIMEOUT_S = JOB_TIMEOUT_S * 4
QUEUE_LEASE = timedelta(seconds=60)  # the sweeper leaves an enqueued delivery alone this long
WAKE_KEY = "bridge:due-job:{}"  # set while a "send what is due" job waits for a worker
WAKE_TTL_S = 60  # a lost job cannot silence a network longer than this (the sweeper covers it)
# Long batches keep a network's slots busy: every batch starts with all its sends at once, and
# the pool's threads only drift apart (and stop queueing for the same CPU) a few rounds later.
ROUNDS_PER_BATCH = 16
CONNECT_TIMEOUT_S = 5


def job_id(delivery_id: int, attempts: int) -> str:
    """Delivery id plus the attempt it will make: a retry or replay is a new job."""
    return f"delivery-{delivery_id}-{attempts + 1}"


def batch_size(network) -> int:
    """Deliveries per batch job: rounds of the network's concurrency, as many as fit in the
    job's timeout even if every send takes its full timeout."""
    worst_round_s = network.timeout_s + CONNECT_TIMEOUT_S
    rounds = max(1, min(ROUNDS_PER_BATCH, int(BATCH_TIMEOUT_S * 0.8 // worst_round_s)))
    return min(500, max(16, network.concurrency * rounds))


def enqueue(queue: Queue | None, due: list[tuple[int, int]]) -> int:
    """Enqueue (delivery id, attempts) pairs as single jobs in one round trip; 0 without Redis."""
    if not due or queue is None:
        return 0
    jobs = [Queue.prepare_data(JOB_FUNCTION, args=(delivery_id,),
                               job_id=job_id(delivery_id, attempts), timeout=JOB_TIMEOUT_S,
                               result_ttl=600, failure_ttl=7 * 86400)
            for delivery_id, attempts in due]
    return _enqueue_many(queue, jobs, len(due))


def enqueue_batches(queue: Queue | None, due: list[tuple[int, int, str]], sizes: dict) -> int:
    """Enqueue (delivery id, attempts, network) rows as batch jobs, one network per job."""
    if not due or queue is None:
        return 0
    by_network: dict[str, list[tuple[int, int]]] = {}
    for delivery_id, attempts, network in due:
        by_network.setdefault(network, []).append((delivery_id, attempts))
    jobs = []
    for network, rows in by_network.items():
        size = sizes.get(network, 100)
        jobs += [_batch_job(network, rows[i:i + size]) for i in range(0, len(rows), size)]
    return _enqueue_many(queue, jobs, len(due))


def _batch_job(network: str, rows: list[tuple[int, int]]):
    digest = hashlib.sha1(repr(rows).encode()).hexdigest()[:16]
    return Queue.prepare_data(BATCH_FUNCTION, args=(network, [i for i, _ in rows]),
                              job_id=f"batch-{network}-{rows[0][0]}-{digest}",
                              timeout=BATCH_TIMEOUT_S, result_ttl=600, failure_ttl=7 * 86400)


def wake(queue: Queue | None, networks) -> int | None:
    """One waiting "send what is due" job per network; the number enqueued, None if Redis is
    away (or not configured)."""
    if queue is None:
        return None
    jobs = []
    try:
        for network in sorted(set(networks)):
            if queue.connection.set(WAKE_KEY.format(network), 1, nx=True, ex=WAKE_TTL_S):
                jobs.append(Queue.prepare_data(
                    BATCH_FUNCTION, args=(network, None), job_id=f"due-{network}-{uuid.uuid4()}",
                    timeout=BATCH_TIMEOUT_S, result_ttl=60, failure_ttl=7 * 86400))
    except RedisError as exc:
        log.warning("wake failed (%s): the sweeper will enqueue", exc)
        return None
    if jobs and _enqueue_many(queue, jobs, len(jobs)) == 0:
        return None
    return len(jobs)


def clear_wake(redis, network: str) -> None:
    """The waiting job starts: the next commit must enqueue a new one."""
    redis.delete(WAKE_KEY.format(network))


def wake_inbox(rt) -> bool:
    """After a webhook's commit: wake a worker's inbox thread, unless a wake-up waits already.
    Best effort: without Redis the sweeper wakes it when Redis is back.

    A process asks Redis at most every INBOX_LINGER_S: a pass that starts after the last ask
    keeps looking that long (workers/inbox.py), so it sees the webhooks that skipped asking."""
    global _inbox_asked_at
    queue = rt.queue_or_none()
    if queue is None:
        return False
    asking_at = time.monotonic()
    if asking_at - _inbox_asked_at < INBOX_LINGER_S:
        return True
    # Claimed before asking: the request threads a group commit releases together ask once.
    _inbox_asked_at = asking_at
    try:
        if queue.connection.set(INBOX_WAKE_KEY, 1, nx=True, ex=WAKE_TTL_S):
            queue.connection.lpush(INBOX_WAKE_LIST, 1)
    except RedisError as exc:
        _inbox_asked_at = -INBOX_LINGER_S
        log.warning("inbox wake failed (%s): the sweeper will wake it", exc)
        return False
    return True


def note_burst(rt) -> None:
    """A web process answering a burst says so (at most every BURST_NOTE_EVERY_S), and the
    inbox pass steps back while it lasts (workers/inbox.py). Best effort."""
    global _burst_noted_at
    now = time.monotonic()
    if now - _burst_noted_at < BURST_NOTE_EVERY_S or (queue := rt.queue_or_none()) is None:
        return
    _burst_noted_at = now
    try:
        queue.connection.set(BURST_KEY, 1, px=BURST_TTL_MS)
    except RedisError:
        pass  # the pass just does not step back


def burst_on(rt) -> bool:
    try:
        return bool(rt.redis.exists(BURST_KEY))
    except RedisError:
        return False


def _enqueue_many(queue: Queue, jobs: list, count: int) -> int:
    if not jobs:
        return 0
    try:
        queue.enqueue_many(jobs)
    except RedisError as exc:
        log.warning("enqueue failed (%s): the sweeper will enqueue %d deliveries", exc, count)
        return 0
    return count


def enqueue_due(rt, due: list[tuple[int, int, str]]) -> int:
    """Enqueue (id, attempts, network) rows as batch jobs; when Redis is away, drop their queue
    lease so the sweeper's next pass takes them (not a minute later)."""
    sizes = {n.name: batch_size(n) for n in rt.config.networks}
    enqueued = enqueue_batches(rt.queue_or_none(), due, sizes)
    if due and enqueued == 0:
        release_lease(rt, [row[0] for row in due])
    return enqueued


def wake_due(rt, networks, due_ids: list[int]) -> None:
    """After a commit: wake the networks; when Redis is away, drop the deliveries' queue lease."""
    if wake(rt.queue_or_none(), networks) is None and due_ids:
        release_lease(rt, due_ids)


def release_lease(rt, delivery_ids: list[int]) -> None:
    try:
        with rt.session() as session:
            session.execute(update(Delivery).where(
                Delivery.id.in_(delivery_ids), Delivery.status != SENDING).values(lease_until=None))
    except SQLAlchemyError as exc:  # committed already: at worst they wait out the lease
        log.warning("could not release the queue lease (%s)", exc)
