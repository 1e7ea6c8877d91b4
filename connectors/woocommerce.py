"""WooCommerce: X-WC-Webhook-Signature over the raw body; orders as snapshots of their state."""

import re
from datetime import datetime
from decimal import Decimal

from connectors.base import (
    ConversionEvent,
    Money,
    Webhook,
    body_key,
    email_sha256,
    find_click,
    header,
    id_string,
    load_json,
    query_pairs,
    require,
    verify_base64_hmac,
)
from connectors.errors import IgnoredEventError, InvalidPayloadError, PingError, SignatureError
from connectors.money import currency_code, from_string

TOPICS_TO_REGISTER = ["order.created", "order.updated", "order.deleted"]
IGNORED_TOPICS = {"order.restored", "customer.created", "customer.updated", "customer.deleted",
                  "product.created", "product.updated", "product.deleted", "coupon.created",
                  "coupon.updated", "coupon.deleted"}
TOPIC_HEADER = "X-WC-Webhook-Topic"
delivery_key = body_key  # the inbox key, before any parsing (the order's state is in the body)
SESSION_ENTRY_KEY = "wc_order_attribution_session_entry"
# WooCommerce orders have no test flag: `bridge simulate` marks its orders with this meta key.
TEST_META_KEY = "_postback_bridge_test"
_PING = re.compile(rb"^webhook_id=\d+$")


def verify(raw_body: bytes, headers, source) -> None:
    """Base64 HMAC-SHA256 of the raw body; the unsigned set-up ping raises PingError."""
    signature = header(headers, "X-WC-Webhook-Signature")
    if not signature and _PING.match(raw_body.strip()):
        raise PingError("webhook ping")
    verify_base64_hmac(raw_body, headers, "X-WC-Webhook-Signature", source.secret)
    origin = header(headers, "X-WC-Webhook-Source")
    if source.site_url and _site(origin) != _site(source.site_url):
        raise SignatureError(f"webhook from {origin[:80]!r}, not {source.site_url!r}")


def _site(url: str) -> str:
    return url.strip().rstrip("/").lower()


def parse(raw_body: bytes, headers, source, click_params=("click_id",)) -> Webhook:
    """A verified delivery → the conversions its order's current state implies."""
    topic = header(headers, TOPIC_HEADER)
    try:
        order = load_json(raw_body)
        key = event_key(topic, order)
    except InvalidPayloadError as exc:
        exc.topic = topic
        raise
    try:
        conversions = convert(topic, order, source, click_params)
    except (IgnoredEventError, InvalidPayloadError) as exc:
        exc.event_id, exc.topic = key, topic
        raise
    return Webhook(key, topic, tuple(conversions), order, snapshot=True)


def event_key(topic: str, order: dict) -> str:
    """A business key: the delivery id is a hash of webhook id and second, not unique."""
    refunds = ",".join(sorted(str(r.get("id")) for r in _refunds(order)))
    parts = (topic, id_string(require(order, "id")), str(order.get("status", "")),
             str(order.get("date_modified_gmt", "")), refunds)
    return ":".join(parts)


def convert(topic: str, order: dict, source, click_params) -> list[ConversionEvent]:
    """An order's state → sale, refunds and reversal; ingest keeps only what it has not seen."""
    kind = source.topics.get(topic)
    if kind == "ignore" or topic in IGNORED_TOPICS or topic not in HANDLERS:
        raise IgnoredEventError(f"topic {topic or '(none)'} is not used")
    params = list(dict.fromkeys([*source.click_params, *click_params]))
    conversions = HANDLERS[topic](order, source, params)
    if not conversions:
        raise IgnoredEventError(f"order in status {order.get('status')!r}: not a conversion")
    return conversions


