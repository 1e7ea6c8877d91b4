"""The inbox: the web tier keeps a verified webhook with one INSERT and answers; a worker's inbox
thread turns it into events and deliveries, in arrival order, exactly once."""

import hashlib
import logging
import time

import pytest
from flask.testing import FlaskClient
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import event, func, select

from bridge import ingest
from bridge import queue as queue_module
from bridge.app import create_app
from bridge.storage.models import Delivery, Event, InboxWebhook
from tests import stripe_events as se
from workers import inbox
from workers.sweeper import Sweeper


@pytest.fixture
def web(bridge):
    """A test client that leaves the inbox to the worker, as production does."""
    app = create_app(bridge)
    app.test_client_class = FlaskClient
    return app.test_client()


def rows(rt, model) -> list:
    with rt.session() as session:
        found = session.scalars(select(model).order_by(model.id)).all()
        session.expunge_all()
        return found


def work(rt) -> None:
    """A worker process's inbox thread, then its RQ worker."""
    assert inbox.process_inbox(rt)["processed"] >= 0
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, with_scheduler=False)


def test_the_answer_needs_only_the_inbox_then_the_worker_delivers(web, bridge, network_server):
    raw = se.body(se.checkout_session())
    response = web.post("/webhooks/stripe", data=raw,
                        headers={**se.headers(raw), "Cookie": "session=secret"})
    assert response.status_code == 200 and response.json["status"] == "accepted"
    [kept] = rows(bridge, InboxWebhook)
    assert (kept.source, kept.event_key, kept.processed_at) == (
        "stripe", ":sha256:" + hashlib.sha256(raw).hexdigest(), None)  # the body is not parsed
    assert kept.body and "Stripe-Signature" in kept.headers and "Cookie" not in kept.headers
    assert rows(bridge, Event) == []
    assert bridge.redis.llen(queue_module.INBOX_WAKE_LIST) == 1  # a worker's inbox thread wakes
    work(bridge)
    [event] = rows(bridge, Event)
    assert (event.status, event.click_id, str(event.amount)) == ("accepted", "clk_abc", "20.00")
    [kept] = rows(bridge, InboxWebhook)
    assert kept.processed_at is not None and kept.body is None  # personal data goes with it
    assert [r.query["txn_id"][0] for r in network_server.received] == ["pi_test_1"]


def test_the_request_keeps_any_signed_body_and_the_pass_finds_what_it_is(web, bridge, caplog):
    """No parsing in the request: junk and unused topics are answered like orders, and the
    inbox pass stores each as what it is, with the reason, and logs one line for each."""
    bodies = [b"this is not json", se.body(se.event("evt_cust", "customer.created", {})),
              se.body(se.checkout_session())]
    for raw in bodies:
        response = web.post("/webhooks/stripe", data=raw, headers=se.headers(raw))
        assert (response.status_code, response.json["status"]) == (200, "accepted")
    assert len(rows(bridge, InboxWebhook)) == 3 and rows(bridge, Event) == []
    with caplog.at_level(logging.INFO, logger="bridge.ingest"):
        assert inbox.drain(bridge) == 3
    events = rows(bridge, Event)
    assert [(e.status, e.event_key) for e in events] == [
        ("invalid", "sha256:" + hashlib.sha256(bodies[0]).hexdigest()),
        ("ignored", "evt_cust"), ("accepted", "evt_test_1")]
    assert "not JSON" in events[0].reason and "customer.created" in events[1].reason
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("webhook ")]
    assert [line.split(" result=")[1].split(" ")[0] for line in lines] == [
        "invalid", "ignored", "accepted"]
    assert "event=evt_test_1 topic=checkout.session.completed" in lines[2]


def test_a_redelivery_is_a_duplicate_before_and_after_processing(web, bridge):
    assert se.post(web, se.checkout_session()).json["status"] == "accepted"
    assert se.post(web, se.checkout_session()).json["status"] == "duplicate"
    work(bridge)
    assert se.post(web, se.checkout_session()).json["status"] == "duplicate"
    assert len(rows(bridge, InboxWebhook)) == 1 and len(rows(bridge, Event)) == 1


