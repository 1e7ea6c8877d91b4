"""Stripe: signatures verified by the stripe library; Checkout, invoices, refunds, disputes."""

from dataclasses import replace

# Bound once: the stripe package resolves each attribute through an import on every access.
from stripe import SignatureVerificationError, WebhookSignature

from connectors.base import (
    ConversionEvent,
    Money,
    Webhook,
    body_key,
    email_sha256,
    find_click,
    from_unix,
    header,
    id_string,
    load_json,
    require,
)
from connectors.errors import IgnoredEventError, InvalidPayloadError, SignatureError
from connectors.money import currency_code, from_minor

TOLERANCE_S = 300
# Stripe's own minor units where they differ from ISO 4217 (docs.stripe.com/currencies).
STRIPE_EXPONENTS = {"MGA": 0, "ISK": 2}
TOPIC_HEADER = ""  # the topic is the event's `type`, in the body
delivery_key = body_key  # the inbox key, before any parsing (the event id is in the body)
OPT_IN_TOPICS = {"payment_intent.succeeded"}
EVENTS_TO_REGISTER = [
    "checkout.session.completed", "checkout.session.async_payment_succeeded", "invoice.paid",
    "charge.refunded", "charge.dispute.closed",
]


def verify(raw_body: bytes, headers, source) -> None:
    """Accept if any v1 signature matches any of the source's secrets, within 300 s."""
    signature = header(headers, "Stripe-Signature")
    if not signature:
        raise SignatureError("missing Stripe-Signature header")
    payload = raw_body.decode("utf-8", errors="replace")
    for secret in source.secret:
        try:
            WebhookSignature.verify_header(payload, signature, secret, TOLERANCE_S)
            return
        except SignatureVerificationError as exc:
            error = exc
    raise SignatureError(str(error.user_message or error))


def parse(raw_body: bytes, headers, source, click_params=("click_id",)) -> Webhook:
    """A verified Stripe event → its conversions, or Ignored/InvalidPayload errors."""
    event = load_json(raw_body)
    event_id, topic = id_string(require(event, "id")), str(require(event, "type", str))
    obj = require(require(event, "data", dict), "object", dict)
    kind = source.topics.get(topic)
    if kind == "ignore" or (topic in OPT_IN_TOPICS and not kind) or topic not in HANDLERS:
        raise IgnoredEventError(f"topic {topic} is not used", event_id=event_id, topic=topic)
    try:
        conversions = HANDLERS[topic](obj, source, list(click_params))
    except (IgnoredEventError, InvalidPayloadError) as exc:
        exc.event_id, exc.topic = event_id, topic
        raise
    test = event.get("livemode") is False
    conversions = [replace(c, kind=kind or c.kind, is_test=test) for c in conversions]
    return Webhook(event_id, topic, tuple(conversions), event)


def _amount(units, currency):
    return from_minor(units or 0, currency, STRIPE_EXPONENTS)


def _checkout_session(session, source, click_params):
    status = session.get("payment_status")
    if status == "unpaid":
        raise IgnoredEventError("payment not yet received: waiting for async_payment_succeeded")
    currency = currency_code(require(session, "currency", str))
    details = session.get("total_details") or {}
    total = _amount(require(session, "amount_total", int), currency)
    tax, shipping = (_amount(details.get(k), currency) for k in ("amount_tax", "amount_shipping"))
    money = Money(total=total, net=max(total - tax - shipping, 0 * total),
                  subtotal=_amount(session.get("amount_subtotal"), currency),
                  discounts=_amount(details.get("amount_discount"), currency), tax=tax,
                  shipping=shipping)
    click_id, param = _session_click(session, click_params)
    customer = session.get("customer_details") or {}
    txn = session.get("payment_intent") or session.get("invoice") or require(session, "id")
    return [ConversionEvent(
        kind="sale" if status == "paid" else "lead", txn_id=id_string(txn),
        order_id=id_string(require(session, "id")), currency=currency, money=money,
        click_id=click_id, click_param=param, email_sha256=email_sha256(customer.get("email")),
        customer_id=_string(session.get("customer")),
        subscription_id=_string(session.get("subscription")),
        occurred_at=from_unix(session.get("created")))]


def _session_click(session, click_params) -> tuple[str, str]:
    """client_reference_id first (Payment Links pass it through), then a metadata key."""
    reference = session.get("client_reference_id")
    if isinstance(reference, str) and reference.strip():
        return reference.strip(), "client_reference_id"
    metadata = session.get("metadata") or {}
    return find_click(metadata.items() if isinstance(metadata, dict) else [], click_params)


