"""Shopify through the receiver: signatures, every topic and fixture, currencies, idempotency."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from bridge.storage.models import Delivery, Event
from connectors import shopify
from tests import shop_events as ev
from tests.conftest import FIXTURES

BASIC_ORDER = "5678901234567890123"

# fixture → (status, kind, amount on the net basis, currency, click id, click param)
EXPECTED = {
    "orders_paid__basic": ("accepted", "sale", "90.00", "USD", "shp_clk_1", "click_id"),
    "orders_paid__landing_site_click": ("accepted", "sale", "32.00", "USD", "lnd_abc",
                                        "irclickid"),
    "orders_paid__taxes_included": ("accepted", "sale", "100.00", "EUR", "shp_clk_3",
                                    "click_id"),
    "orders_paid__jpy": ("accepted", "sale", "1364", "JPY", "shp_clk_jpy", "click_id"),
    "orders_paid__kwd": ("accepted", "sale", "10.500", "KWD", "shp_clk_kwd", "click_id"),
    "orders_paid__test": ("accepted", "sale", "378.00", "USD", "", ""),
    "orders_paid__no_click": ("accepted", "sale", "64.00", "USD", "", ""),
    "orders_create__pending": ("ignored", None, None, "", "", ""),
    "customers_create__ignored": ("ignored", None, None, "", "", ""),
    # without their sale stored, refunds and cancellations keep their own amounts
    "refunds_create__partial": ("accepted", "refund", "33.00", "USD", "", ""),
    "refunds_create__shipping_only": ("accepted", "refund", "10.00", "USD", "", ""),
    "orders_cancelled__basic": ("accepted", "reversal", "109.00", "USD", "", ""),
}


def stored(rt) -> list[Event]:
    with rt.session() as session:
        rows = session.scalars(select(Event).order_by(Event.id)).all()
        session.expunge_all()
        return rows


def test_every_fixture_has_an_expectation_and_every_topic_a_fixture():
    names = {p.stem for p in (FIXTURES / "shopify").glob("*.json")}
    assert names == set(EXPECTED)
    assert set(shopify.HANDLERS) <= {ev.topic_of(n) for n in names}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(shop_client, shops, name):
    status, kind, amount, currency, click_id, param = EXPECTED[name]
    response = ev.post_shopify(shop_client, name)
    assert (response.status_code, response.json["status"]) == (200, "accepted")
    [event] = stored(shops)
    assert (event.status, event.kind, event.currency) == (status, kind, currency or event.currency)
    if amount is not None:
        assert event.amount == Decimal(amount) and str(event.amount) == amount
    assert (event.click_id, event.click_param) == (click_id, param)


def test_big_order_ids_stay_exact(shop_client, shops):
    ev.post_shopify(shop_client, "orders_paid__basic")
    [event] = stored(shops)
    assert (event.order_id, event.txn_id) == (BASIC_ORDER, BASIC_ORDER)
    assert event.customer_id == "7234567890123456789"
    assert event.coupons == ["SPRING10"]
    assert event.money["total"] == "109.00" and event.money["tax"] == "9.00"


def test_test_notification_is_marked_test(shop_client, shops):
    ev.post_shopify(shop_client, "orders_paid__test")
    [event] = stored(shops)
    assert event.is_test and event.order_id == "820982911946154508"


def test_no_click_order_leaves_the_click_store_keys(shop_client, shops):
    ev.post_shopify(shop_client, "orders_paid__no_click")
    [event] = stored(shops)
    assert event.cart_token == "Z2NwLXVzLWVhc3QxOjAxSlo4UTBGQUtFMDAwNw"
    assert event.customer_id == "7234567890123456795"
    assert len(event.email_sha256) == 64 and "@" not in event.email_sha256


def test_sale_then_refunds_then_cancel_never_exceed_the_sale(shop_client, shops):
    for name in ("orders_paid__basic", "refunds_create__partial",
                 "refunds_create__shipping_only", "orders_cancelled__basic"):
        assert ev.post_shopify(shop_client, name).status_code == 200
    events = stored(shops)
    assert [(e.kind, e.status, e.amount) for e in events] == [
        ("sale", "accepted", Decimal("90.00")),
        ("refund", "accepted", Decimal("30.00")),  # line subtotals, shop money (not 30.36 EUR)
        ("refund", "ignored", None),  # shipping only: outside the net basis, nothing to send
        ("reversal", "accepted", Decimal("60.00")),  # what is left of the sale
    ]
    assert [events[1].money["total"], events[3].money["total"]] == ["33.00", "76.00"]
    with shops.session() as session:
        kinds = session.scalars(select(Delivery.kind).order_by(Delivery.id)).all()
    assert kinds == ["sale", "refund", "reversal"]
    assert [e.click_id for e in events] == ["shp_clk_1", "shp_clk_1", "", "shp_clk_1"]


def test_presentment_currency_option_uses_the_buyers_money(write_config, shop_config):
    rt = write_config(shop_config(shop={"presentment_currency": True, "amount": "total"}))
    from bridge.app import create_app
    client = create_app(rt).test_client()
    ev.post_shopify(client, "orders_paid__basic")
    ev.post_shopify(client, "refunds_create__partial")
    sale, refund = stored(rt)
    assert (sale.currency, sale.amount) == ("EUR", Decimal("100.28"))
    assert (refund.currency, refund.amount) == ("EUR", Decimal("30.36"))  # the transaction


def test_credit_on_create_counts_the_order_once(write_config, shop_config):
    rt = write_config(shop_config(shop={"credit_on": "create"}))
    from bridge.app import create_app
    client = create_app(rt).test_client()
    raw = ev.fixture("shopify", "orders_paid__basic")
    assert ev.post_shopify(client, raw, topic="orders/create").json["status"] == "accepted"
    assert ev.post_shopify(client, raw, topic="orders/paid").json["status"] == "accepted"
    assert [(e.kind, e.status) for e in stored(rt)] == [("sale", "accepted"),
                                                        ("sale", "duplicate")]


def test_redelivery_is_one_event_and_one_delivery(shop_client, shops):
    first = ev.post_shopify(shop_client, "orders_paid__basic", webhook_id="wh-1")
    again = ev.post_shopify(shop_client, "orders_paid__basic", webhook_id="wh-1")
    assert (first.json["status"], again.json["status"]) == ("accepted", "duplicate")
    with shops.session() as session:
        assert len(session.scalars(select(Event)).all()) == 1
        assert len(session.scalars(select(Delivery)).all()) == 1


def test_same_event_id_on_two_subscriptions_is_a_duplicate(shop_client, shops):
    ev.post_shopify(shop_client, "orders_paid__basic", event_id="ev-7")
    again = ev.post_shopify(shop_client, "orders_paid__basic", event_id="ev-7")
    assert again.json["status"] == "duplicate"
    assert len(stored(shops)) == 1


def test_old_secret_is_accepted_during_rotation(shop_client, shops):
    response = ev.post_shopify(shop_client, "orders_paid__basic", secret=ev.SHOPIFY_OLD_SECRET)
    assert response.json["status"] == "accepted"


@pytest.mark.parametrize("headers", [
    {"X-Shopify-Hmac-Sha256": None},
    {"X-Shopify-Hmac-Sha256": "not base64 at all!"},
    {"X-Shopify-Hmac-Sha256": "c29tZXRoaW5nIGVsc2U="},
    {"X-Shopify-Shop-Domain": "another-shop.myshopify.com"},
], ids=["missing", "not-base64", "wrong", "other-shop"])
def test_bad_signature_is_401_and_nothing_stored(shop_client, shops, headers):
    raw = ev.fixture("shopify", "orders_paid__basic")
    sent = {k: v for k, v in {**ev.shopify_headers(raw, "orders/paid"), **headers}.items() if v}
    response = shop_client.post("/webhooks/shop", data=raw, headers=sent)
    assert response.status_code == 401
    assert stored(shops) == []


def test_wrong_secret_and_tampered_body_are_401(shop_client, shops):
    raw = ev.fixture("shopify", "orders_paid__basic")
    wrong = ev.shopify_headers(raw, "orders/paid", secret="someone-else")
    assert shop_client.post("/webhooks/shop", data=raw, headers=wrong).status_code == 401
    good = ev.shopify_headers(raw, "orders/paid")
    tampered = raw.replace(b'"subtotal_price":"90.00"', b'"subtotal_price":"990.00"')
    assert tampered != raw
    assert shop_client.post("/webhooks/shop", data=tampered, headers=good).status_code == 401
    assert stored(shops) == []


def test_signed_but_broken_order_is_stored_invalid(shop_client, shops):
    raw = ev.edited("shopify", "orders_paid__basic", currency="ZZZ", presentment_currency="ZZZ")
    response = ev.post_shopify(shop_client, raw, topic="orders/paid")
    assert (response.status_code, response.json["status"]) == (200, "accepted")
    [event] = stored(shops)
    assert event.status == "invalid" and "currency" in event.reason
