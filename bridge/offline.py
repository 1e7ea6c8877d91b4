"""Offline conversions (phone orders, CRM-qualified leads) from a merchant's backend or a CSV.

They come from the built-in source `api` (platform `api`, no webhook), or from any source the
config declares with `platform: api`, and take the same path as a store's webhook: one
transaction with attribution and deliveries, idempotent on (source, kind, txn id).
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from bridge import clickstore, ingest, queue, redact
from bridge.exceptions import InvalidInputError
from bridge.settings import Source
from bridge.storage.models import Event
from connectors.base import ConversionEvent, Money, Webhook, email_sha256
from connectors.errors import InvalidPayloadError
from connectors.money import currency_code, from_string

API_SOURCE = Source(name="api", platform="api")
OFFLINE_KINDS = ("sale", "lead")
KEY_FIELDS = ("click_id", "click_param", "customer_id", "visitor_id", "cart_token",
              "checkout_token", "order_id")


@dataclass
class Outcome:
    """What one offline conversion became, for the API answer and the import summary."""

    status: str  # accepted | duplicate
    event_ids: list[int]
    attribution: dict
    deliveries: int


def source_for(config, name: str) -> Source:
    """The built-in `api` source, or a configured one with platform: api."""
    configured = config.source(name or "api")
    if configured is None and (name or "api") == "api":
        return API_SOURCE
    if configured is None or configured.platform != "api":
        raise InvalidInputError(f"source {name!r} does not take offline conversions "
                                "(use 'api' or a source with platform: api)")
    return configured


def conversion_from(data: dict) -> ConversionEvent:
    """A sale or lead from a JSON object or CSV row; the plain email is hashed at once."""
    if not isinstance(data, dict):
        raise InvalidInputError("expected a JSON object")
    keys = {k: clickstore.text_field(data.get(k)) for k in KEY_FIELDS}
    kind = clickstore.text_field(data.get("kind")) or "sale"
    txn_id = clickstore.text_field(data.get("txn_id"))
    if kind not in OFFLINE_KINDS or not txn_id:
        raise InvalidInputError("needs txn_id, and kind sale or lead")
    try:
        currency = currency_code(data.get("currency"))
        amount = from_string(str(data.get("amount", "0")), currency)
    except InvalidPayloadError as exc:
        raise InvalidInputError(str(exc)) from None
    return ConversionEvent(
        kind=kind, txn_id=txn_id, currency=currency, money=Money(total=amount, net=amount),
        **{**keys, "order_id": keys["order_id"] or txn_id},
        email_sha256=email_sha256(data.get("email")) or clickstore.text_field(
            data.get("email_sha256")).lower(),
        coupons=tuple(c for c in str(data.get("coupon") or "").split(",") if c),
        is_test=str(data.get("is_test", "")).lower() in ("1", "true", "yes"),
        occurred_at=clickstore.parse_time(data.get("occurred_at")))


def store(runtime, data: dict) -> Outcome:
    """Attribute, route and store one offline conversion; enqueue what is due."""
    source = source_for(runtime.config, clickstore.text_field(data.get("source")))
    conversion = conversion_from(data)
    kept = {k: v for k, v in data.items() if k != "email"}
    webhook = Webhook(f"{conversion.kind}:{conversion.txn_id}", f"offline.{conversion.kind}",
                      (conversion,), redact.payload(kept))
    stored = ingest.store_webhook(runtime, source, webhook)
    queue.wake_due(runtime, stored.networks, [row[0] for row in stored.due])
    return Outcome("duplicate" if stored.duplicate else "accepted", stored.event_ids,
                   _attribution(runtime, source, webhook.event_id), len(stored.due))


def _attribution(runtime, source, event_key: str) -> dict:
    with runtime.session() as session:
        event = session.scalars(select(Event).where(
            Event.source == source.name, Event.event_key == event_key)).first()
        if event is None:
            return {}
        return {"click_id": event.click_id, "network": event.click_network,
                "how": event.attribution, "reason": event.attribution_reason,
                "amount": str(event.amount if event.amount is not None else Decimal(0))}
