"""Webhooks into SQL. The web tier keeps a verified webhook in the inbox with one statement (the
commit acknowledges); the inbox job then parses it and stores its events, attribution and
deliveries, up to 20 webhooks to a transaction, marking their inbox rows processed in the same
transaction."""

import hashlib
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import Headers

from bridge import attribution, clickstore, metrics, redact, routing
from bridge.queue import QUEUE_LEASE
from bridge.storage.models import PENDING, Event, InboxWebhook, utcnow
from connectors import CONNECTORS
from connectors.base import MAX_LENGTHS, ConversionEvent, Webhook, header
from connectors.errors import IgnoredEventError, InvalidPayloadError
from connectors.money import quantize

log = logging.getLogger("bridge.ingest")
UNKEPT_HEADERS = {"cookie", "authorization", "proxy-authorization"}
# Built once: new rows only (a redelivery hits the unique key and returns nothing)
INSERTS = {name: dialect.insert(InboxWebhook).on_conflict_do_nothing(
    index_elements=["source", "event_key"]).returning(
        InboxWebhook.id, InboxWebhook.source, InboxWebhook.event_key)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
# Built once too: building a statement costs about as much as running it on SQLite.
EVENT_WITH_KEY = select(Event.id).where(Event.source == bindparam("source"),
                                        Event.event_key == bindparam("key"))
INBOX_DONE = update(InboxWebhook).where(InboxWebhook.id == bindparam("inbox_id")).values(
    processed_at=bindparam("at"), body=None)


@dataclass
class Stored:
    """What one webhook became: event ids, and the deliveries that are due now (to enqueue)."""

    event_ids: list[int] = field(default_factory=list)
    due: list[tuple[int, int]] = field(default_factory=list)  # (delivery id, attempts so far)
    networks: set[str] = field(default_factory=set)  # the networks of the due deliveries
    duplicate: bool = False


def receive(runtime, source, connector, raw_body: bytes, headers) -> int | None:
    """Keep a verified webhook in the inbox: its row id, or None when it is there already (a
    platform's retry). The key is the connector's `delivery_key`, from the headers or the body's
    hash: parsing here cost a third of the request's CPU, then again in the inbox pass, which
    drops a redelivery with another body by its event id."""
    topic = header(headers, connector.TOPIC_HEADER)[:MAX_LENGTHS["topic"]]
    row = {"source": source.name, "event_key": connector.delivery_key(raw_body, headers, topic),
           "topic": topic,
           "headers": {k: v for k, v in headers.items() if k.lower() not in UNKEPT_HEADERS},
           "body": raw_body, "received_at": utcnow(), "attempts": 0, "error": ""}
    return runtime.inbox_writer.execute(row)


def insert_new(connection, rows: list[dict]) -> list[int | None]:
    """Insert a batch of inbox rows in one statement: each row's id, None for a duplicate
    (of a stored row, or of an earlier row in the batch)."""
    first = {}
    for at, row in enumerate(rows):
        first.setdefault((row["source"], row["event_key"]), at)
    unique = [rows[at] for at in first.values()]
    try:
        new = _insert_raw(connection, unique)
    except connection.dialect.loaded_dbapi.Error:
        # once more through SQLAlchemy: it reports the error (and a lost connection)
        new = connection.execute(INSERTS[connection.dialect.name], unique)
    ids = {(source, key): row_id for row_id, source, key in new}
    return [ids.get(key) if first[key] == at else None
            for at, key in enumerate((row["source"], row["event_key"]) for row in rows)]


def _insert_raw(connection, rows: list[dict]) -> list[tuple]:
    """The rows through the DBAPI cursor, the statement compiled once per batch size:
    SQLAlchemy's per-execution work cost as much CPU as the INSERT itself (SQLite 60 of 130 µs
    a row; 100 µs on PostgreSQL, where its multi-row path was a tenth of the request's CPU)."""
    dialect = connection.dialect
    sql, names, processors = _compiled_insert(dialect, tuple(rows[0]), len(rows))
    params = {f"{key}_{at}": processors[key](value) if key in processors else value
              for at, row in enumerate(rows) for key, value in row.items()}
    if names:  # a positional paramstyle (SQLite's qmark)
        params = [params[name] for name in names]
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


_COMPILED_INSERTS = {}


def _compiled_insert(dialect, keys: tuple[str, ...], count: int):
    """(SQL, positional parameter names or None, bind processors by column) of an INSERTS of
    `count` rows, whose parameters are named `<column>_<row>`; built once per size."""
    known = (dialect.name, dialect.driver, keys, count)
    if known not in _COMPILED_INSERTS:
        columns = InboxWebhook.__table__.c
        values = [{key: bindparam(f"{key}_{at}", type_=columns[key].type) for key in keys}
                  for at in range(count)]
        statement = INSERTS[dialect.name].values(values)
        compiled = statement.compile(dialect=dialect)
        processors = {key: columns[key].type.dialect_impl(dialect).bind_processor(dialect)
                      for key in keys}
        _COMPILED_INSERTS[known] = (compiled.string, compiled.positiontup,
                                    {key: process for key, process in processors.items()
                                     if process})
    return _COMPILED_INSERTS[known]


def parse(connector, raw_body: bytes, headers, source, params: list[str]) -> Webhook:
    """The connector's parse; a signed body it trips over is invalid, never a 500."""
    try:
        return connector.parse(raw_body, headers, source, params)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError,
            RecursionError) as exc:
        # A retry cannot fix the payload, and a non-2xx makes the platform disable the webhook.
        log.exception("webhook source=%s: connector could not read a signed body", source.name)
        raise InvalidPayloadError(f"unreadable payload ({type(exc).__name__})") from None


