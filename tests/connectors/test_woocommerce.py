"""WooCommerce through the receiver: ping, signatures, order states, refunds, idempotency."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bridge.app import create_app
from bridge.storage.models import Delivery, Event, InboxWebhook
from connectors import woocommerce
from tests import shop_events as ev
from tests.conftest import FIXTURES

# fixture, posted alone → [(status, kind, amount, currency, click id, click param)]
EXPECTED = {
    "order.created__pending": [("ignored", None, None, "", "", "")],
    "order.updated__processing": [("accepted", "sale", "45.00", "EUR", "woo_clk_1",
                                   "aff_click_id")],
    "order.updated__completed": [("accepted", "sale", "45.00", "EUR", "woo_clk_1",
                                  "aff_click_id")],
    "order.updated__partial_refund": [
        ("accepted", "sale", "45.00", "EUR", "woo_clk_1", "aff_click_id"),
        ("accepted", "refund", "7.69", "EUR", "woo_clk_1", "aff_click_id")],
    "order.updated__second_refund": [
        ("accepted", "sale", "45.00", "EUR", "woo_clk_1", "aff_click_id"),
        ("accepted", "refund", "4.23", "EUR", "woo_clk_1", "aff_click_id"),
        ("accepted", "refund", "7.69", "EUR", "woo_clk_1", "aff_click_id")],
    "order.updated__cancelled": [("accepted", "reversal", None, "EUR", "", "")],
    "order.updated__session_entry_click": [("accepted", "sale", "15.00", "EUR", "woo_awc_77",
                                            "awc")],
    "order.created__jpy": [("accepted", "sale", "1364", "JPY", "woo_clk_jpy", "aff_click_id")],
    "order.created__kwd": [("accepted", "sale", "10.500", "KWD", "woo_clk_kwd",
                            "aff_click_id")],
    "order.deleted__basic": [("ignored", None, None, "", "", "")],
}


def stored(rt) -> list[Event]:
    with rt.session() as session:
        rows = session.scalars(select(Event).order_by(Event.id)).all()
        session.expunge_all()
        return rows


def summary(events) -> list[tuple]:
    return [(e.status, e.kind, None if e.amount is None else str(e.amount),
             e.currency, e.click_id, e.click_param) for e in events]


def test_every_fixture_has_an_expectation_and_every_topic_a_fixture():
    names = {p.stem for p in (FIXTURES / "woocommerce").glob("*.json")}
    assert names == set(EXPECTED)
    assert set(woocommerce.HANDLERS) <= {ev.topic_of(n) for n in names}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(shop_client, shops, name):
    response = ev.post_woo(shop_client, name)
    assert response.status_code == 200
    assert response.json["status"] == "accepted"
    got = summary(stored(shops))
    want = [(s, k, a, c or got[0][3], clk, p) for s, k, a, c, clk, p in EXPECTED[name]]
    assert got == want


def test_ping_is_200_and_stores_nothing(shop_client, shops):
    response = shop_client.post("/webhooks/woo", data=ev.fixture("woocommerce", "ping"),
                                content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.json) == (200, {"status": "ping"})
    assert stored(shops) == []


def test_one_body_under_two_topics_is_two_deliveries_and_a_resend_one(shop_client, shops):
    """The inbox keys a delivery by its topic and body's hash (the request does not parse)."""
    raw = ev.fixture("woocommerce", "order.updated__processing")
    answers = [ev.post_woo(shop_client, raw, topic=topic).json["status"]
               for topic in ("order.created", "order.updated", "order.updated")]
    assert answers == ["accepted", "accepted", "duplicate"]
    with shops.session() as session:
        assert session.scalar(select(func.count(InboxWebhook.id))) == 2
    assert [(e.topic, e.kind) for e in stored(shops)] == [("order.created", "sale")]


def test_an_order_lifecycle_sends_each_conversion_once(shop_client, shops):
    for name in ("order.created__pending", "order.updated__processing",
                 "order.updated__completed", "order.updated__partial_refund",
                 "order.updated__partial_refund", "order.updated__second_refund",
                 "order.updated__cancelled", "order.updated__cancelled"):
        assert ev.post_woo(shop_client, name).status_code == 200
    events = [e for e in stored(shops) if e.status != "ignored"]
    assert [(e.kind, e.refund_id, str(e.amount)) for e in events] == [
        ("sale", "", "45.00"), ("refund", "901", "7.69"), ("refund", "902", "4.23"),
        ("reversal", "status:cancelled", "33.08")]  # never more than the sale in total
    assert sum(e.amount for e in events[1:]) == Decimal("45.00")
    with shops.session() as session:
        kinds = session.scalars(select(Delivery.kind).order_by(Delivery.id)).all()
    assert kinds == ["sale", "refund", "refund", "reversal"]


