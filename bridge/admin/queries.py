"""The dashboard's SQL: per-day counts, filtered lists, the accuracy table."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from bridge.attribution import SALE_KINDS
from bridge.storage.models import DELIVERED, AuditEntry, Delivery, Event, utcnow

PAGE = 50
IN_FLIGHT = ("pending", "sending", "retrying")


def per_day(session, days: int = 14) -> list[dict]:
    """Conversions received and postbacks delivered per day, oldest first, zero days included."""
    since = _midnight(utcnow()) - timedelta(days=days - 1)
    day = func.date(Event.received_at)
    conversions = dict(session.execute(
        select(day, func.count(Event.id)).where(Event.received_at >= since,
                                                Event.status == "accepted")
        .group_by(day)).all())
    delivered_day = func.date(Delivery.delivered_at)
    postbacks = dict(session.execute(
        select(delivered_day, func.count(Delivery.id)).where(Delivery.delivered_at >= since)
        .group_by(delivered_day)).all())
    conversions = {str(k): v for k, v in conversions.items()}
    postbacks = {str(k): v for k, v in postbacks.items()}
    dates = [(since + timedelta(days=n)).date().isoformat() for n in range(days)]
    return [{"day": d, "conversions": conversions.get(d, 0), "postbacks": postbacks.get(d, 0)}
            for d in dates]


def events(session, source="", status="", before: int | None = None) -> list[Event]:
    query = select(Event).order_by(Event.id.desc()).limit(PAGE)
    if source:
        query = query.where(Event.source == source)
    if status:
        query = query.where(Event.status == status)
    if before:
        query = query.where(Event.id < before)
    return list(session.scalars(query))


@dataclass
class DeliveryFilter:
    network: str = ""
    status: str = ""
    source: str = ""
    since: date | None = None
    until: date | None = None
    before: int | None = None

    @classmethod
    def from_args(cls, args) -> "DeliveryFilter":
        return cls(args.get("network", ""), args.get("status", ""), args.get("source", ""),
                   parse_date(args.get("since")), parse_date(args.get("until")),
                   args.get("before", type=int))


def deliveries(session, f: DeliveryFilter) -> list[Delivery]:
    query = select(Delivery).join(Event).order_by(Delivery.id.desc()).limit(PAGE)
    conditions = [(f.network, lambda: Delivery.network == f.network),
                  (f.status, lambda: Delivery.status == f.status),
                  (f.source, lambda: Event.source == f.source),
                  (f.since, lambda: Delivery.created_at >= start_of(f.since)),
                  (f.until, lambda: Delivery.created_at < start_of(f.until, 1)),
                  (f.before, lambda: Delivery.id < f.before)]
    for wanted, condition in conditions:
        if wanted:
            query = query.where(condition())
    return list(session.scalars(query))


@dataclass
class AccuracyRow:
    day: str
    source: str
    received: int = 0
    attributed: int = 0
    delivered: dict[str, int] = field(default_factory=dict)


def accuracy(session, days: int = 14) -> list[AccuracyRow]:
    """Per day and source: orders received → with a click → delivered, per network."""
    since = _midnight(utcnow()) - timedelta(days=days - 1)
    day = func.date(Event.received_at)
    orders = (Event.received_at >= since, Event.status == "accepted", Event.kind.in_(SALE_KINDS))
    rows: dict[tuple, AccuracyRow] = {}
    for d, source, received, attributed in session.execute(
            select(day, Event.source, func.count(Event.id),
                   func.count(Event.id).filter(Event.click_id != ""))
            .where(*orders).group_by(day, Event.source)):
        rows[(str(d), source)] = AccuracyRow(str(d), source, received, attributed)
    for d, source, network, count in session.execute(
            select(day, Event.source, Delivery.network, func.count(func.distinct(Event.id)))
            .join(Delivery).where(*orders, Delivery.status == DELIVERED)
            .group_by(day, Event.source, Delivery.network)):
        row = rows.setdefault((str(d), source), AccuracyRow(str(d), source))
        row.delivered[network] = count
    return sorted(rows.values(), key=lambda r: (r.day, r.source), reverse=True)


def not_sent(session, days: int = 14, limit: int = 200) -> list[tuple[Event, str]]:
    """Orders of the period no network has received yet, each with the reason."""
    since = _midnight(utcnow()) - timedelta(days=days - 1)
    delivered = select(Delivery.event_id).where(Delivery.status == DELIVERED)
    query = (select(Event).where(Event.received_at >= since, Event.status == "accepted",
                                 Event.kind.in_(SALE_KINDS + ("refund", "reversal")),
                                 Event.id.not_in(delivered))
             .order_by(Event.id.desc()).limit(limit))
    return [(event, why_not_sent(event)) for event in session.scalars(query)]


def why_not_sent(event: Event) -> str:
    """The one-line reason an order has not reached any network."""
    if not event.deliveries:
        if not event.click_id:
            return event.attribution_reason or "no click id"
        return "no network owns this click (or every network's filters left it out)"
    reasons = []
    for d in event.deliveries:
        label = "in flight" if d.status in IN_FLIGHT else d.status
        reasons.append(f"{d.network}: {label}" + (f" — {d.reason}" if d.reason else ""))
    return "; ".join(reasons)


def audit_log(session, limit: int = 200) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def start_of(day: date, plus_days: int = 0) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(days=plus_days)


def parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
