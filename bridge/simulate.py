"""`bridge simulate`: a correctly signed store webhook sent to a running bridge."""

import json
import secrets
import time
from decimal import Decimal

import requests

from bridge import signing
from connectors.money import currency_code, exponent, to_string
from connectors.woocommerce import TEST_META_KEY


def stripe_checkout(click_id: str, amount: Decimal, currency: str) -> bytes:
    """A test-mode checkout.session.completed, paid, with the click in client_reference_id."""
    code = currency_code(currency)
    minor = int(amount.scaleb(exponent(code)))
    now, suffix = int(time.time()), secrets.token_hex(8)
    session = {
        "id": f"cs_test_sim_{suffix}", "object": "checkout.session", "mode": "payment",
        "payment_status": "paid", "status": "complete", "client_reference_id": click_id,
        "payment_intent": f"pi_sim_{suffix}", "amount_subtotal": minor, "amount_total": minor,
        "currency": code.lower(), "created": now, "customer": None, "metadata": {},
        "customer_details": {"email": "simulated.buyer@example.com"},
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
    }
    event = {"id": f"evt_sim_{suffix}", "object": "event", "type": "checkout.session.completed",
             "created": now, "livemode": False, "api_version": "2026-06-24.dahlia",
             "data": {"object": session}, "pending_webhooks": 1}
    return json.dumps(event, indent=2).encode()


def shopify_order(click_id: str, amount: Decimal, currency: str) -> bytes:
    """A test orders/paid with the click in a cart attribute, like a storefront snippet sets."""
    code, order_id = currency_code(currency), 9_000_000_000_000_000_000 + secrets.randbelow(10**15)
    value = to_string(amount, code)
    order = {"id": order_id, "name": "#SIM", "currency": code, "presentment_currency": code,
             "financial_status": "paid", "test": True, "taxes_included": False,
             "subtotal_price": value, "total_price": value, "total_tax": "0",
             "total_discounts": "0", "note_attributes": [{"name": "click_id", "value": click_id}],
             "email": "simulated.buyer@example.com", "discount_codes": [],
             "processed_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}
    return json.dumps(order, separators=(",", ":")).encode()


def woocommerce_order(click_id: str, amount: Decimal, currency: str) -> bytes:
    """An order.updated in status processing with the click in order meta."""
    code, now = currency_code(currency), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    order = {"id": 900_000 + secrets.randbelow(99_999), "status": "processing", "currency": code,
             "total": to_string(amount, code), "total_tax": "0", "shipping_total": "0",
             "discount_total": "0", "date_paid_gmt": now, "date_modified_gmt": now,
             "billing": {"email": "simulated.buyer@example.com"}, "refunds": [],
             "meta_data": [{"id": 1, "key": "_click_id", "value": click_id},
                           {"id": 2, "key": TEST_META_KEY, "value": "yes"}]}
    return json.dumps(order, separators=(",", ":")).replace("/", "\\/").encode()


def _stripe_request(source, body: bytes) -> dict:
    return {"Stripe-Signature": signing.stripe_header(body, source.secret[0])}


def _shopify_request(source, body: bytes) -> dict:
    return {"X-Shopify-Topic": "orders/paid", "X-Shopify-Webhook-Id": secrets.token_hex(16),
            "X-Shopify-Shop-Domain": source.shop_domain or "simulated.myshopify.com",
            "X-Shopify-Hmac-Sha256": signing.base64_hmac(body, source.secret[0])}


def _woocommerce_request(source, body: bytes) -> dict:
    return {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Source": source.site_url,
            "X-WC-Webhook-Signature": signing.base64_hmac(body, source.secret[0])}


PLATFORMS = {"stripe": (stripe_checkout, _stripe_request),
             "shopify": (shopify_order, _shopify_request),
             "woocommerce": (woocommerce_order, _woocommerce_request)}


def send(source, public_url: str, click_id: str, amount: Decimal, currency: str):
    """POST a signed simulated order to /webhooks/<source>; the response."""
    build, sign = PLATFORMS[source.platform]
    body = build(click_id, amount, currency)
    headers = {"Content-Type": "application/json", **sign(source, body)}
    return requests.post(f"{public_url}/webhooks/{source.name}", data=body, headers=headers,
                         timeout=10)
