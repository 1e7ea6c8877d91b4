"""Stripe events for tests: built like Stripe's, signed at test time (documented algorithm)."""

import json
import time

from bridge import signing
from tests.conftest import FIXTURES, STRIPE_SECRET


def checkout_session(event_id="evt_test_1", click_id="clk_abc", amount_total=2800, tax=300,
                     shipping=500, currency="eur", payment_intent="pi_test_1", livemode=True,
                     payment_status="paid", **session_fields) -> dict:
    session = {
        "id": f"cs_{event_id}", "object": "checkout.session", "mode": "payment",
        "payment_status": payment_status, "client_reference_id": click_id,
        "payment_intent": payment_intent, "amount_subtotal": amount_total - tax - shipping,
        "amount_total": amount_total, "currency": currency, "created": 1_763_900_000,
        "customer_details": {"email": "Buyer@Example.com", "name": "Ann Buyer"},
        "metadata": {},
        "total_details": {"amount_discount": 0, "amount_shipping": shipping, "amount_tax": tax},
        **session_fields,
    }
    return event(event_id, "checkout.session.completed", session, livemode)


def event(event_id: str, topic: str, obj: dict, livemode: bool = True) -> dict:
    return {"id": event_id, "object": "event", "type": topic, "created": 1_763_900_000,
            "livemode": livemode, "api_version": "2026-06-24.dahlia", "data": {"object": obj}}


def fixture(name: str) -> bytes:
    return (FIXTURES / "stripe" / f"{name}.json").read_bytes()


def body(data: dict) -> bytes:
    return json.dumps(data, indent=2).encode()


def headers(raw: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> dict:
    return {"Content-Type": "application/json",
            "Stripe-Signature": signing.stripe_header(raw, secret, timestamp or int(time.time()))}


def post(client, data, source="stripe", secret=STRIPE_SECRET, **kwargs):
    raw = data if isinstance(data, bytes) else body(data)
    return client.post(f"/webhooks/{source}", data=raw, headers=headers(raw, secret), **kwargs)
