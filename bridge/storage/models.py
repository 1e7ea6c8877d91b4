"""Tables: the inbox of verified webhooks, events (one per conversion or unusable webhook),
deliveries, attempts, clicks."""

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Delivery statuses, one list everywhere (DESIGN: "Delivery statuses").
PENDING, SENDING, DELIVERED, RETRYING = "pending", "sending", "delivered", "retrying"
REJECTED, DEAD, SKIPPED = "rejected", "dead", "skipped"
DUE_STATUSES = (PENDING, RETRYING)
FINAL_STATUSES = (DELIVERED, REJECTED, DEAD, SKIPPED)


def utcnow() -> datetime:
    """Naive UTC, the one time format stored (SQLite has no time zones)."""
    return datetime.now(UTC).replace(tzinfo=None)


class DecimalText(TypeDecorator):
    """Decimal stored as exact text: SQLite would turn NUMERIC into a float."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else format(Decimal(value), "f")

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    pass


class InboxWebhook(Base):
    """A verified webhook as it arrived; the inbox job turns it into events, then drops the body.

    The row stays (without its body) so a redelivery is answered "duplicate" by the unique key."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "event_key", name="uq_inbox_source_event_key"),
        Index("ix_inbox_pending", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    event_key: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(100), default="")
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "event_key", name="uq_events_source_event_key"),
        UniqueConstraint("source", "conversion_key", name="uq_events_source_conversion_key"),
        Index("ix_events_source_txn", "source", "txn_id"),
        Index("ix_events_subscription", "source", "subscription_id"),
        Index("ix_events_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16))  # accepted | ignored | invalid
    reason: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str | None] = mapped_column(String(16))
    conversion_key: Mapped[str | None] = mapped_column(String(400))
    order_id: Mapped[str] = mapped_column(String(255), default="")
    txn_id: Mapped[str] = mapped_column(String(255), default="")
    refund_id: Mapped[str] = mapped_column(String(255), default="")
    amount: Mapped[Decimal | None] = mapped_column(DecimalText)
    currency: Mapped[str] = mapped_column(String(3), default="")
    money: Mapped[dict] = mapped_column(JSON, default=dict)
    coupons: Mapped[list] = mapped_column(JSON, default=list)
    email_sha256: Mapped[str] = mapped_column(String(64), default="")
    customer_id: Mapped[str] = mapped_column(String(255), default="")
    cart_token: Mapped[str] = mapped_column(String(255), default="")
    checkout_token: Mapped[str] = mapped_column(String(255), default="")
    subscription_id: Mapped[str] = mapped_column(String(255), default="")
    click_id: Mapped[str] = mapped_column(String(255), default="")
    click_param: Mapped[str] = mapped_column(String(64), default="")
    click_network: Mapped[str] = mapped_column(String(64), default="")
    attribution: Mapped[str] = mapped_column(String(32), default="")  # how, or "none"
    attribution_reason: Mapped[str] = mapped_column(Text, default="")
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(DateTime)  # when the click store knows
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    payload: Mapped[dict | None] = mapped_column(JSON)

    deliveries: Mapped[list["Delivery"]] = relationship(back_populates="event")


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_deliveries_idempotency_key"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_network", "network", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    network: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(800), nullable=False)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    depends_on_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # A manual retry or replay starts a new round: attempts and max_age count from here.
    round_started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    round_base: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)

    event: Mapped[Event] = relationship(back_populates="deliveries")
    attempt_rows: Mapped[list["Attempt"]] = relationship(
        back_populates="delivery", order_by="Attempt.number"
    )


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(8), default="GET")
    url: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    body: Mapped[str] = mapped_column(Text, default="")
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str] = mapped_column(Text, default="")

    delivery: Mapped[Delivery] = relationship(back_populates="attempt_rows")


class NetworkState(Base):
    """Run-time state of a network: paused by hand or by the breaker."""

    __tablename__ = "network_states"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Set while the circuit breaker holds the network paused: when one probe may go through.
    probe_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Click(Base):
    """A captured affiliate click and the keys that find it again when the order comes."""

    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_click_id", "click_id"),
        Index("ix_clicks_visitor", "visitor_id", "created_at"),
        Index("ix_clicks_cart", "cart_token", "created_at"),
        Index("ix_clicks_checkout", "checkout_token", "created_at"),
        Index("ix_clicks_customer", "customer_id", "created_at"),
        Index("ix_clicks_email", "email_sha256", "created_at"),
        Index("ix_clicks_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(64), default="")
    click_id: Mapped[str] = mapped_column(String(255))
    click_param: Mapped[str] = mapped_column(String(64), default="")
    via: Mapped[str] = mapped_column(String(16))  # redirect | snippet | api | import
    visitor_id: Mapped[str] = mapped_column(String(64), default="")
    cart_token: Mapped[str] = mapped_column(String(255), default="")
    checkout_token: Mapped[str] = mapped_column(String(255), default="")
    customer_id: Mapped[str] = mapped_column(String(255), default="")
    email_sha256: Mapped[str] = mapped_column(String(64), default="")
    landing_url: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)  # None: window_days 0


class AuditEntry(Base):
    """A manual action (retry, replay, pause, resume, forget): who, when, what."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))  # "admin@<ip>" or "cli:<user>"
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
