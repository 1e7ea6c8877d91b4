"""The inbox thread: webhooks the web tier verified and kept raw become events and deliveries.

Every worker process runs one beside its RQ worker, so a webhook never waits behind a batch of
postbacks waiting on a slow network. One pass at a time (a Redis lock, across processes) takes
the inbox in arrival order, so a refund never overtakes the sale it refunds. The web tier wakes a
thread after each commit (a token on a Redis list); the sweeper wakes one for anything a lost
wake-up left behind.
"""

import logging
import threading
import time

from redis.exceptions import LockError, RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bridge import ingest
from bridge import queue as queue_module
from bridge.storage.models import InboxWebhook
from connectors.errors import InvalidPayloadError

log = logging.getLogger("bridge.inbox")
LOCK_KEY = "bridge:inbox:lock"
LOCK_TTL_S = 60  # a worker that dies holding it stops the inbox this long at most
BATCH = 100
PER_TRANSACTION = 20  # on SQLite the pass holds the main file's write lock ~1 ms a webhook
MAX_ATTEMPTS = 5
LINGER_POLL_S = 0.003
WAKE_EVERY_S = 0.02
STEP_BACK_S = 2  # the most a burst holds the pass back
STEP_BACK_POLL_S = 0.05


class InboxThread(threading.Thread):
    """Waits for wake-ups and processes the inbox, until the process stops."""

    def __init__(self, rt):
        super().__init__(name="inbox", daemon=True)
        self.rt, self.stopping = rt, threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.rt.redis.blpop([queue_module.INBOX_WAKE_LIST], timeout=1):
                    process_inbox(self.rt)
            except (RedisError, SQLAlchemyError) as exc:
                log.warning("inbox: %s; will try again", type(exc).__name__)
                self.stopping.wait(1)

    def stop(self) -> None:
        self.stopping.set()


def process_inbox(rt) -> dict:
    """Process the inbox until it is empty, unless another pass holds the lock (it goes on).

    A pass ends only after INBOX_LINGER_S with an empty inbox since it started or last held the
    lock: web processes skip waking it that long after they last did (bridge/queue.py)."""
    if rt.redis.exists(LOCK_KEY):
        # The holder looks again, and lingers, after releasing the lock. The wake-up stays set
        # meanwhile, so web processes send no more: each cost a look, a fifth of a core in a burst.
        return {"processed": 0}
    rt.redis.delete(queue_module.INBOX_WAKE_KEY)  # before the first look: no webhook is missed
    processed, since = 0, time.monotonic()
    while True:
        if pending(rt):
            lock = rt.redis.lock(LOCK_KEY, timeout=LOCK_TTL_S)
            if not lock.acquire(blocking=False):
                break  # as above
            try:
                processed += drain(rt, lock)
            finally:
                _release(lock)
                rt.redis.delete(queue_module.INBOX_WAKE_KEY)  # the next webhooks wake a thread
                since = time.monotonic()
        elif time.monotonic() - since >= queue_module.INBOX_LINGER_S:
            break
        else:
            time.sleep(LINGER_POLL_S)
    return {"processed": processed}


def sweep(rt) -> bool:
    """The sweeper's check: webhooks waiting while no pass holds the inbox get a wake-up."""
    if not pending(rt) or rt.redis.exists(LOCK_KEY):
        return False
    rt.redis.delete(queue_module.INBOX_WAKE_KEY)  # a wake-up that was lost
    return queue_module.wake_inbox(rt)


def pending(rt) -> bool:
    with rt.session() as session:
        return session.scalar(select(InboxWebhook.id).where(
            InboxWebhook.processed_at.is_(None)).limit(1)) is not None


def drain(rt, lock=None) -> int:
    """Process the inbox once through, oldest first (the pass holds `lock`); the number
    processed. A webhook that failed waits for the next pass."""
    done, after = 0, 0
    while rows := _take(rt, after):
        params, waking = rt.config.click_params(), Wakes()
        try:
            for start in range(0, len(rows), PER_TRANSACTION):
                step_back(rt, waking)
                for stored in _process(rt, rows[start:start + PER_TRANSACTION], params):
                    done += 1
                    waking.add(rt, stored)
        finally:
            waking.send(rt)
        after = rows[-1].id
        if lock is not None:
            lock.reacquire()
    return done


_stepped_back_since: float | None = None  # since when this process's pass steps back