def _order_state(order: dict, source, click_params) -> list[ConversionEvent]:
    status = order.get("status")
    conversions = [_sale(order, click_params)] if status in source.paid_statuses else []
    conversions += [_refund(order, entry) for entry in _refunds(order)]
    paid = order.get("date_paid_gmt") or order.get("date_paid")
    if status in source.reversal_statuses and paid:
        conversions.append(_reversal(order, f"status:{status}"))
    return conversions


def _sale(order: dict, click_params) -> ConversionEvent:
    currency = currency_code(require(order, "currency", str))
    total, tax, shipping, discounts = (from_string(order.get(name) or "0", currency) for name in
                                       ("total", "total_tax", "shipping_total", "discount_total"))
    money = Money(total=total, net=max(total - tax - shipping, Decimal(0)), discounts=discounts,
                  tax=tax, shipping=shipping,
                  prices_include_tax=order.get("prices_include_tax") is True)
    click_id, param = order_click(order, click_params)
    billing = order.get("billing") or {}
    return ConversionEvent(
        kind="sale", txn_id=_order_id(order), order_id=_order_id(order), currency=currency,
        money=money, click_id=click_id, click_param=param, coupons=_coupons(order),
        email_sha256=email_sha256(billing.get("email")),
        customer_id=_customer(order.get("customer_id")), cart_token=_text(order.get("cart_hash")),
        is_test=any(m.get("key") == TEST_META_KEY for m in _meta(order)),
        occurred_at=parse_time(order.get("date_paid_gmt") or order.get("date_created_gmt")))


def _refund(order: dict, entry: dict) -> ConversionEvent:
    """refunds[] entries carry the refund's total as a negative string."""
    currency = currency_code(require(order, "currency", str))
    amount = from_string(str(require(entry, "total")).strip().lstrip("-"), currency)
    return ConversionEvent(
        kind="refund", txn_id=_order_id(order), order_id=_order_id(order), currency=currency,
        refund_id=id_string(require(entry, "id")), refund_amount=amount,
        occurred_at=parse_time(order.get("date_modified_gmt")))


def _reversal(order: dict, refund_id: str) -> ConversionEvent:
    currency = currency_code(order["currency"]) if order.get("currency") else ""
    return ConversionEvent(
        kind="reversal", txn_id=_order_id(order), order_id=_order_id(order), currency=currency,
        refund_id=refund_id, occurred_at=parse_time(order.get("date_modified_gmt")))


def _deleted(order: dict, source, click_params) -> list[ConversionEvent]:
    """WooCommerce sends only {"id": …} for a deleted order."""
    if source.deleted != "reversal":
        raise IgnoredEventError("order.deleted: ignored unless `deleted: reversal`")
    return [_reversal(order, "deleted")]


def order_click(order: dict, click_params) -> tuple[str, str]:
    """A meta_data key (leading underscore or not), then the attribution session-entry query."""
    meta = _meta(order)
    found = find_click([(m.get("key"), m.get("value")) for m in meta], click_params)
    if found[0]:
        return found
    entry = next((m.get("value") for m in meta
                  if str(m.get("key", "")).lstrip("_") == SESSION_ENTRY_KEY), None)
    return find_click(query_pairs(entry), click_params)


def _meta(order: dict) -> list[dict]:
    return [m for m in order.get("meta_data") or [] if isinstance(m, dict)]


def _refunds(order: dict) -> list[dict]:
    return [r for r in order.get("refunds") or [] if isinstance(r, dict)]


def _coupons(order: dict) -> tuple[str, ...]:
    lines = order.get("coupon_lines") or []
    return tuple(c["code"] for c in lines if isinstance(c, dict) and isinstance(c.get("code"), str))


def _order_id(order: dict) -> str:
    return id_string(require(order, "id"))


def _customer(value) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and value else ""


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def parse_time(value) -> datetime | None:
    """WooCommerce's *_gmt fields: ISO 8601 without offset, in UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return None


HANDLERS = {
    "order.created": _order_state,
    "order.updated": _order_state,
    "order.deleted": _deleted,
}
