"""Putting due deliveries on the RQ queue. Best effort: SQL is the truth, the sweeper catches up."""

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from bridge.storage.models import SENDING, Delivery

log = logging.getLogger("bridge.queue")
JOB_FUNCTION = "workers.delivery.deliver"
JOB_TIMEOUT_S = 180
QUEUE_LEASE = timedelta(seconds=60)  # the sweeper leaves an enqueued delivery alone this long


def job_id(delivery_id: int, attempts: int) -> str:
    """Delivery id plus the attempt it will make: a retry or replay is a new job."""
    return f"delivery-{delivery_id}-{attempts + 1}"


def enqueue(queue: Queue | None, due: list[tuple[int, int]]) -> int:
    """Enqueue (delivery id, attempts) pairs in one round trip; 0 if Redis is away."""
    if not due or queue is None:
        return 0
    jobs = [Queue.prepare_data(JOB_FUNCTION, args=(delivery_id,),
                               job_id=job_id(delivery_id, attempts), timeout=JOB_TIMEOUT_S,
                               result_ttl=600, failure_ttl=7 * 86400)
            for delivery_id, attempts in due]
    try:
        queue.enqueue_many(jobs)
    except RedisError as exc:
        log.warning("enqueue failed (%s): the sweeper will enqueue %d deliveries", exc, len(due))
        return 0
    return len(due)


def enqueue_due(rt, due: list[tuple[int, int]]) -> int:
    """Enqueue; when Redis is away, drop the queue lease so the sweeper's next pass takes them."""
    enqueued = enqueue(rt.queue_or_none(), due)
    if due and enqueued == 0:
        try:
            with rt.session() as session:
                session.execute(update(Delivery).where(
                    Delivery.id.in_([delivery_id for delivery_id, _ in due]),
                    Delivery.status != SENDING).values(lease_until=None))
        except SQLAlchemyError as exc:  # committed already: at worst they wait out the lease
            log.warning("could not release the queue lease (%s)", exc)
    return enqueued
