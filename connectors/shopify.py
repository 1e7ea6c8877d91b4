"""Shopify: X-Shopify-Hmac-Sha256 over the raw body; orders, refunds and cancellations."""

from dataclasses import replace
from datetime import UTC, datetime
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
from connectors.errors import IgnoredEventError, InvalidPayloadError, SignatureError
from connectors.money import currency_code, from_string

TOPIC_HEADER = "X-Shopify-Topic"
TOPICS_TO_REGISTER = ["orders/paid", "refunds/create", "orders/cancelled"]
IGNORED_TOPICS = {"customers/create", "orders/updated", "orders/fulfilled", "carts/create",
                  "carts/update", "checkouts/create", "checkouts/update", "app/uninstalled"}
VISITOR_ATTRIBUTE = "_pbb_visitor"  # written into the cart by /snippet.js


def verify(raw_body: bytes, headers, source) -> None:
    """Base64 HMAC-SHA256 of the raw body with any of the source's secrets, from its shop."""
    verify_base64_hmac(raw_body, headers, "X-Shopify-Hmac-Sha256", source.secret)
    shop = header(headers, "X-Shopify-Shop-Domain").lower()
    if source.shop_domain and shop != source.shop_domain.lower():
        raise SignatureError(f"webhook from shop {shop[:80]!r}, not {source.shop_domain!r}")


def parse(raw_body: bytes, headers, source, click_params=("click_id",)) -> Webhook:
    """A verified Shopify delivery → its conversions, or Ignored/InvalidPayload errors."""
    topic = header(headers, TOPIC_HEADER)
    event_id = event_key(headers, topic)
    try:
        resource = load_json(raw_body)
        return Webhook(event_id, topic, tuple(convert(topic, resource, source, click_params)),
                       resource)
    except (IgnoredEventError, InvalidPayloadError) as exc:
        exc.event_id, exc.topic = event_id, topic
        raise


def delivery_key(raw_body: bytes, headers, topic: str) -> str:
    """The inbox key, before any parsing: the event id, as the events table keys it."""
    try:
        return event_key(headers, topic)
    except InvalidPayloadError:  # the inbox pass stores it as invalid, with the reason
        return body_key(raw_body, headers, topic)


def event_key(headers, topic: str) -> str:
    """X-Shopify-Event-Id (one merchant action, so per topic) or the per-delivery webhook id."""
    event = header(headers, "X-Shopify-Event-Id")
    if event:
        return f"{topic}:{event}"
    delivery = header(headers, "X-Shopify-Webhook-Id")
    if not delivery:
        raise InvalidPayloadError("missing X-Shopify-Webhook-Id header", topic=topic)
    return delivery


def convert(topic: str, resource: dict, source, click_params) -> list[ConversionEvent]:
    """One REST resource of a topic → conversions (shared by webhooks and reconcile)."""
    kind = source.topics.get(topic)
    if kind == "ignore" or topic in IGNORED_TOPICS or topic not in HANDLERS:
        raise IgnoredEventError(f"topic {topic or '(none)'} is not used")
    if topic == "orders/create" and source.credit_on != "create" and not kind:
        raise IgnoredEventError("orders/create: this source credits on orders/paid")
    params = list(dict.fromkeys([*source.click_params, *click_params]))
    conversions = HANDLERS[topic](resource, source, params)
    return [_with_kind(c, kind) for c in conversions] if kind else conversions


def _with_kind(conversion: ConversionEvent, kind: str) -> ConversionEvent:
    return replace(conversion, kind=kind)


def _currency(order: dict, source) -> str:
    """Shop currency by default; the buyer's with `presentment_currency: true`."""
    field = "presentment_currency" if source.presentment_currency else "currency"
    return currency_code(order.get(field) or require(order, "currency", str))


def _money_field(order: dict, name: str, source, currency: str) -> Decimal:
    """A money field from its `_set` in the chosen currency, else the plain shop-money string."""
    money_set = order.get(f"{name}_set") or {}
    side = money_set.get("presentment_money" if source.presentment_currency else "shop_money")
    if isinstance(side, dict) and side.get("amount") is not None:
        return from_string(side["amount"], currency)
    return from_string(order.get(name) or "0", currency)


def _order_sale(order: dict, source, click_params) -> list[ConversionEvent]:
    currency = _currency(order, source)
    amount = {name: _money_field(order, name, source, currency)
              for name in ("total_price", "subtotal_price", "total_tax", "total_discounts",
                           "total_shipping_price")}
    included = order.get("taxes_included") is True
    net = amount["subtotal_price"] - (amount["total_tax"] if included else 0)
    money = Money(total=amount["total_price"], net=max(net, Decimal(0)),
                  subtotal=amount["subtotal_price"], discounts=amount["total_discounts"],
                  tax=amount["total_tax"], shipping=amount["total_shipping_price"],
                  prices_include_tax=included)
    return [_order_event(order, "sale", currency, click_params, money=money)]