def test_updates_out_of_order_and_merged(shop_client, shops):
    """The second refund's payload arrives first: sale and both refunds from one delivery."""
    ev.post_woo(shop_client, "order.updated__second_refund")
    ev.post_woo(shop_client, "order.updated__processing")
    assert [(e.kind, e.refund_id) for e in stored(shops)] == [
        ("sale", ""), ("refund", "902"), ("refund", "901")]
    ev.post_woo(shop_client, "order.updated__partial_refund")  # restates what is stored
    assert len(stored(shops)) == 3


def test_paid_statuses_are_configurable(write_config, shop_config):
    rt = write_config(shop_config(woo={"paid_statuses": ["completed"]}))
    client = create_app(rt).test_client()
    ev.post_woo(client, "order.updated__processing")
    ev.post_woo(client, "order.updated__completed")
    assert [e.status for e in stored(rt)] == ["ignored", "accepted"]


def test_deleted_order_can_reverse_the_sale(write_config, shop_config):
    rt = write_config(shop_config(woo={"deleted": "reversal"}))
    client = create_app(rt).test_client()
    ev.post_woo(client, "order.updated__processing")
    ev.post_woo(client, "order.deleted__basic")
    assert summary(stored(rt))[1] == ("accepted", "reversal", "45.00", "EUR", "woo_clk_1",
                                      "aff_click_id")


def test_meta_key_names_are_configurable_and_session_entry_is_the_fallback(write_config,
                                                                            shop_config):
    config = shop_config(woo={"click_params": ["aff_click_id"]})
    config["attribution"] = {"click_params": ["click_id", "awc"]}
    rt = write_config(config)
    client = create_app(rt).test_client()
    ev.post_woo(client, "order.updated__processing")
    [woo] = stored(rt)
    assert (woo.click_id, woo.click_param) == ("woo_clk_1", "aff_click_id")
    config["sources"][2]["click_params"] = []
    rt = write_config(config)
    with rt.session() as session:
        session.query(Event).delete()
        session.query(InboxWebhook).delete()  # or the same webhook again is a duplicate
    ev.post_woo(create_app(rt).test_client(), "order.updated__processing")
    [event] = stored(rt)
    assert (event.click_id, event.click_param) == ("woo_awc_9", "awc")


@pytest.mark.parametrize("change", [
    {"X-WC-Webhook-Signature": None},
    {"X-WC-Webhook-Signature": "%%% not base64"},
    {"X-WC-Webhook-Signature": "c29tZXRoaW5nIGVsc2U="},
    {"X-WC-Webhook-Source": "https://evil.example.net/"},
], ids=["missing", "not-base64", "wrong", "other-site"])
def test_bad_signature_is_401_and_nothing_stored(shop_client, shops, change):
    raw = ev.fixture("woocommerce", "order.updated__processing")
    sent = {k: v for k, v in {**ev.woo_headers(raw, "order.updated"), **change}.items() if v}
    assert shop_client.post("/webhooks/woo", data=raw, headers=sent).status_code == 401
    assert stored(shops) == []


def test_tampered_body_and_unsigned_non_ping_are_401(shop_client, shops):
    raw = ev.fixture("woocommerce", "order.updated__processing")
    headers = ev.woo_headers(raw, "order.updated")
    tampered = raw.replace(b'"total":"58.50"', b'"total":"958.50"')
    assert tampered != raw
    assert shop_client.post("/webhooks/woo", data=tampered, headers=headers).status_code == 401
    fake_ping = shop_client.post("/webhooks/woo", data=b"webhook_id=12&x=1",
                                 content_type="application/x-www-form-urlencoded")
    assert fake_ping.status_code == 401
    assert stored(shops) == []


def test_escaped_slashes_are_signed_as_sent(shop_client, shops):
    raw = ev.fixture("woocommerce", "order.updated__session_entry_click")
    assert b"\\/" in raw
    assert ev.post_woo(shop_client, raw, topic="order.updated").json["status"] == "accepted"


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_an_empty_secret_is_a_config_error(write_config, shop_config, platform):
    from bridge.settings import ConfigError
    config = shop_config()
    [source] = [s for s in config["sources"] if s["platform"] == platform]
    source["secret"] = ["${TEST_UNSET_SECRET:-}", ""]
    with pytest.raises(ConfigError, match=r"secret.*is empty"):
        write_config(config)