def step_back(rt, waking: "Wakes") -> None:
    """While the web tier answers a burst (its commits are crowded: bridge/queue.py), wait, so
    the database and the CPU answer the store first; for at most STEP_BACK_S a burst, after
    which the pass works however long the burst lasts. What it stored so far is woken first.
    Measured at saturation on PostgreSQL: +13% webhooks/s, the worker processes' CPU
    170-300 → 7-73 µs a webhook."""
    global _stepped_back_since
    while queue_module.burst_on(rt):
        waking.send(rt)
        now = time.monotonic()
        if _stepped_back_since is None:
            _stepped_back_since = now
            log.info("inbox: a burst of webhooks; stepping back for up to %s s", STEP_BACK_S)
        if now - _stepped_back_since >= STEP_BACK_S:
            return
        time.sleep(STEP_BACK_POLL_S)
    _stepped_back_since = None


class Wakes:
    """The networks to wake after commits, sent every WAKE_EVERY_S rather than per webhook (a
    Redis round trip each) and at the end of every batch: the deliveries hold a queue lease."""

    def __init__(self):
        self.networks, self.due, self.sent_at = set(), [], time.monotonic()

    def add(self, rt, stored: ingest.Stored) -> None:
        self.networks |= stored.networks
        self.due += [delivery_id for delivery_id, _ in stored.due]
        if time.monotonic() - self.sent_at >= WAKE_EVERY_S:
            self.send(rt)

    def send(self, rt) -> None:
        if self.networks or self.due:
            queue_module.wake_due(rt, self.networks, self.due)
        self.networks, self.due, self.sent_at = set(), [], time.monotonic()


def _take(rt, after: int) -> list[InboxWebhook]:
    """The oldest unprocessed rows after `after`, each counted as one more attempt."""
    with rt.session() as session:
        rows = session.scalars(select(InboxWebhook).where(
            InboxWebhook.processed_at.is_(None), InboxWebhook.id > after)
            .order_by(InboxWebhook.id).limit(BATCH)).all()
        session.execute(update(InboxWebhook).where(InboxWebhook.id.in_([r.id for r in rows]))
                        .values(attempts=InboxWebhook.attempts + 1))  # the rows too
    return rows


def _process(rt, rows: list[InboxWebhook], params: list[str]) -> list[ingest.Stored]:
    """What the rows stored, in one transaction; the failed and given-up rows have none."""
    stored, ready = [], []
    for row in rows:
        if row.attempts > MAX_ATTEMPTS:
            _give_up(rt, row)
        elif prepared := _guarded(rt, row, ingest.prepare, rt, row, params):
            ready.append((*prepared, row))
        elif prepared is None:
            stored.append(ingest.Stored())  # unusable now: finished, stored as such
    try:
        done = ingest.store_many(rt, [(source, hook, row.id) for source, hook, row in ready])
    except OperationalError:
        raise  # the database is away: the pass fails, the rows wait for the next one
    except Exception:  # a concurrent copy, or a bug: each on its own, so it costs only itself
        done = [_guarded(rt, row, ingest.store_webhook, rt, source, hook, row.id)
                for source, hook, row in ready]
    for (source, hook, _), found in zip(ready, done, strict=True):
        if found:
            ingest.logged(source.name, hook.event_id, hook.topic,
                          "duplicate" if found.duplicate else "accepted")
    return stored + [found for found in done if found]


def _guarded(rt, row: InboxWebhook, step, *args):
    """`step(*args)`; False when it raised (a bug must not stall the inbox: noted, retried,
    then given up)."""
    try:
        return step(*args)
    except OperationalError:
        raise
    except Exception as exc:
        log.exception("inbox: webhook %s (source %s) could not be processed", row.id, row.source)
        _note(rt, row.id, f"{type(exc).__name__}: {exc}")
        return False


def _note(rt, inbox_id: int, error: str) -> None:
    with rt.session() as session:
        session.execute(update(InboxWebhook).where(InboxWebhook.id == inbox_id)
                        .values(error=rt.mask(error)[:500]))


def _give_up(rt, row: InboxWebhook) -> None:
    """After MAX_ATTEMPTS the webhook is stored as invalid, with the last error, for the
    dashboard; it is never taken again."""
    source = rt.config.source(row.source)
    error = InvalidPayloadError(f"could not be processed: {row.error or 'worker stopped'}",
                                event_id=row.event_key, topic=row.topic)
    if source is None:
        ingest.finish(rt, row.id, str(error))
    else:
        ingest.store_unusable(rt, source, "invalid", error, row.body or b"", row.id)
    log.error("inbox: webhook %s given up after %d attempts", row.id, MAX_ATTEMPTS)


def _release(lock) -> None:
    try:
        lock.release()
    except LockError:  # it expired while we worked: another pass may hold it now
        pass