def test_arrival_order_is_kept_so_a_refund_finds_its_sale(web, bridge):
    se.post(web, se.checkout_session())
    refund = se.event("evt_refund", "charge.refunded", {
        "id": "ch_1", "object": "charge", "amount": 2800, "currency": "eur",
        "amount_refunded": 1400, "payment_intent": "pi_test_1", "created": 1_763_900_100,
        "refunds": {"object": "list", "data": [{"id": "re_1", "amount": 1400,
                                                "status": "succeeded"}]}})
    se.post(web, refund)
    assert inbox.drain(bridge) == 2
    sale, half = rows(bridge, Event)
    assert (sale.kind, half.kind) == ("sale", "refund")
    assert str(half.amount) == "10.00"  # half the sale's net, known because the sale came first


def test_webhooks_kept_while_redis_was_down_are_picked_up_by_the_sweeper(
        write_config, database_url, redis_url, redis, network_server):
    from tests.conftest import base_config

    down = write_config(base_config(database_url, "redis://127.0.0.1:1/0", network_server.url))
    app = create_app(down)
    app.test_client_class = FlaskClient
    assert se.post(app.test_client(), se.checkout_session()).json["status"] == "accepted"
    rt = write_config(base_config(database_url, redis_url, network_server.url))
    Sweeper(rt).tick()  # Redis is back: the sweeper sees the inbox waiting, nobody on it
    assert rt.redis.llen(queue_module.INBOX_WAKE_LIST) == 1
    work(rt)
    assert [e.status for e in rows(rt, Event)] == ["accepted"]
    assert [d.status for d in rows(rt, Delivery)] == ["delivered"]


def test_one_job_at_a_time_the_holder_takes_what_arrives_meanwhile(web, bridge):
    se.post(web, se.checkout_session())
    holder = Redis.from_url(bridge.redis_url).lock(inbox.LOCK_KEY, timeout=60)
    assert holder.acquire(blocking=False)
    assert inbox.process_inbox(bridge) == {"processed": 0}  # another pass holds the inbox
    holder.release()
    se.post(web, se.checkout_session(event_id="evt_2", payment_intent="pi_2"))
    assert inbox.process_inbox(bridge) == {"processed": 2}


def test_while_a_pass_works_no_more_wake_ups_are_sent_until_it_ends(web, bridge):
    """A thread woken while another pass holds the inbox leaves the wake-up set, so the web
    tier sends no more (each one cost a look); the holder clears it when it ends."""
    def wake_ups_after_a_webhook(n: int) -> int:
        time.sleep(queue_module.INBOX_LINGER_S)  # the web process asks again
        se.post(web, se.checkout_session(event_id=f"evt_{n}", payment_intent=f"pi_{n}"))
        return bridge.redis.llen(queue_module.INBOX_WAKE_LIST)

    assert wake_ups_after_a_webhook(1) == 1
    holder = Redis.from_url(bridge.redis_url).lock(inbox.LOCK_KEY, timeout=60)
    assert holder.acquire(blocking=False)
    assert inbox.process_inbox(bridge) == {"processed": 0}
    assert wake_ups_after_a_webhook(2) == 1
    holder.release()
    assert inbox.process_inbox(bridge) == {"processed": 2}
    assert wake_ups_after_a_webhook(3) == 2  # the pass ended: the next webhook wakes a thread


def test_a_webhook_that_keeps_failing_is_stored_as_invalid_not_retried_forever(
        web, bridge, monkeypatch):
    def explode(*args, **kwargs):
        raise KeyError("boom")

    se.post(web, se.checkout_session())
    monkeypatch.setattr(ingest, "_store", explode)  # a bug, injected
    for _ in range(inbox.MAX_ATTEMPTS):  # each job tries once (the sweeper wakes the next)
        assert inbox.drain(bridge) == 0
    assert "KeyError" in rows(bridge, InboxWebhook)[0].error
    assert inbox.drain(bridge) == 0  # one more take: given up
    [event] = rows(bridge, Event)
    assert event.status == "invalid" and "could not be processed: KeyError" in event.reason
    [kept] = rows(bridge, InboxWebhook)
    assert kept.processed_at is not None and kept.attempts == inbox.MAX_ATTEMPTS + 1
    with bridge.session() as session:
        assert session.scalar(select(func.count(Delivery.id))) == 0