def unusable_status(error) -> str:
    return "invalid" if isinstance(error, InvalidPayloadError) else "ignored"


def prepare(runtime, row: InboxWebhook, params: list[str]):
    """(source, webhook) to store for an inbox row, or None when there is nothing to store: an
    unusable webhook (the config changed since it was accepted) is finished here."""
    source = runtime.config.source(row.source)
    connector = CONNECTORS.get(source.platform) if source else None
    if connector is None:
        finish(runtime, row.id, f"source {row.source!r} is no longer configured")
        return None
    try:
        return source, parse(connector, row.body, Headers(row.headers), source, params)
    except (IgnoredEventError, InvalidPayloadError) as error:
        status = unusable_status(error)
        store_unusable(runtime, source, status, error, row.body, row.id)
        metrics.webhook(source.name, status)
        logged(source.name, error.event_id, error.topic, status, str(error))
        return None


def logged(source: str, event_id: str, topic: str, result: str, reason: str = "") -> None:
    """The one log line per webhook, once the inbox pass knows what it became."""
    log.info("webhook source=%s event=%s topic=%s result=%s%s", source, event_id, topic, result,
             f" reason={reason}" if reason else "")


def finish(runtime, inbox_id: int, error: str = "") -> None:
    with runtime.session() as session:
        _finish(session, inbox_id, error)


def _finish(session, inbox_id: int | None, error: str = "") -> None:
    """The inbox row is done: its body goes (personal data), its key stays (duplicates)."""
    if inbox_id is not None:
        done = INBOX_DONE.values(error=error[:500]) if error else INBOX_DONE
        session.execute(done, {"inbox_id": inbox_id, "at": utcnow()})


def store_webhook(runtime, source, webhook: Webhook, inbox_id: int | None = None) -> Stored:
    """Store every conversion of a verified webhook; safe against concurrent duplicates."""
    for _ in range(3):
        try:
            with runtime.session() as session:
                stored = _store_all(session, runtime.config, [(source, webhook)])[0]
                _finish(session, inbox_id)
                return stored
        except IntegrityError:
            continue  # a concurrent copy of this webhook won: the next pass sees it stored
    if inbox_id is not None:
        finish(runtime, inbox_id)
    return Stored(duplicate=True)


def store_many(runtime, webhooks: list[tuple]) -> list[Stored]:
    """Several (source, webhook, inbox id) in ONE transaction, in order (a refund finds a sale
    stored before it in the same transaction): a transaction per webhook cost the inbox pass
    BEGIN, COMMIT and a session each. Any error rolls all back; the caller then stores them
    one by one (store_webhook), so a concurrent copy or a bad webhook costs only itself."""
    if not webhooks:
        return []
    at = utcnow()
    with runtime.session() as session:
        stored = _store_all(session, runtime.config,
                            [(source, webhook) for source, webhook, _ in webhooks])
        session.connection().execute(INBOX_DONE, [{"inbox_id": inbox_id, "at": at}
                                                  for _, _, inbox_id in webhooks])
    return stored


def _store_all(session, config, webhooks: list[tuple]) -> list[Stored]:
    """Store (source, webhook)s in order, with one INSERT per table for all of them at the end
    (each webhook's own flush and lookups were 5 statements a webhook, 4 ms of the worker's CPU).
    """
    seen = Seen(session, webhooks)
    found = [_store(session, config, seen, source, webhook) for source, webhook in webhooks]
    session.flush()
    for stored, added in found:
        stored.event_ids = [event.id for event in added]
        stored.due = [(d.id, d.attempts) for e in added for d in e.deliveries if d.lease_until]
    return [stored for stored, _ in found]


