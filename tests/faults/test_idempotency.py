"""Idempotency end to end, against a live HTTP server: duplicates become one delivery, distinct
refunds stay distinct."""

from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from bridge.storage.models import Event, InboxWebhook
from tests import stripe_events as se
from tests.faults.helpers import delivery_rows, fault_config, statuses
from tests.live import LiveBridge, run_worker


def post_raw(url: str, raw: bytes) -> int:
    return requests.post(f"{url}/webhooks/stripe", data=raw, headers=se.headers(raw),
                         timeout=20).status_code


def inbox_rows(rt) -> int:
    with rt.session() as session:
        return session.scalar(select(func.count(InboxWebhook.id)))


def charge_refunded(event_id: str, refunds: list[tuple[str, int]]) -> bytes:
    """A charge.refunded event listing its refunds newest first, as Stripe does."""
    charge = {"id": "ch_1", "object": "charge", "amount": 2800, "currency": "eur",
              "amount_refunded": sum(amount for _, amount in refunds),
              "payment_intent": "pi_test_1", "created": 1_763_900_100,
              "refunds": {"object": "list", "data": [
                  {"id": rid, "amount": amount, "status": "succeeded"} for rid, amount in refunds]}}
    return se.body(se.event(event_id, "charge.refunded", charge))


def test_same_webhook_ten_times_at_once_is_one_delivery(write_config, database_url, redis_url,
                                                        redis, network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url))
    raw = se.body(se.checkout_session())
    with LiveBridge(rt) as live, ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: post_raw(live.url, raw), range(10)))
        assert answers == [200] * 10
        assert post_raw(live.url, raw) == 200  # the platform retries: our 200 was lost
    assert inbox_rows(rt) == 1
    run_worker(rt)
    with rt.session() as session:
        assert session.scalar(select(func.count(Event.id))) == 1
    assert statuses(rt) == {"delivered": 1}
    assert [r.query["txn_id"][0] for r in network_server.received] == ["pi_test_1"]


def test_partial_refunds_are_two_and_the_same_refund_twice_is_one(
        write_config, database_url, redis_url, redis, network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url))
    first = charge_refunded("evt_refund_a", [("re_1", 500)])
    second = charge_refunded("evt_refund_b", [("re_2", 700), ("re_1", 500)])
    with LiveBridge(rt) as live:
        assert post_raw(live.url, se.body(se.checkout_session())) == 200
        run_worker(rt)
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda raw: post_raw(live.url, raw), [first, second] * 3))
    assert answers == [200] * 6
    assert inbox_rows(rt) == 3  # the sale, evt_refund_a, evt_refund_b
    run_worker(rt)
    refunds = sorted((d.kind, d.status) for d in delivery_rows(rt) if d.kind == "refund")
    assert refunds == [("refund", "delivered")] * 2
    sent = sorted((r.query["event"][0], r.query["amount"][0]) for r in network_server.received)
    assert [event for event, _ in sent] == ["refund", "refund", "sale"]
    assert sent[0][1] != sent[1][1]  # re_1 and re_2, each once (net amounts, pro rata)
