"""The figures behind `bridge status`, the dashboard's overview and the sweeper's alerts."""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import func, select

from bridge import signature_failures
from bridge.attribution import SALE_KINDS
from bridge.storage.models import (
    DELIVERED,
    DUE_STATUSES,
    PENDING,
    RETRYING,
    SENDING,
    Delivery,
    Event,
    InboxWebhook,
    NetworkState,
    utcnow,
)

WINDOW = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=10)  # a due delivery nobody picked up this long: the queue is stuck
IN_FLIGHT = (PENDING, SENDING, RETRYING)


@dataclass
class QueueFigures:
    available: bool = True
    error: str = ""
    depth: int = 0
    scheduled: int = 0
    started: int = 0
    failed: int = 0
    workers: list[dict] = field(default_factory=list)


@dataclass
class NetworkFigures:
    name: str
    delivered: int = 0
    retrying: int = 0
    pending: int = 0
    rejected: int = 0
    dead: int = 0
    skipped: int = 0
    success_rate: float | None = None
    oldest_pending: datetime | None = None
    paused: bool = False
    paused_reason: str = ""
    consecutive_failures: int = 0
    probe_at: datetime | None = None  # set while the circuit breaker holds the network


@dataclass
class SourceFigures:
    name: str
    platform: str
    last_received: datetime | None = None
    received_24h: int = 0
    signature_failures: int | None = None


@dataclass
class Status:
    at: datetime
    queue: QueueFigures
    networks: list[NetworkFigures]
    sources: list[SourceFigures]
    attributed: int = 0
    delivered_orders: int = 0
    accuracy: float | None = None
    stale_since: datetime | None = None
    inbox_waiting: int = 0  # verified webhooks the inbox job has not turned into events yet
    inbox_oldest: datetime | None = None
    attention: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return _jsonable(asdict(self))


def collect(rt) -> Status:
    """Every figure, and the list of things that need a human."""
    now = utcnow()
    with rt.session() as session:
        networks = _networks(session, rt.config, now)
        sources = _sources(session, rt, now)
        attributed, delivered = _accuracy(session, now - WINDOW)
        stale = _stale_since(session, now, [n.name for n in networks if n.paused])
        waiting, oldest = session.execute(select(
            func.count(InboxWebhook.id), func.min(InboxWebhook.received_at))
            .where(InboxWebhook.processed_at.is_(None))).one()
    status = Status(now, _queue(rt), networks, sources, attributed, delivered,
                    delivered / attributed if attributed else None, stale, waiting, oldest)
    status.attention = attention(status, rt.config.alerts.accuracy_threshold)
    return status


def attention(status: Status, threshold: float) -> list[str]:
    """What needs a human, one sentence each (empty: all is well)."""
    problems = [f"{n.name}: {n.dead} dead deliveries in 24 h" for n in status.networks if n.dead]
    problems += [f"{n.name}: paused ({n.paused_reason})" for n in status.networks if n.paused]
    if not status.queue.available:
        problems.append(f"Redis unavailable: {status.queue.error}")
    elif not status.queue.workers:
        problems.append("no worker is running: postbacks are not being sent")
    if status.inbox_oldest and status.at - status.inbox_oldest > STALE_AFTER:
        problems.append(f"{status.inbox_waiting} webhooks waiting in the inbox since "
                        f"{status.inbox_oldest:%c}: no worker is processing them")
    if status.stale_since:
        problems.append(f"queue is stale: a delivery has been due since {status.stale_since:%c}")
    if status.accuracy is not None and status.accuracy < threshold:
        problems.append(f"only {status.accuracy:.0%} of attributed orders were delivered in 24 h "
                        f"(threshold {threshold:.0%})")
    return problems


def _queue(rt) -> QueueFigures:
    try:
        queue = rt.queue
        workers = Worker.all(queue=queue)
        return QueueFigures(
            depth=queue.count, scheduled=queue.scheduled_job_registry.count,
            started=queue.started_job_registry.count, failed=queue.failed_job_registry.count,
            workers=[{"name": w.name, "state": str(w.get_state()), "last_heartbeat":
                      w.last_heartbeat} for w in workers])
    except (RedisError, RuntimeError) as exc:
        return QueueFigures(available=False, error=f"{type(exc).__name__}: {exc}"[:200])


def _networks(session, config, now: datetime) -> list[NetworkFigures]:
    counts = session.execute(
        select(Delivery.network, Delivery.status, func.count(Delivery.id))
        .where(Delivery.created_at >= now - WINDOW).group_by(Delivery.network, Delivery.status))
    oldest = dict(session.execute(
        select(Delivery.network, func.min(Delivery.created_at))
        .where(Delivery.status.in_(IN_FLIGHT)).group_by(Delivery.network)).all())
    states = {s.name: s for s in session.scalars(select(NetworkState))}
    figures = {n.name: NetworkFigures(n.name) for n in config.networks}
    for name, status, count in counts:
        if name in figures and hasattr(figures[name], status):
            setattr(figures[name], status, count)
    for item in figures.values():
        state = states.get(item.name)
        if state:
            item.paused, item.paused_reason = bool(state.paused), state.reason
            item.consecutive_failures, item.probe_at = state.consecutive_failures, state.probe_at
        item.oldest_pending = oldest.get(item.name)
        final = item.delivered + item.rejected + item.dead
        item.success_rate = round(item.delivered / final, 4) if final else None
    return list(figures.values())


def _sources(session, rt, now: datetime) -> list[SourceFigures]:
    rows = session.execute(select(Event.source, func.max(Event.received_at),
                                  func.count(Event.id).filter(Event.received_at >= now - WINDOW))
                           .group_by(Event.source))
    seen = {name: (last, count) for name, last, count in rows}
    failures = signature_failures.counts(rt)
    return [SourceFigures(s.name, s.platform, *seen.get(s.name, (None, 0)),
                          failures.get(s.name, 0) if failures is not None else None)
            for s in rt.config.sources]


def _accuracy(session, since: datetime) -> tuple[int, int]:
    """(attributed orders settled since, of which delivered); in-flight orders wait their turn."""
    orders = select(Event.id).where(Event.received_at >= since, Event.status == "accepted",
                                    Event.kind.in_(SALE_KINDS), Event.click_id != "",
                                    Event.is_test.is_(False))
    in_flight = select(Delivery.event_id).where(Delivery.status.in_(IN_FLIGHT))
    delivered = select(Delivery.event_id).where(Delivery.status == DELIVERED)
    settled = orders.where(Event.id.not_in(in_flight))
    count = func.count()
    return (session.scalar(select(count).select_from(settled.subquery())),
            session.scalar(select(count).select_from(
                settled.where(Event.id.in_(delivered)).subquery())))


def _stale_since(session, now: datetime, paused: list[str]) -> datetime | None:
    """When the longest-waiting due delivery became due, if nobody picked it up in time."""
    query = select(func.min(Delivery.next_attempt_at)).where(
        Delivery.status.in_(DUE_STATUSES), Delivery.next_attempt_at <= now - STALE_AFTER)
    if paused:
        query = query.where(Delivery.network.not_in(paused))
    return session.scalar(query)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value