def _payment_intent(intent, source, click_params):
    currency = currency_code(require(intent, "currency", str))
    total = _amount(intent.get("amount_received") or require(intent, "amount", int), currency)
    metadata = intent.get("metadata") or {}
    click_id, param = find_click(metadata.items() if isinstance(metadata, dict) else [],
                                 click_params)
    return [ConversionEvent(
        kind="sale", txn_id=id_string(require(intent, "id")), order_id=id_string(intent["id"]),
        currency=currency, money=Money(total=total, net=total), click_id=click_id,
        click_param=param, customer_id=_string(intent.get("customer")),
        email_sha256=email_sha256(intent.get("receipt_email")),
        occurred_at=from_unix(intent.get("created")))]


def _invoice_paid(invoice, source, click_params):
    if invoice.get("billing_reason") == "subscription_create":
        raise IgnoredEventError("first invoice of a subscription: counted with its checkout")
    subscription = _invoice_subscription(invoice)
    if not subscription:
        raise IgnoredEventError("invoice without a subscription")
    currency = currency_code(require(invoice, "currency", str))
    total = _amount(invoice.get("amount_paid", invoice.get("total")), currency)
    tax = _amount(invoice.get("tax") or _sum_taxes(invoice), currency)
    net = invoice.get("total_excluding_tax")
    money = Money(total=total, net=_amount(net, currency) if isinstance(net, int) else total - tax,
                  subtotal=_amount(invoice.get("subtotal"), currency), tax=tax)
    click_id, param = find_click(_subscription_metadata(invoice).items(), click_params)
    return [ConversionEvent(
        kind="renewal", click_id=click_id, click_param=param,
        txn_id=id_string(_invoice_payment_intent(invoice) or invoice["id"]),
        order_id=id_string(require(invoice, "id")), currency=currency, money=money,
        customer_id=_string(invoice.get("customer")), subscription_id=subscription,
        email_sha256=email_sha256(invoice.get("customer_email")),
        occurred_at=from_unix(invoice.get("created")))]


def _invoice_subscription(invoice) -> str:
    """Top-level before API 2025-03 (basil); under parent.subscription_details since."""
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _string(invoice.get("subscription") or parent.get("subscription"))


def _subscription_metadata(invoice) -> dict:
    """Metadata set through subscription_data.metadata at checkout: a renewal's own click id."""
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    details = parent or invoice.get("subscription_details") or {}
    metadata = details.get("metadata") if isinstance(details, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _invoice_payment_intent(invoice) -> str:
    payments = ((invoice.get("payments") or {}).get("data") or [{}])[0].get("payment") or {}
    return _string(invoice.get("payment_intent") or payments.get("payment_intent"))


def _sum_taxes(invoice) -> int:
    return sum(t.get("amount", 0) for t in invoice.get("total_taxes") or [] if isinstance(t, dict))


def _charge_refunded(charge, source, click_params):
    """One refund per Stripe refund; without the list, one per increase of amount_refunded."""
    currency = currency_code(require(charge, "currency", str))
    txn = id_string(charge.get("payment_intent") or charge.get("invoice") or require(charge, "id"))
    common = dict(kind="refund", txn_id=txn, order_id=txn, currency=currency,
                  occurred_at=from_unix(charge.get("created")))
    refunds = (charge.get("refunds") or {}).get("data")
    if isinstance(refunds, list) and refunds:
        return [ConversionEvent(**common, refund_id=id_string(require(r, "id")),
                                refund_amount=_amount(require(r, "amount", int), currency))
                for r in refunds if r.get("status") in ("succeeded", "pending", None)]
    cumulative = require(charge, "amount_refunded", int)
    return [ConversionEvent(**common, refund_id=f"{charge['id']}@{cumulative}",
                            refunded_total=_amount(cumulative, currency))]


def _dispute_closed(dispute, source, click_params):
    if dispute.get("status") != "lost":
        raise IgnoredEventError(f"dispute closed as {dispute.get('status')}: nothing to reverse")
    currency = currency_code(require(dispute, "currency", str))
    txn = id_string(dispute.get("payment_intent") or require(dispute, "charge"))
    return [ConversionEvent(
        kind="reversal", txn_id=txn, order_id=txn, currency=currency,
        refund_id=id_string(require(dispute, "id")),
        refund_amount=_amount(require(dispute, "amount", int), currency),
        occurred_at=from_unix(dispute.get("created")))]


def _string(value) -> str:
    return value if isinstance(value, str) else ""


HANDLERS = {
    "checkout.session.completed": _checkout_session,
    "checkout.session.async_payment_succeeded": _checkout_session,
    "payment_intent.succeeded": _payment_intent,
    "invoice.paid": _invoice_paid,
    "charge.refunded": _charge_refunded,
    "charge.dispute.closed": _dispute_closed,
}
