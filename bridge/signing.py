"""Signing as the platforms do it (for `bridge simulate` and the tests): documented algorithms."""

import base64
import hashlib
import hmac
import time


def stripe_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe-Signature: t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<payload>"))."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def base64_hmac(payload: bytes, secret: str) -> str:
    """Shopify's X-Shopify-Hmac-Sha256 and WooCommerce's X-WC-Webhook-Signature."""
    return base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()
