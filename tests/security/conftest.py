"""A bridge set up like a merchant's for hostile-input tests: one source per platform the
registry knows, the API, click capture, the admin, and a network with a credential."""

import time

import pytest
from sqlalchemy import func, select

from bridge import signing
from bridge.app import create_app
from bridge.storage.models import Delivery, Event
from connectors import CONNECTORS
from tests.conftest import STRIPE_SECRET, base_config

SHOP_SECRET = "shpss_secret_for_hostile_tests_1"
WOO_SECRET = "wc_secret_for_hostile_tests_0001"
API_TOKEN = "api-token-for-hostile-tests-42"
ADMIN_TOKEN = "admin-token-for-tests"
SECRET_KEY = "flask-secret-key-for-hostile-tests"
NETWORK_TOKEN = "network-bearer-for-hostile-tests"
SHOP_DOMAIN = "hostile.myshopify.com"
SITE_URL = "https://shop.example.com"
ORIGIN = "https://shop.example.com"
SECRETS = (STRIPE_SECRET, SHOP_SECRET, WOO_SECRET, API_TOKEN, ADMIN_TOKEN, SECRET_KEY,
           NETWORK_TOKEN)
ALL_SOURCES = {
    "stripe": {"secret": "${TEST_STRIPE_SECRET}"},
    "shopify": {"secret": "${TEST_SHOP_SECRET}", "shop_domain": SHOP_DOMAIN},
    "woocommerce": {"secret": "${TEST_WOO_SECRET}", "site_url": SITE_URL},
}
SECRET_OF = {"stripe": STRIPE_SECRET, "shopify": SHOP_SECRET, "woocommerce": WOO_SECRET}
PLATFORMS = sorted(p for p in ALL_SOURCES if p in CONNECTORS)


def hostile_config(database_url: str, redis_url: str, network_url: str) -> dict:
    config = base_config(database_url, redis_url, network_url)
    config["server"].update(api_token="${TEST_API_TOKEN}", secret_key="${TEST_SECRET_KEY}")
    config["sources"] = [{"name": platform, "platform": platform, **ALL_SOURCES[platform]}
                         for platform in PLATFORMS]
    config["networks"][0]["auth"] = {"type": "bearer", "token": "${TEST_NETWORK_TOKEN}"}
    config["attribution"] = {"click_params": ["click_id"], "redirect_hosts": ["shop.example.com"],
                             "store_origins": [ORIGIN], "rate_limit_per_minute": 0}
    return config


@pytest.fixture
def hostile(write_config, database_url, redis_url, redis, network_server, monkeypatch):
    """The Runtime of a fully configured bridge."""
    for name, value in (("TEST_SHOP_SECRET", SHOP_SECRET), ("TEST_WOO_SECRET", WOO_SECRET),
                        ("TEST_API_TOKEN", API_TOKEN), ("TEST_SECRET_KEY", SECRET_KEY),
                        ("TEST_NETWORK_TOKEN", NETWORK_TOKEN)):
        monkeypatch.setenv(name, value)
    return write_config(hostile_config(database_url, redis_url, network_server.url))


@pytest.fixture
def hostile_client(hostile):
    return create_app(hostile).test_client()


def signed_headers(platform: str, raw: bytes, secret: str | None = None, **extra) -> dict:
    """Headers the platform would send with this body, signed by its documented algorithm."""
    secret = secret or SECRET_OF[platform]
    if platform == "stripe":
        return {"Stripe-Signature": signing.stripe_header(raw, secret, int(time.time())),
                "Content-Type": "application/json", **extra}
    digest = signing.base64_hmac(raw, secret)
    if platform == "shopify":
        return {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/paid",
                "X-Shopify-Shop-Domain": SHOP_DOMAIN, "X-Shopify-Webhook-Id": "wh-1",
                "Content-Type": "application/json", **extra}
    return {"X-WC-Webhook-Signature": digest, "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Source": SITE_URL + "/", "Content-Type": "application/json", **extra}


def row_counts(rt) -> tuple[int, int]:
    """(events, deliveries) stored."""
    with rt.session() as session:
        return (session.scalar(select(func.count(Event.id))),
                session.scalar(select(func.count(Delivery.id))))


def leaked(response) -> list[str]:
    """Every configured secret that appears in a response's body or headers."""
    text = response.get_data(as_text=True) + str(response.headers)
    return [secret for secret in SECRETS if secret in text]