def sales(web, count: int, first: int = 0) -> None:
    for n in range(first, first + count):
        se.post(web, se.checkout_session(event_id=f"evt_{n}", payment_intent=f"pi_{n}"))


def test_webhooks_are_stored_many_to_a_transaction(web, bridge):
    """A transaction per webhook cost the pass a quarter of its CPU (BEGIN, COMMIT, a session)."""
    sales(web, 2 * inbox.PER_TRANSACTION)
    commits = []

    def count(_connection):
        commits.append(1)

    event.listen(bridge.engine, "commit", count)
    try:
        assert inbox.drain(bridge) == 2 * inbox.PER_TRANSACTION
    finally:
        event.remove(bridge.engine, "commit", count)
    assert len(commits) <= 2 + 2  # two takes (the second finds nothing), two stores
    assert [e.status for e in rows(bridge, Event)] == ["accepted"] * 2 * inbox.PER_TRANSACTION
    assert all(kept.processed_at and kept.body is None for kept in rows(bridge, InboxWebhook))


def test_a_transactions_webhooks_share_their_lookups_and_inserts(web, bridge):
    """Each webhook's own lookups and INSERTs were 5 statements a webhook, 4 ms of the pass's
    CPU: a transaction now looks its webhooks up and inserts their rows together."""
    sales(web, inbox.PER_TRANSACTION)
    statements = []

    def note(_conn, _cursor, sql, *_args):
        statements.append(" ".join(sql.split()[:3]).lower())

    event.listen(bridge.engine, "before_cursor_execute", note)
    try:
        assert inbox.drain(bridge) == inbox.PER_TRANSACTION
    finally:
        event.remove(bridge.engine, "before_cursor_execute", note)
    lookups = [s for s in statements if s.startswith(("select events", "select clicks"))]
    assert len(lookups) == 3  # events by key and by conversion, and clicks: once for all 20
    if bridge.engine.dialect.name == "postgresql":
        # (SQLite cannot tell which RETURNING id is whose row: SQLAlchemy inserts one by one.)
        assert statements.count("insert into events") == 1
        assert statements.count("insert into deliveries") == 1
    events = rows(bridge, Event)
    assert [(e.status, e.click_id, e.txn_id) for e in events] == [
        ("accepted", "clk_abc", f"pi_{n}") for n in range(inbox.PER_TRANSACTION)]
    assert len(rows(bridge, Delivery)) == inbox.PER_TRANSACTION


def test_a_conversion_twice_in_one_transaction_is_stored_once(web, bridge, network_server):
    """Two webhooks of one payment (another event id) in one batch: the second finds the first,
    not yet inserted, and is kept as its duplicate, with no postback of its own."""
    se.post(web, se.checkout_session(event_id="evt_a", payment_intent="pi_same"))
    se.post(web, se.checkout_session(event_id="evt_b", payment_intent="pi_same"))
    work(bridge)
    first, second = rows(bridge, Event)
    assert (first.event_key, first.status) == ("evt_a", "accepted")
    assert (second.event_key, second.status) == ("evt_b", "duplicate")
    assert second.reason == f"same conversion as event {first.id}"
    assert [d.event_id for d in rows(bridge, Delivery)] == [first.id]
    assert [r.query["txn_id"][0] for r in network_server.received] == ["pi_same"]


def test_a_webhook_that_fails_in_a_shared_transaction_costs_only_itself(
        web, bridge, monkeypatch):
    sales(web, 5)
    store = ingest._store

    def bug_in_one(session, config, seen, source, webhook):
        if webhook.event_id == "evt_2":
            raise KeyError("boom")  # a bug, injected
        return store(session, config, seen, source, webhook)

    monkeypatch.setattr(ingest, "_store", bug_in_one)
    assert inbox.drain(bridge) == 4
    assert [e.event_key for e in rows(bridge, Event)] == ["evt_0", "evt_1", "evt_3", "evt_4"]
    kept = rows(bridge, InboxWebhook)
    waiting = [row for row in kept if row.processed_at is None]
    assert [(row.id, "KeyError" in row.error) for row in waiting] == [(kept[2].id, True)]
    monkeypatch.setattr(ingest, "_store", store)  # fixed: the next pass stores it
    assert inbox.drain(bridge) == 1
    assert len(rows(bridge, Event)) == 5
