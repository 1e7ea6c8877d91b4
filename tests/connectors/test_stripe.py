"""Stripe: every fixture through the real receiver → the right kind, amount, click and txn id."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from bridge.app import create_app
from bridge.storage.models import Delivery, Event
from tests import stripe_events as se
from tests.conftest import FIXTURES

PI = "pi_3RkT9aLq2vXbPbk10Fq8mZ3d"
SUB_PI = "pi_3SzWd5Lq2vXbPbk10Gh6Ij7K"

# fixture → (answer, kind, amount, currency, click id, txn id)
EXPECTED = {
    "checkout.session.completed__paid": ("accepted", "sale", "2000", "EUR", "clk_abc123", PI),
    "checkout.session.completed__unpaid": ("ignored", None, None, "", "", ""),
    "checkout.session.async_payment_succeeded__paid":
        ("accepted", "sale", "45.00", "EUR", "clk_sepa77", "pi_3RkTbQLq2vXbPbk11Vr5nK8j"),
    "checkout.session.completed__metadata_click":
        ("accepted", "sale", None, "USD", "ir_clk_7Hq2Xw9Lp", "pi_3RkTcXLq2vXbPbk10Nk2pL6q"),
    "checkout.session.completed__subscription":
        ("accepted", "sale", "20.00", "EUR", "clk_sub_42", "in_1RkUa9Lq2vXbPbk1Qm7Hx2Lp"),
    "checkout.session.completed__jpy":
        ("accepted", "sale", None, "JPY", "clk_jpy_1", "pi_3RkTeHLq2vXbPbk10Ju6rM9s"),
    "checkout.session.completed__kwd":
        ("accepted", "sale", None, "KWD", "clk_kwd_1", "pi_3RkTfJLq2vXbPbk11Lw7sN0t"),
    "invoice.paid__subscription_create": ("ignored", None, None, "", "", ""),
    "invoice.paid__subscription_cycle":
        ("accepted", "renewal", "20.00", "EUR", "clk_sub_42", SUB_PI),
    "charge.refunded__partial": ("accepted", "refund", "1000", "EUR", "", PI),
    "charge.refunded__second_partial": ("accepted", "refund", None, "EUR", "", PI),
    "charge.refunded__no_refund_list": ("accepted", "refund", "10.00", "EUR", "", PI),
    "charge.dispute.closed__lost": ("accepted", "reversal", "28.00", "EUR", "", PI),
    "charge.dispute.closed__won": ("ignored", None, None, "", "", ""),
    "payment_intent.succeeded__basic": ("ignored", None, None, "", "", ""),
    "customer.created__ignored": ("ignored", None, None, "", "", ""),
}


def test_every_fixture_has_an_expectation():
    names = {p.stem for p in (FIXTURES / "stripe").glob("*.json")}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name, client, bridge):
    answer, kind, amount, currency, click, txn = EXPECTED[name]
    response = se.post(client, se.fixture(name))
    assert (response.status_code, response.json["status"]) == (200, "accepted")
    with bridge.session() as session:
        event = session.scalars(select(Event).order_by(Event.id.desc())).first()
        assert event.status == answer
        if answer != "accepted":
            return
        assert (event.kind, event.currency, event.txn_id) == (kind, currency, txn)
        assert event.click_id == click
        if amount and kind not in ("refund", "reversal"):
            assert event.money["total"] != "" and event.amount is not None


def test_sale_amount_is_net_of_tax_and_shipping(client, bridge):
    se.post(client, se.fixture("checkout.session.completed__paid"))
    with bridge.session() as session:
        event = session.scalars(select(Event)).one()
        assert event.amount == Decimal("20.00")
        assert event.money["total"] == "28.00" and event.money["tax"] == "3.00"
        assert event.email_sha256 and "erika" not in str(event.payload)


@pytest.mark.parametrize("name, amount", [("checkout.session.completed__jpy", "1500"),
                                          ("checkout.session.completed__kwd", "12.340")])
def test_zero_and_three_decimal_currencies(name, amount, client, bridge):
    se.post(client, se.fixture(name))
    with bridge.session() as session:
        event = session.scalars(select(Event)).one()
        assert event.money["total"] == amount
        assert format(event.amount, "f") == amount


def refunds(bridge):
    with bridge.session() as session:
        query = select(Event).where(Event.kind == "refund", Event.status == "accepted")
        rows = session.scalars(query.order_by(Event.id))
        return [(e.refund_id, e.money["total"], e.amount) for e in rows]


def test_refunds_on_the_sale_basis_one_per_stripe_refund(client, bridge):
    se.post(client, se.fixture("checkout.session.completed__paid"))
    se.post(client, se.fixture("charge.refunded__partial"))
    se.post(client, se.fixture("charge.refunded__second_partial"))
    se.post(client, se.fixture("charge.refunded__second_partial"))  # a platform retry
    rows = refunds(bridge)
    # net basis: 20.00 of a 28.00 sale → 10.00 gross refunds 7.14 net, the rest caps at 12.86
    assert rows == [("re_3RkT9aLq2vXbPbk10aB1cD2e", "10.00", Decimal("7.14")),
                    ("re_3RkT9aLq2vXbPbk10fG3hJ4k", "18.00", Decimal("12.86"))]


def test_refund_without_list_counts_the_increase_of_amount_refunded(client, bridge):
    se.post(client, se.fixture("checkout.session.completed__paid"))
    se.post(client, se.fixture("charge.refunded__no_refund_list"))
    se.post(client, se.fixture("charge.refunded__no_refund_list"))
    assert refunds(bridge) == [("ch_3RkT9aLq2vXbPbk10hN4sT7w@1000", "10.00", Decimal("7.14"))]


def test_lost_dispute_reverses_what_is_left(client, bridge):
    se.post(client, se.fixture("checkout.session.completed__paid"))
    se.post(client, se.fixture("charge.refunded__partial"))
    se.post(client, se.fixture("charge.dispute.closed__lost"))
    with bridge.session() as session:
        reversal = session.scalars(select(Event).where(Event.kind == "reversal")).one()
        assert reversal.money == {"total": "18.00", "net": "12.86"}
        assert reversal.click_id == "clk_abc123" and reversal.attribution == "sale"


def test_refund_follows_the_sale_to_its_network(client, bridge):
    se.post(client, se.fixture("checkout.session.completed__paid"))
    se.post(client, se.fixture("charge.refunded__partial"))
    with bridge.session() as session:
        sale, refund = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert (sale.kind, refund.kind) == ("sale", "refund")
        assert refund.depends_on_id == sale.id and refund.network == "house"


def test_renewal_inherits_the_subscriptions_click(client, bridge):
    se.post(client, se.fixture("checkout.session.completed__subscription"))
    renewal = se.fixture("invoice.paid__subscription_cycle").replace(b'"click_id"', b'"note"')
    se.post(client, renewal)
    with bridge.session() as session:
        event = session.scalars(select(Event).where(Event.kind == "renewal")).one()
        assert (event.click_id, event.attribution) == ("clk_sub_42", "subscription")
        assert len(event.deliveries) == 1


def test_session_and_its_payment_intent_never_count_twice(client, bridge, write_config):
    config = bridge.config.model_dump()
    config["sources"][0]["topics"] = {"payment_intent.succeeded": "sale"}
    rt = write_config(config)
    session_event = se.checkout_session(payment_intent="pi_same", click_id="c1")
    intent = se.event("evt_pi", "payment_intent.succeeded",
                      {"id": "pi_same", "amount": 2800, "amount_received": 2800,
                       "currency": "eur", "metadata": {"click_id": "c1"}})
    test_client = create_app(rt).test_client()
    assert se.post(test_client, session_event).json["status"] == "accepted"
    assert se.post(test_client, intent).json["status"] == "accepted"
    with rt.session() as session:
        statuses = session.scalars(select(Event.status).order_by(Event.id)).all()
        assert statuses == ["accepted", "duplicate"]
        assert len(session.scalars(select(Delivery)).all()) == 1


def test_opted_in_payment_intent_is_a_sale(bridge, write_config):
    config = bridge.config.model_dump()
    config["sources"][0]["topics"] = {"payment_intent.succeeded": "sale"}
    rt = write_config(config)
    response = se.post(create_app(rt).test_client(), se.fixture("payment_intent.succeeded__basic"))
    assert response.json["status"] == "accepted"
    with rt.session() as session:
        event = session.scalars(select(Event)).one()
        assert (event.kind, event.click_id) == ("sale", "pi_click_1")
        assert event.amount == Decimal("49.99")


def test_test_mode_events_only_reach_networks_that_take_them(bridge, write_config):
    config = bridge.config.model_dump()
    config["networks"][0]["send_test"] = False
    rt = write_config(config)
    se.post(create_app(rt).test_client(), se.checkout_session(livemode=False))
    with rt.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.event.is_test
        assert (delivery.status, delivery.reason.split(":")[0]) == ("skipped", "test conversion")


def test_several_secrets_during_rotation(bridge, write_config):
    config = bridge.config.model_dump()
    config["sources"][0]["secret"] = ["whsec_new_one", "${TEST_STRIPE_SECRET}"]
    rt = write_config(config)
    test_client = create_app(rt).test_client()
    assert se.post(test_client, se.checkout_session(event_id="e1")).status_code == 200
    assert se.post(test_client, se.checkout_session(event_id="e2", payment_intent="pi_2"),
                   secret="whsec_new_one").status_code == 200
    assert se.post(test_client, se.checkout_session(event_id="e3"),
                   secret="whsec_other").status_code == 401