class Seen:
    """Which events of a batch of webhooks are stored already and the clicks their orders
    carry, looked up once for the batch, and the events the batch adds: each webhook needs no
    query of its own to find out."""

    def __init__(self, session, webhooks: list[tuple]):
        conversions = [c for _, webhook in webhooks for c in webhook.conversions]
        self.keys: set[tuple[str, str]] = set()
        self.conversions: dict[tuple[str, str], int | Event] = {}  # an Event: added, unflushed
        if conversions:
            keys = [key for _, webhook in webhooks for _, key in _keyed(webhook)]
            self.keys = {(source, key) for source, key in session.execute(
                select(Event.source, Event.event_key).where(Event.event_key.in_(keys)))}
            self.conversions = {
                (source, key): event_id for event_id, source, key in session.execute(
                    select(Event.id, Event.source, Event.conversion_key).where(
                        Event.conversion_key.in_([conversion_key(c) for c in conversions])))}
        self.clicks = clickstore.newest_with_ids(session, {c.click_id for c in conversions} - {""})

    def exists(self, source: str, event_key: str) -> bool:
        return (source, event_key) in self.keys

    def twin(self, session, source: str, key: str) -> int | None:
        """The id of the stored event with this conversion key, or None."""
        found = self.conversions.get((source, key))
        if isinstance(found, Event):  # added by this batch: flushed for its id (rare)
            session.flush()
            found = self.conversions[(source, key)] = found.id
        return found

    def add(self, event: Event) -> None:
        self.keys.add((event.source, event.event_key))
        if event.conversion_key:
            self.conversions[(event.source, event.conversion_key)] = event


def store_unusable(runtime, source, status: str, error, raw_body: bytes,
                   inbox_id: int | None = None) -> None:
    """Keep an ignored or invalid webhook (with its reason) for the dashboard; once per event."""
    key = error.event_id if 0 < len(error.event_id) <= MAX_LENGTHS["event_id"] else (
        "sha256:" + hashlib.sha256(raw_body).hexdigest())
    try:
        with runtime.session() as session:
            _finish(session, inbox_id)
            if not _exists(session, source.name, key):
                session.add(Event(source=source.name, platform=source.platform, event_key=key,
                                  topic=error.topic[:MAX_LENGTHS["topic"]], status=status,
                                  reason=str(error)[:500],
                                  payload=redact.payload_excerpt(raw_body)))
    except IntegrityError:
        if inbox_id is not None:  # stored by a concurrent copy
            finish(runtime, inbox_id)


def _store(session, config, seen: Seen, source, webhook: Webhook) -> tuple[Stored, list[Event]]:
    """(what the webhook stored, the events it added), to flush: lookups run with nothing
    written yet, except the few that read earlier events (a refund's sale), which flush first."""
    stored, twins, added = Stored(duplicate=True), [], []
    many = len(webhook.conversions) > 1
    with session.no_autoflush:
        for conversion, key in _keyed(webhook):
            if seen.exists(source.name, key):
                continue
            twin = seen.twin(session, source.name, conversion_key(conversion))
            if twin is not None and webhook.snapshot:
                continue  # a snapshot (a later order.updated) restating a stored conversion
            stored.duplicate = False
            if _reads_events(conversion) and session.new:
                session.flush()  # the sale it looks up may be in this batch
            event = _event_row(session, config, seen, source, webhook, conversion, key, twin)
            if event.status == "duplicate":
                twins.append(event)
                continue
            added.append(_add(session, config, seen, event, flush=many))
        if twins and not added:  # one trace of a webhook that added nothing
            added.append(_add(session, config, seen, twins[0]))
    _lease_due(added, stored)
    return stored, added


def _keyed(webhook: Webhook) -> list[tuple[ConversionEvent, str]]:
    """Each conversion of a webhook with its event key."""
    if len(webhook.conversions) == 1:
        return [(webhook.conversions[0], webhook.event_id)]
    return [(c, f"{webhook.event_id}#{c.refund_id}") for c in webhook.conversions]


def _reads_events(conversion: ConversionEvent) -> bool:
    """Refunds, renewals and conversions without money look up earlier events (their sale)."""
    return (conversion.kind in ("refund", "reversal", "renewal") or conversion.money is None
            or not conversion.currency)


def _add(session, config, seen: Seen, event: Event, flush: bool = False) -> Event:
    session.add(event)
    seen.add(event)
    if event.status == "accepted":
        _add_deliveries(session, config, event)
    if flush:
        session.flush()
    return event


def _lease_due(events: list[Event], stored: Stored) -> None:
    """Deliveries due now get a short queue lease; the caller wakes their networks after the
    commit."""
    now = utcnow()
    for event in events:
        for delivery in event.deliveries:
            if delivery.status == PENDING and delivery.next_attempt_at <= now:
                delivery.lease_until = now + QUEUE_LEASE
                stored.networks.add(delivery.network)


