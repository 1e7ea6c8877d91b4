"""Refunds follow their sale: only after it was delivered, only to networks that can hear them."""

from datetime import timedelta

from rq import SimpleWorker
from sqlalchemy import select

from bridge import routing
from bridge.app import create_app
from bridge.settings import Network
from bridge.storage.models import Delivery
from tests import stripe_events as se
from tests.conftest import base_config
from tests.workers import preset_cases as pc
from workers.delivery import deliver

RETRY = {"max_attempts": 3, "first_delay_s": 0, "max_delay_s": 1, "max_age_h": 1}


def refund_event(amount=1000, refund_id="re_1"):
    charge = {"id": "ch_1", "object": "charge", "amount": 2800, "amount_refunded": amount,
              "currency": "eur", "payment_intent": "pi_test_1", "created": 1_763_900_100,
              "refunds": {"object": "list", "data": [
                  {"id": refund_id, "amount": amount, "status": "succeeded"}]}}
    return se.event("evt_refund_" + refund_id, "charge.refunded", charge)


def networks(url: str) -> list[dict]:
    common = {"receives": "all", "retry": RETRY, "timeout_s": 3}
    return [
        {"name": "follows", "url": url + "/f?e={event}&a={amount}", **common},
        {"name": "nope", "url": url + "/n?e={event}", "refund": {"mode": "unsupported"},
         **common},
        {"name": "whole", "url": url + "/w?e={event}", "refund": {"partial": False}, **common},
    ]


def test_refund_waits_for_sale_then_goes_where_it_can(write_config, database_url, redis_url,
                                                      redis, network_server):
    rt = write_config(base_config(database_url, redis_url, network_server.url,
                                  networks=networks(network_server.url)))
    client = create_app(rt).test_client()
    se.post(client, se.checkout_session())
    se.post(client, refund_event())  # arrives before any worker ran: must wait for the sale
    with rt.session() as session:
        refunds = {d.network: (d.status, d.reason) for d in session.scalars(
            select(Delivery).where(Delivery.kind == "refund"))}
    assert refunds == {"follows": ("pending", ""),
                       "nope": ("skipped", "refund not supported by network"),
                       "whole": ("skipped", "partial refund not supported by network")}
    with rt.session() as session:
        refund_id = session.scalars(select(Delivery.id).where(
            Delivery.network == "follows", Delivery.kind == "refund")).one()
    assert deliver(refund_id) == "held" and network_server.received == []
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, with_scheduler=False)
    sent = [(r.path, r.query["e"][0]) for r in network_server.wait_for(4)]
    assert sorted(sent) == [("/f", "refund"), ("/f", "sale"), ("/n", "sale"), ("/w", "sale")]
    assert sent.index(("/f", "sale")) < sent.index(("/f", "refund"))  # released by the sale
    [refund] = [r for r in network_server.received if r.query["e"] == ["refund"]]
    assert refund.query == {"e": ["refund"], "a": ["7.14"]}
    with rt.session() as session:
        assert session.get(Delivery, refund_id).status == "delivered"


def test_window_days_skips_old_clicks():
    event = pc.sale()
    event.clicked_at = event.occurred_at - timedelta(days=31)
    network = Network(name="n", url="https://h.example/", window_days=30)
    assert routing.filter_reason(network, event) == "outside window: click older than 30 days"
    event.clicked_at = event.occurred_at - timedelta(days=29)
    assert routing.filter_reason(network, event) == ""
    event.clicked_at = None
    assert routing.filter_reason(network, event) == ""


def test_filters():
    event = pc.sale()
    base = {"name": "n", "url": "https://h.example/"}
    assert routing.filter_reason(Network(**base, sources=["shop"]), event) == "filtered: source"
    assert routing.filter_reason(Network(**base, currencies=["USD"]), event) == (
        "filtered: currency EUR")
    assert routing.filter_reason(Network(**base, min_amount="25"), event) == (
        "filtered: amount under 25")
    assert routing.filter_reason(Network(**base, events=["lead"]), event) == (
        "filtered: network does not take sale events")
    event.is_test = True
    assert routing.filter_reason(Network(**base), event).startswith("test conversion")
    assert routing.filter_reason(Network(**base, test_mode={"vars": {"t": "1"}}), event) == ""
