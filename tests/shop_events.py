"""Shopify and WooCommerce deliveries for tests: fixture bytes, signed at test time."""

import json
import uuid

from bridge import signing
from tests.conftest import FIXTURES

SHOPIFY_SECRET = "shpss_test_secret_for_tests_only"
SHOPIFY_OLD_SECRET = "shpss_previous_secret_in_rotation"
SHOP_DOMAIN = "example-shop.myshopify.com"
WOO_SECRET = "wc_test_secret_for_tests_only"
WOO_SITE = "https://shop.example.com/"


def fixture(platform: str, name: str) -> bytes:
    suffix = "txt" if name == "ping" else "json"
    return (FIXTURES / platform / f"{name}.{suffix}").read_bytes()


def topic_of(name: str) -> str:
    """orders_paid__basic → orders/paid; order.updated__processing → order.updated."""
    return name.split("__")[0].replace("_", "/", 1) if "." not in name else name.split("__")[0]


def shopify_headers(raw: bytes, topic: str, secret=SHOPIFY_SECRET, webhook_id=None,
                    shop=SHOP_DOMAIN, event_id=None) -> dict:
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic,
               "X-Shopify-Hmac-Sha256": signing.base64_hmac(raw, secret),
               "X-Shopify-Shop-Domain": shop, "X-Shopify-API-Version": "2026-04",
               "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
               "X-Shopify-Triggered-At": "2026-07-01T14:15:45.000Z"}
    if event_id:
        headers["X-Shopify-Event-Id"] = event_id
    return headers


def woo_headers(raw: bytes, topic: str, secret=WOO_SECRET, site=WOO_SITE) -> dict:
    resource, event = topic.split(".")
    return {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": signing.base64_hmac(raw, secret),
            "X-WC-Webhook-Source": site, "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": "0f5b7e3c9d2a4b6c8e1f3a5b7c9d1e2f",
            "User-Agent": "WooCommerce/9.9.0 Hookshot (WordPress/6.8.1)"}


def post_shopify(client, name_or_raw, topic=None, source="shop", **kwargs):
    raw = fixture("shopify", name_or_raw) if isinstance(name_or_raw, str) else name_or_raw
    topic = topic or topic_of(name_or_raw)
    return client.post(f"/webhooks/{source}", data=raw, headers=shopify_headers(raw, topic,
                                                                               **kwargs))


def post_woo(client, name_or_raw, topic=None, source="woo", **kwargs):
    raw = fixture("woocommerce", name_or_raw) if isinstance(name_or_raw, str) else name_or_raw
    topic = topic or topic_of(name_or_raw)
    return client.post(f"/webhooks/{source}", data=raw, headers=woo_headers(raw, topic, **kwargs))


def edited(platform: str, name: str, **changes) -> bytes:
    """A fixture with some top-level fields changed (compact, as the platform sends)."""
    data = json.loads(fixture(platform, name))
    data.update(changes)
    return json.dumps(data, separators=(",", ":")).encode()