def conversion_key(conversion: ConversionEvent) -> str:
    """kind:txn:refund — the same conversion, however many webhooks carry it."""
    return f"{conversion.kind}:{conversion.txn_id}:{conversion.refund_id}"


def _exists(session, source: str, event_key: str) -> bool:
    return session.scalar(EVENT_WITH_KEY, {"source": source, "key": event_key}) is not None


def _event_row(session, config, seen: Seen, source, webhook, conversion: ConversionEvent, key,
               twin: int | None) -> Event:
    event = Event(
        source=source.name, platform=source.platform, event_key=key, topic=webhook.topic,
        status="accepted", kind=conversion.kind, order_id=conversion.order_id,
        txn_id=conversion.txn_id, refund_id=conversion.refund_id, currency=conversion.currency,
        coupons=list(conversion.coupons), email_sha256=conversion.email_sha256,
        customer_id=conversion.customer_id, cart_token=conversion.cart_token,
        checkout_token=conversion.checkout_token, subscription_id=conversion.subscription_id,
        is_test=conversion.is_test, occurred_at=conversion.occurred_at,
        payload=redact.payload(webhook.payload))
    if twin is not None:
        event.status, event.reason = "duplicate", f"same conversion as event {twin}"
        return event
    event.conversion_key = conversion_key(conversion)
    needs_sale = conversion.money is None or not event.currency or conversion.kind in (
        "refund", "reversal")
    sale = _sale(session, source.name, conversion.txn_id) if needs_sale else None
    if sale is not None and not event.currency:
        event.currency = sale.currency  # a WooCommerce order.deleted names no currency
    if not _set_amount(session, source, event, conversion, sale):
        return event
    found = attribution.resolve(session, config, source, conversion, sale, seen.clicks)
    event.click_id, event.click_param, event.click_network = (
        found.click_id, found.click_param, found.network)
    event.attribution, event.attribution_reason = found.how, found.reason
    event.clicked_at = found.clicked_at
    return event


def _sale(session, source: str, txn_id: str) -> Event | None:
    return session.scalars(select(Event).where(
        Event.source == source, Event.txn_id == txn_id, Event.status == "accepted",
        Event.kind.in_(attribution.SALE_KINDS)).order_by(Event.id).limit(1)).first()


def _set_amount(session, source, event: Event, conversion: ConversionEvent, sale) -> bool:
    """Sales take the source's basis; refunds the sale's, never more than is left of it."""
    if conversion.money is not None:
        event.money = conversion.money.as_strings()
        event.amount = getattr(conversion.money, source.amount)
        return True
    if sale is None:
        event.amount = conversion.refund_amount or conversion.refunded_total
        event.attribution_reason = f"no stored sale with txn id {conversion.txn_id}"
        return True
    gross, net = _refund_amounts(session, event, conversion, sale)
    amount = gross if source.amount == "total" else net
    if amount <= 0:
        # e.g. a shipping-only refund on the net basis: no commission to take back
        reason = ("nothing left to refund" if gross <= 0
                  else f"nothing to refund on the {source.amount} basis")
        event.status, event.reason, event.conversion_key = "ignored", reason, None
        return False
    event.money = {"total": str(gross), "net": str(net)}
    event.amount = amount
    return True


def _refund_amounts(session, event, conversion, sale) -> tuple[Decimal, Decimal]:
    """(gross, net) of this refund, capped by what earlier refunds left of the sale."""
    total, net = Decimal(sale.money["total"]), Decimal(sale.money["net"])
    done_total, done_net = _refunded_so_far(session, sale)
    left_total, left_net = total - done_total, net - done_net
    if conversion.kind == "reversal":
        return left_total, left_net
    if conversion.refund_amount is not None:
        gross = min(conversion.refund_amount, left_total)
    else:
        gross = min(conversion.refunded_total - done_total, left_total)
    pro_rata = gross * net / total if total else gross
    refund_net = conversion.refund_net if conversion.refund_net is not None else pro_rata
    return gross, min(quantize(refund_net, sale.currency), left_net)


def _refunded_so_far(session, sale: Event) -> tuple[Decimal, Decimal]:
    rows = session.scalars(select(Event.money).where(
        Event.source == sale.source, Event.txn_id == sale.txn_id, Event.status == "accepted",
        Event.kind.in_(("refund", "reversal")))).all()
    return (sum((Decimal(m.get("total", 0)) for m in rows), Decimal(0)),
            sum((Decimal(m.get("net", 0)) for m in rows), Decimal(0)))


def _add_deliveries(session, config, event: Event) -> None:
    for route in routing.routes(session, config, event):
        session.add(routing.new_delivery(event, route))


