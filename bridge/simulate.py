"""`bridge simulate`: a correctly signed store webhook sent to a running bridge."""

import json
import secrets
import time
from decimal import Decimal

import requests

from bridge import signing
from connectors.money import currency_code, exponent


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


def send(source, public_url: str, click_id: str, amount: Decimal, currency: str):
    """POST a signed simulated order to /webhooks/<source>; the response."""
    if source.platform != "stripe":
        raise ValueError(f"simulate supports stripe sources so far, not {source.platform}")
    body = stripe_checkout(click_id, amount, currency)
    headers = {"Content-Type": "application/json",
               "Stripe-Signature": signing.stripe_header(body, source.secret[0])}
    return requests.post(f"{public_url}/webhooks/{source.name}", data=body, headers=headers,
                         timeout=10)
