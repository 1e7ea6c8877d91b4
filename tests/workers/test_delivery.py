"""The delivery path with real parts: Redis, RQ workers, a network server on 127.0.0.1."""

import os
import subprocess
import sys
from datetime import timedelta

from rq import SimpleWorker
from sqlalchemy import select, update

from bridge import queue as queue_module
from bridge.app import create_app
from bridge.storage.models import Attempt, Delivery, NetworkState, utcnow
from tests import stripe_events as se
from tests.netserver import Reply
from workers import delivery as delivery_job
from workers.sweeper import sweep


def work(rt) -> None:
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True)


def deliveries(rt) -> list[tuple]:
    with rt.session() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        return [(d.kind, d.status, d.attempts) for d in rows]


def make_due(rt) -> None:
    """Skip the backoff wait (the schedule itself is tested in test_backoff)."""
    with rt.session() as session:
        session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_sale_reaches_the_network_with_the_exact_query(client, bridge, network_server):
    se.post(client, se.checkout_session(click_id="abc 1&x=2", amount_total=1999, tax=0,
                                        shipping=0, currency="eur"))
    work(bridge)
    [request] = network_server.received
    assert request.method == "GET" and request.path == "/postback"
    assert request.query == {"click_id": ["abc 1&x=2"], "amount": ["19.99"],
                             "currency": ["EUR"], "txn_id": ["pi_test_1"], "event": ["sale"]}
    assert deliveries(bridge) == [("sale", "delivered", 1)]
    with bridge.session() as session:
        attempt = session.scalars(select(Attempt)).one()
        assert attempt.response_status == 200 and attempt.outcome == "delivered"
        assert "click_id=abc%201%26x%3D2" in attempt.url and attempt.latency_ms > 0


