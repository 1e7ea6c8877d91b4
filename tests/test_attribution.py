"""Finding the click again: the API capture path, resolution order, window edges, last click
across networks, refunds following their sale, and the sweeper's purge. SQLite and PostgreSQL."""

import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from bridge.storage.models import Click, Delivery, Event, utcnow
from connectors.base import email_sha256
from tests import stripe_events as se
from tests.live import API_TOKEN, LiveBridge, click_config, run_worker
from workers.sweeper import Sweeper

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def live(write_config, database_url, redis_url, redis, network_server, monkeypatch):
    monkeypatch.setenv("TEST_API_TOKEN", API_TOKEN)
    rt = write_config(click_config(database_url, redis_url, network_server.url))
    with LiveBridge(rt) as server:
        server.rt = rt
        yield server


def add_click(live, **fields):
    response = requests.post(f"{live.url}/api/clicks", json=fields, headers=AUTH, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def convert(live, **fields):
    body = {"amount": "50.00", "currency": "EUR"} | fields
    return requests.post(f"{live.url}/api/conversions", json=body, headers=AUTH, timeout=5)


def ago(**delta) -> str:
    return (utcnow() - timedelta(**delta)).isoformat()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": API_TOKEN}])
def test_api_needs_the_api_token(live, headers):
    for path in ("/api/clicks", "/api/conversions"):
        response = requests.post(f"{live.url}{path}", json={"click_id": "A"}, headers=headers,
                                 timeout=5)
        assert response.status_code == 401
    with live.rt.session() as session:
        assert session.scalars(select(Click)).all() == []


def test_api_click_keeps_only_the_email_hash(live):
    add_click(live, click_id="A-1", click_param="aff_a", email=" Ann@Example.com ",
              customer_id="cus_9")
    with live.rt.session() as session:
        click = session.scalars(select(Click)).one()
        assert click.email_sha256 == email_sha256("ann@example.com")
        assert "Ann" not in repr([getattr(click, c.name) for c in Click.__table__.columns])


def test_offline_sale_reaches_its_network_once(live, network_server):
    add_click(live, click_id="B-7", click_param="aff_b", customer_id="crm-42")
    first = convert(live, txn_id="phone-1001", customer_id="crm-42", amount="120.50")
    again = convert(live, txn_id="phone-1001", customer_id="crm-42", amount="120.50")
    assert (first.status_code, first.json()["status"]) == (201, "accepted")
    assert first.json()["attribution"]["network"] == "beta"
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    run_worker(live.rt)
    [sent] = network_server.wait_for(1)
    assert sent.path == "/beta"
    assert sent.query == {"click": ["B-7"], "amount": ["120.50"], "txn": ["phone-1001"],
                          "event": ["sale"]}
    with live.rt.session() as session:
        assert session.scalars(select(Delivery.status)).all() == ["delivered"]


def test_offline_lead_with_its_own_click_id(live, network_server):
    response = convert(live, txn_id="lead-1", kind="lead", click_id="A-5", click_param="aff_a",
                       amount="0")
    assert response.json()["attribution"]["how"] == "order"
    run_worker(live.rt)
    [sent] = network_server.wait_for(1)
    assert (sent.path, sent.query["event"]) == ("/alpha", ["lead"])


def test_bad_offline_conversions_are_400(live):
    assert convert(live, txn_id="x", kind="refund").status_code == 400
    assert convert(live, txn_id="x", currency="EURO").status_code == 400
    assert convert(live, txn_id="x", amount="-5").status_code == 400
    assert convert(live, txn_id="x", source="stripe").status_code == 400


def test_keys_are_tried_in_order_visitor_cart_customer_email(live):
    common = {"click_param": "aff_a"}
    add_click(live, click_id="by-email", email="ann@example.com", **common)
    add_click(live, click_id="by-customer", customer_id="cus_1", **common)
    add_click(live, click_id="by-cart", cart_token="cart-1", **common)
    add_click(live, click_id="by-visitor", visitor_id="vis-1", clicked_at=ago(days=2), **common)
    keys = {"visitor_id": "vis-1", "cart_token": "cart-1", "customer_id": "cus_1",
            "email": "ann@example.com"}
    expected = ["by-visitor", "by-cart", "by-customer", "by-email"]
    for number, (key, click_id) in enumerate(zip(keys, expected, strict=True)):
        given = dict(list(keys.items())[number:])
        found = convert(live, txn_id=f"t-{key}", **given).json()["attribution"]
        assert (found["click_id"], found["how"]) == (click_id, "stored"), key


def test_window_edges_one_second_inside_and_outside(live):
    add_click(live, click_id="inside", click_param="aff_b", customer_id="c-in",
              clicked_at=ago(days=30, seconds=-1))
    add_click(live, click_id="outside", click_param="aff_b", customer_id="c-out",
              clicked_at=ago(days=30, seconds=1))
    inside = convert(live, txn_id="t-in", customer_id="c-in").json()["attribution"]
    outside = convert(live, txn_id="t-out", customer_id="c-out").json()["attribution"]
    assert (inside["click_id"], inside["network"]) == ("inside", "beta")
    assert outside["click_id"] == ""
    assert outside["reason"].startswith("outside the attribution window")


def test_a_networks_own_window_overrides_the_default(live):
    add_click(live, click_id="old-a", click_param="aff_a", customer_id="c-1",
              clicked_at=ago(days=11))
    found = convert(live, txn_id="t-1", customer_id="c-1").json()["attribution"]
    assert found["click_id"] == "" and "outside the attribution window" in found["reason"]


def test_last_click_wins_across_networks(live, network_server):
    add_click(live, click_id="A-old", click_param="aff_a", visitor_id="v-1",
              clicked_at=ago(hours=5))
    add_click(live, click_id="B-new", click_param="aff_b", visitor_id="v-1",
              clicked_at=ago(hours=1))
    found = convert(live, txn_id="t-last", visitor_id="v-1").json()["attribution"]
    assert (found["click_id"], found["network"]) == ("B-new", "beta")
    run_worker(live.rt)
    assert [r.path for r in network_server.wait_for(1)] == ["/beta"]
    time.sleep(0.2)
    assert len(network_server.received) == 1


def test_unattributed_events_say_why_and_fire_nothing(live):
    nothing = convert(live, txn_id="t-none").json()
    unknown = convert(live, txn_id="t-unknown", email="nobody@example.com").json()
    assert nothing["attribution"]["reason"].startswith("no click id in the order, and no visitor")
    assert unknown["attribution"]["reason"] == ("no click id in the order, and no stored click "
                                                "for its email")
    assert nothing["deliveries"] == unknown["deliveries"] == 0
    with live.rt.session() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_stripe_refund_follows_its_sale_found_by_email(live, network_server):
    add_click(live, click_id="A-42", click_param="aff_a", email="buyer@example.com")
    sale = se.checkout_session(click_id=None, created=int(time.time()))
    raw = se.body(sale)
    response = requests.post(f"{live.url}/webhooks/stripe", data=raw, headers=se.headers(raw),
                             timeout=5)
    assert response.json()["status"] == "accepted"
    run_worker(live.rt)
    network_server.wait_for(1)
    refund = se.event("evt_refund_1", "charge.refunded", {
        "id": "ch_1", "object": "charge", "currency": "eur", "payment_intent": "pi_test_1",
        "amount_refunded": 1000, "created": int(time.time()),
        "refunds": {"data": [{"id": "re_1", "amount": 1000, "status": "succeeded"}]}})
    raw = se.body(refund)
    requests.post(f"{live.url}/webhooks/stripe", data=raw, headers=se.headers(raw), timeout=5)
    run_worker(live.rt)
    sent = network_server.wait_for(2)
    assert [(r.path, r.query["event"][0], r.query["click"][0]) for r in sent] == [
        ("/alpha", "sale", "A-42"), ("/alpha", "refund", "A-42")]
    with live.rt.session() as session:
        events = session.scalars(select(Event).order_by(Event.id)).all()
        assert [(e.kind, e.attribution, e.click_network) for e in events] == [
            ("sale", "stored", "alpha"), ("refund", "sale", "alpha")]


def test_sweeper_purges_expired_clicks(live):
    add_click(live, click_id="fresh", click_param="aff_b", customer_id="c")
    add_click(live, click_id="expired", click_param="aff_b", customer_id="c",
              clicked_at=ago(days=34))
    Sweeper(live.rt, interval_s=0.2).tick()
    with live.rt.session() as session:
        assert session.scalars(select(Click.click_id)).all() == ["fresh"]
