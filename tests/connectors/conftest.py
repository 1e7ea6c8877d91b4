"""A bridge with a Shopify and a WooCommerce source beside the Stripe one."""

import pytest

from tests import shop_events as ev
from tests.conftest import base_config

CLICK_PARAMS = ["click_id", "aff_click_id", "irclickid", "awc"]


def shop_sources(**overrides) -> list[dict]:
    shop = {"name": "shop", "platform": "shopify",
            "secret": ["${TEST_SHOPIFY_SECRET}", "${TEST_SHOPIFY_OLD_SECRET}"],
            "shop_domain": ev.SHOP_DOMAIN, **overrides.get("shop", {})}
    woo = {"name": "woo", "platform": "woocommerce", "secret": "${TEST_WOO_SECRET}",
           "site_url": ev.WOO_SITE, **overrides.get("woo", {})}
    return [shop, woo]


@pytest.fixture
def shop_config(database_url, redis_url, network_server, monkeypatch):
    """make(**overrides) → a config dict with both store sources (and the Stripe one)."""
    monkeypatch.setenv("TEST_SHOPIFY_SECRET", ev.SHOPIFY_SECRET)
    monkeypatch.setenv("TEST_SHOPIFY_OLD_SECRET", ev.SHOPIFY_OLD_SECRET)
    monkeypatch.setenv("TEST_WOO_SECRET", ev.WOO_SECRET)

    def make(**overrides) -> dict:
        config = base_config(database_url, redis_url, network_server.url)
        config["sources"] += shop_sources(**overrides)
        config["attribution"] = {"click_params": CLICK_PARAMS}
        return config

    return make


@pytest.fixture
def shops(write_config, shop_config, redis):
    """A Runtime with the Shopify source `shop` and the WooCommerce source `woo`."""
    return write_config(shop_config())


@pytest.fixture
def shop_client(shops):
    from bridge.app import create_app
    return create_app(shops).test_client()