def test_a_real_worker_process_delivers(client, bridge, network_server):
    se.post(client, se.checkout_session())
    env = {**os.environ, "REDIS_URL": bridge.redis_url}
    done = subprocess.run([sys.executable, "-m", "bridge", "worker", "--burst"], env=env,
                          timeout=60, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(network_server.received) == 1
    assert deliveries(bridge) == [("sale", "delivered", 1)]


def test_zero_and_three_decimal_amounts_in_the_postback(client, bridge, network_server):
    se.post(client, se.fixture("checkout.session.completed__jpy"))
    se.post(client, se.fixture("checkout.session.completed__kwd"))
    work(bridge)
    amounts = sorted((r.query["currency"][0], r.query["amount"][0])
                     for r in network_server.received)
    assert amounts == [("JPY", "1500"), ("KWD", "12.340")]


def test_server_errors_are_retried_then_delivered(client, bridge, network_server):
    network_server.script([Reply(500, "oops"), Reply(503, "busy")])
    se.post(client, se.checkout_session())
    for _ in range(3):
        work(bridge)
        make_due(bridge)
        sweep(bridge)
    assert deliveries(bridge) == [("sale", "delivered", 3)]
    with bridge.session() as session:
        outcomes = session.scalars(select(Attempt.response_status).order_by(Attempt.id)).all()
        assert outcomes == [500, 503, 200]
    assert {r.query["txn_id"][0] for r in network_server.received} == {"pi_test_1"}


def test_out_of_attempts_is_dead_with_the_last_error(client, bridge, network_server):
    network_server.script([], default=Reply(502, "bad gateway"))
    se.post(client, se.checkout_session())
    for _ in range(4):
        work(bridge)
        make_due(bridge)
        sweep(bridge)
    assert deliveries(bridge) == [("sale", "dead", 3)]
    assert len(network_server.received) == 3
    with bridge.session() as session:
        assert "HTTP 502" in session.scalars(select(Delivery.reason)).one()


def test_retry_after_is_honoured(bridge, write_config, network_server):
    config = bridge.config.model_dump()
    config["networks"][0]["retry"]["max_delay_s"] = 600
    rt = write_config(config)
    network_server.script([Reply(429, "slow down", {"Retry-After": "120"})])
    se.post(create_app(rt).test_client(), se.checkout_session())
    work(rt)
    with rt.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "retrying"
        wait = (delivery.next_attempt_at - utcnow()).total_seconds()
    assert 100 < wait <= 120


def test_client_error_is_rejected_at_once(client, bridge, network_server):
    network_server.script([Reply(400, "unknown offer")])
    se.post(client, se.checkout_session())
    work(bridge)
    assert deliveries(bridge) == [("sale", "rejected", 1)]
    with bridge.session() as session:
        assert "unknown offer" in session.scalars(select(Delivery.reason)).one()


def test_unauthorised_pauses_the_network_and_the_delivery_waits(client, bridge, network_server):
    network_server.script([Reply(401, "bad token")])
    se.post(client, se.checkout_session())
    work(bridge)
    make_due(bridge)
    assert sweep(bridge) == 0  # paused networks are not swept
    with bridge.session() as session:
        assert session.get(NetworkState, "house").paused
    assert deliveries(bridge) == [("sale", "retrying", 1)]


def test_the_same_job_twice_sends_once(client, bridge, network_server):
    se.post(client, se.checkout_session())
    with bridge.session() as session:
        delivery = session.scalars(select(Delivery)).one()
    queue_module.enqueue(bridge.queue, [(delivery.id, 0)])
    bridge.queue.enqueue(queue_module.JOB_FUNCTION, delivery.id, job_id="a-second-copy")
    work(bridge)
    assert len(network_server.received) == 1
    assert delivery_job.deliver(delivery.id) == "not claimed"


def test_sweeper_recovers_after_redis_lost_its_data(client, bridge, network_server, redis):
    se.post(client, se.checkout_session())
    redis.flushdb()  # the job is gone; SQL still says pending
    work(bridge)
    assert network_server.received == []
    with bridge.session() as session:  # the queue lease of the lost enqueue runs out
        session.execute(update(Delivery).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert sweep(bridge) == 1
    work(bridge)
    assert len(network_server.received) == 1
    assert deliveries(bridge) == [("sale", "delivered", 1)]


def test_refund_waits_for_its_sale_to_be_delivered(client, bridge, network_server):
    network_server.script([Reply(500, "down"), Reply(500, "still down")])
    se.post(client, se.fixture("checkout.session.completed__paid"))
    work(bridge)  # the sale fails once
    se.post(client, se.fixture("charge.refunded__partial"))
    work(bridge)  # its retry fails again; the refund is held: its sale is not delivered yet
    assert [r.query["event"][0] for r in network_server.received] == ["sale", "sale"]
    assert deliveries(bridge)[1][:2] == ("refund", "pending")
    for _ in range(2):
        make_due(bridge)
        sweep(bridge)
        work(bridge)  # the sale is delivered, and that releases its refund at once
    events = [(r.query["event"][0], r.query["amount"][0]) for r in network_server.received]
    assert events == [("sale", "20.00")] * 3 + [("refund", "7.14")]
    assert [d[1] for d in deliveries(bridge)] == ["delivered", "delivered"]


def test_secrets_are_masked_in_recorded_attempts(bridge, write_config, network_server,
                                                 monkeypatch):
    monkeypatch.setenv("HOUSE_TOKEN", "s3cr3t-token-value")
    config = bridge.config.model_dump()
    config["networks"][0]["url"] += "&token=${HOUSE_TOKEN}"
    rt = write_config(config)
    se.post(create_app(rt).test_client(), se.checkout_session())
    work(rt)
    assert network_server.received[0].query["token"] == ["s3cr3t-token-value"]
    with rt.session() as session:
        attempt = session.scalars(select(Attempt)).one()
        assert "s3cr3t" not in attempt.url and "token=***" in attempt.url


def test_a_proxy_from_the_environment_is_used(bridge, write_config, network_server, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", network_server.url)  # the stand-in network is the proxy
    config = bridge.config.model_dump()
    config["networks"][0]["url"] = "http://postbacks.example.invalid/pb?click_id={click_id}"
    rt = write_config(config)
    se.post(create_app(rt).test_client(), se.checkout_session(click_id="via-proxy"))
    work(rt)
    [request] = network_server.received
    assert request.headers["Host"] == "postbacks.example.invalid"
    assert request.path == "/pb" and request.query == {"click_id": ["via-proxy"]}
    assert deliveries(rt) == [("sale", "delivered", 1)]