def _order_event(order: dict, kind: str, currency: str, click_params, **fields):
    order_id = id_string(require(order, "id"))
    click_id, param = order_click(order, click_params)
    customer = order.get("customer") or {}
    return ConversionEvent(
        kind=kind, txn_id=order_id, order_id=order_id, currency=currency, click_id=click_id,
        click_param=param, coupons=_coupons(order),
        email_sha256=email_sha256(order.get("email") or order.get("contact_email")),
        customer_id=_id_or_blank(customer.get("id")), cart_token=_text(order.get("cart_token")),
        checkout_token=_text(order.get("checkout_token")), is_test=order.get("test") is True,
        visitor_id=_note_attribute(order, VISITOR_ATTRIBUTE),
        occurred_at=parse_time(order.get("processed_at") or order.get("created_at")), **fields)


def order_click(order: dict, click_params) -> tuple[str, str]:
    """Cart attributes (note_attributes) first, then the landing page's query string."""
    attributes = order.get("note_attributes") or []
    pairs = [(a.get("name"), a.get("value")) for a in attributes if isinstance(a, dict)]
    found = find_click(pairs, click_params)
    return found if found[0] else find_click(query_pairs(order.get("landing_site")), click_params)


def _note_attribute(order: dict, name: str) -> str:
    for attribute in order.get("note_attributes") or []:
        if isinstance(attribute, dict) and attribute.get("name") == name:
            return _text(attribute.get("value"))[:64]
    return ""


def _coupons(order: dict) -> tuple[str, ...]:
    codes = order.get("discount_codes") or []
    return tuple(c["code"] for c in codes if isinstance(c, dict) and isinstance(c.get("code"), str))


def _refund(refund: dict, source, click_params) -> list[ConversionEvent]:
    """Gross from the refund's transactions when they are in our currency, else from its lines."""
    order_id = id_string(require(refund, "order_id"))
    transactions = [t for t in refund.get("transactions") or []
                    if isinstance(t, dict) and t.get("kind") == "refund"
                    and t.get("status") in ("success", None)]
    currency = _refund_currency(refund, transactions, source)
    lines = _refund_lines(refund, source, currency)
    gross = _transactions_total(transactions, currency)
    if gross is None:
        gross = lines["subtotal"] + lines["tax"] + lines["shipping"]
    if gross <= 0:
        raise IgnoredEventError("refund without money refunded")
    return [ConversionEvent(
        kind="refund", txn_id=order_id, order_id=order_id, currency=currency,
        refund_id=id_string(require(refund, "id")), refund_amount=gross,
        refund_net=lines["subtotal"] if _has_lines(refund) else None,
        occurred_at=parse_time(refund.get("processed_at") or refund.get("created_at")))]


def _has_lines(refund: dict) -> bool:
    """Refunded lines or shipping say the net share exactly (shipping-only refunds net 0)."""
    return bool(refund.get("refund_line_items") or refund.get("refund_shipping_lines"))


def _refund_currency(refund: dict, transactions, source) -> str:
    """The refund's lines say both currencies; transactions only the presentment one."""
    side = "presentment_money" if source.presentment_currency else "shop_money"
    for item in _money_sets(refund):
        code = (item.get(side) or {}).get("currency_code")
        if code:
            return currency_code(code)
    if transactions:
        return currency_code(transactions[0].get("currency"))
    raise InvalidPayloadError("refund names no currency")


def _money_sets(refund: dict):
    for line in refund.get("refund_line_items") or []:
        yield from (line.get(k) or {} for k in ("subtotal_set", "total_tax_set"))
    for line in refund.get("refund_shipping_lines") or []:
        yield line.get("subtotal_amount_set") or {}


def _refund_lines(refund: dict, source, currency: str) -> dict[str, Decimal]:
    """Refunded line subtotals, their tax and refunded shipping, in the chosen currency."""
    side = "presentment_money" if source.presentment_currency else "shop_money"

    def amount(money_set) -> Decimal:
        value = ((money_set or {}).get(side) or {}).get("amount")
        return from_string(value, currency) if value is not None else Decimal(0)

    items = [i for i in refund.get("refund_line_items") or [] if isinstance(i, dict)]
    shipping = [s for s in refund.get("refund_shipping_lines") or [] if isinstance(s, dict)]
    return {"subtotal": sum((amount(i.get("subtotal_set")) for i in items), Decimal(0)),
            "tax": sum((amount(i.get("total_tax_set")) for i in items), Decimal(0)),
            "shipping": sum((amount(s.get("subtotal_amount_set")) for s in shipping), Decimal(0))}


def _transactions_total(transactions, currency: str) -> Decimal | None:
    """What the refund's transactions paid back, when they are in `currency`; else None."""
    if not transactions or any(t.get("currency") != currency for t in transactions):
        return None
    return sum((from_string(require(t, "amount"), currency) for t in transactions), Decimal(0))


def _cancelled(order: dict, source, click_params) -> list[ConversionEvent]:
    """A cancelled order reverses what is left of its sale (ingest caps it)."""
    currency = _currency(order, source)
    total = _money_field(order, "total_price", source, currency)
    return [_order_event(order, "reversal", currency, click_params, refund_id="cancelled",
                         refund_amount=total)]


def parse_time(value) -> datetime | None:
    """Shopify's ISO 8601 with offset → naive UTC."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _id_or_blank(value) -> str:
    return id_string(value) if isinstance(value, (str, int)) and value != "" else ""


HANDLERS = {
    "orders/paid": _order_sale,
    "orders/create": _order_sale,
    "refunds/create": _refund,
    "orders/cancelled": _cancelled,
}
