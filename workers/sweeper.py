"""The sweeper: every few seconds, due deliveries without a live lease become RQ jobs, and
webhooks left in the inbox get an inbox job.

SQL is the outbox; this is what makes a lost job, a flushed Redis or a crash between commit and
enqueue cost a few seconds instead of a conversion. One sweeper at a time holds a Redis lease;
two at once are still correct because the worker claims each delivery in SQL.
"""

import logging
import threading
import time
import uuid

from redis.exceptions import RedisError
from sqlalchemy import select, true, update

from bridge import alerts, clickstore, privacy
from bridge import queue as queue_module
from bridge.storage.models import (DUE_STATUSES, RETRYING, SENDING, Delivery, NetworkState,
                                   utcnow)
from workers import inbox
from workers.delivery import lost_attempt

log = logging.getLogger("bridge.sweeper")
LEASE_KEY = "bridge:sweeper:lease"
BATCH = 500
PURGE_INTERVAL_S = 3600  # expired clicks and old payloads are harmless for an hour; a purge is not


def sweep(rt) -> int:
    """Enqueue every due delivery (paused networks excepted); the number enqueued."""
    now = utcnow()
    with rt.session() as session:
        recover_lost(session, now)
    with rt.session() as session:
        paused = set(session.scalars(select(NetworkState.name).where(
            NetworkState.paused,  # a breaker whose probe time has come lets one through
            NetworkState.probe_at.is_(None) | (NetworkState.probe_at > now))))
        due = session.execute(select(Delivery.id, Delivery.attempts, Delivery.network).where(
            Delivery.status.in_(DUE_STATUSES), Delivery.next_attempt_at <= now,
            Delivery.lease_until.is_(None) | (Delivery.lease_until < now),
            Delivery.network.not_in(paused) if paused else true(),
        ).order_by(Delivery.next_attempt_at).limit(BATCH)).all()
        if not due:
            return 0
        session.execute(update(Delivery).where(Delivery.id.in_([d.id for d in due]))
                        .values(lease_until=now + queue_module.QUEUE_LEASE))
    return queue_module.enqueue_due(rt, [tuple(row) for row in due])


def recover_lost(session, now) -> int:
    """A claim whose lease ran out: its worker died mid-attempt. Record that; due again now."""
    lost = session.execute(select(Delivery.id, Delivery.attempts).where(
        Delivery.status == SENDING, Delivery.lease_until < now)).all()
    for delivery_id, number in lost:
        taken = session.execute(update(Delivery).where(
            Delivery.id == delivery_id, Delivery.status == SENDING, Delivery.lease_until < now,
        ).values(status=RETRYING, next_attempt_at=now, lease_until=None,
                 reason="worker stopped mid-attempt"))
        if taken.rowcount == 1:  # another sweeper may have been quicker
            session.add(lost_attempt(delivery_id, number, now))
    if lost:
        log.warning("sweeper: %d deliveries lost their worker mid-attempt; due again", len(lost))
    return len(lost)


class Sweeper(threading.Thread):
    """Runs sweep() on an interval while it holds the Redis lease."""

    def __init__(self, rt, interval_s: float | None = None):
        super().__init__(name="sweeper", daemon=True)
        self.rt, self.owner = rt, uuid.uuid4().hex
        self.interval_s = interval_s or rt.config.worker.sweep_interval_s
        self.stopping = threading.Event()
        self.next_purge = 0.0

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            self.tick()

    def tick(self) -> int:
        try:
            if self.holds_lease():
                inbox.sweep(self.rt)
                enqueued = self.sweep_all()
                self.purge_when_due()
                alerts.check(self.rt)  # at most once a minute (a Redis key throttles it)
                return enqueued
        except RedisError as exc:
            log.warning("sweeper: Redis unavailable (%s); will try again", exc)
        except Exception:
            log.exception("sweeper pass failed; will try again")
        return 0

    def sweep_all(self, max_passes: int = 20) -> int:
        """Sweep until a pass finds less than a full batch (a backlog is not capped per tick)."""
        total = 0
        for _ in range(max_passes):
            enqueued = sweep(self.rt)
            total += enqueued
            if enqueued < BATCH:
                return total
        return total

    def purge_when_due(self) -> None:
        """Delete expired clicks and old payloads, at most once per PURGE_INTERVAL_S."""
        if time.monotonic() < self.next_purge:
            return
        self.next_purge = time.monotonic() + PURGE_INTERVAL_S
        with self.rt.session() as session:
            clicks = clickstore.purge_expired(session)
            payloads = privacy.purge_payloads(session, self.rt.config.storage.retention_days)
        if clicks or payloads:
            log.info("sweeper: purged %d expired clicks, %d payloads past retention", clicks,
                     payloads)

    def holds_lease(self) -> bool:
        """Take or extend the lease; another live sweeper keeps it."""
        redis, ttl = self.rt.redis, int(self.interval_s * 5 * 1000)
        if redis.set(LEASE_KEY, self.owner, nx=True, px=ttl):
            return True
        if (redis.get(LEASE_KEY) or b"").decode() == self.owner:
            redis.pexpire(LEASE_KEY, ttl)
            return True
        return False

    def stop(self) -> None:
        self.stopping.set()
