"""`bridge status`: each figure and the exit code, from a prepared database and a real queue."""

import json

import pytest
from click.testing import CliRunner
from rq import SimpleWorker, Worker

from bridge import cli, signing
from bridge.storage.models import NetworkState
from tests import prepared
from tests.conftest import STRIPE_SECRET


def run_status(*args):
    result = CliRunner().invoke(cli.main, ["status", *args])
    return result.exit_code, result.output


@pytest.fixture
def live_worker(bridge):
    """A registered RQ worker (as `bridge worker` registers it), gone after the test."""
    worker = Worker([bridge.queue], connection=bridge.redis)
    worker.register_birth()
    yield worker
    worker.register_death()


def test_all_good_exits_zero_with_figures(bridge, live_worker):
    with bridge.session() as session:
        prepared.order(session, {"house": "delivered"})
        prepared.order(session, {"house": "delivered"})
    code, output = run_status("--json")
    figures = json.loads(output)
    assert code == 0, output
    house = figures["networks"][0]
    assert (house["name"], house["delivered"], house["dead"], house["success_rate"]) == (
        "house", 2, 0, 1.0)
    assert figures["accuracy"] == 1.0 and figures["attributed"] == 2
    assert [w["name"] for w in figures["queue"]["workers"]] == [live_worker.name]
    assert figures["attention"] == []
    assert "All good." in run_status()[1]


def test_dead_delivery_and_no_worker_exit_non_zero(bridge):
    with bridge.session() as session:
        prepared.order(session, {"house": "delivered"})
        prepared.order(session, {"house": "dead"})
    code, output = run_status("--json")
    figures = json.loads(output)
    assert code == 1
    assert figures["networks"][0]["dead"] == 1
    assert figures["networks"][0]["success_rate"] == 0.5
    assert figures["queue"]["workers"] == []
    assert "house: 1 dead deliveries in 24 h" in figures["attention"]
    assert any("no worker" in problem for problem in figures["attention"])
    code, text = run_status()
    assert code == 1 and "Needs attention" in text and "1 dead" in text


def test_accuracy_below_threshold_needs_attention(bridge, live_worker):
    with bridge.session() as session:
        prepared.order(session, {"house": "delivered"})
        prepared.order(session, {"house": "skipped"})  # attributed, settled, never delivered
        prepared.order(session, {"house": "retrying"})  # in flight: not counted yet
        prepared.order(session, {}, click_id="")  # no click: not an attributed order
    code, output = run_status("--json")
    figures = json.loads(output)
    assert (figures["attributed"], figures["delivered_orders"], figures["accuracy"]) == (2, 1, 0.5)
    assert figures["networks"][0]["retrying"] == 1
    assert code == 1 and any("50% of attributed" in p for p in figures["attention"])


def test_stale_queue_and_paused_network(bridge, live_worker):
    with bridge.session() as session:
        prepared.order(session, {"house": "pending"}, ago_h=2)
    code, output = run_status("--json")
    figures = json.loads(output)
    assert code == 1 and figures["stale_since"] is not None
    assert figures["networks"][0]["oldest_pending"] is not None
    assert any("queue is stale" in p for p in figures["attention"])
    with bridge.session() as session:
        session.add(NetworkState(name="house", paused=True, reason="HTTP 401"))
    figures = json.loads(run_status("--json")[1])
    assert figures["stale_since"] is None  # a paused network's backlog is not a stuck queue
    assert figures["networks"][0]["paused"] is True
    assert "house: paused (HTTP 401)" in figures["attention"]


def test_queue_depth_scheduled_and_failed_jobs(bridge, live_worker):
    from datetime import timedelta
    queue = bridge.queue
    queue.enqueue("builtins.int", "not a number")  # a real job that fails
    SimpleWorker([queue], connection=bridge.redis).work(burst=True)
    queue.enqueue("builtins.len", "ab")
    queue.enqueue("builtins.len", "abc")
    queue.enqueue_in(timedelta(hours=1), "builtins.len", "later")
    figures = json.loads(run_status("--json")[1])
    assert {k: figures["queue"][k] for k in ("depth", "scheduled", "failed")} == {
        "depth": 2, "scheduled": 1, "failed": 1}


def test_sources_last_webhook_and_signature_failures(bridge, client):
    from tests import stripe_events as se
    fresh = json.loads(run_status("--json")[1])["sources"][0]
    assert (fresh["last_received"], fresh["signature_failures"]) == (None, 0)  # not unknown
    se.post(client, se.checkout_session())
    raw = se.body(se.checkout_session(event_id="evt_2"))
    bad = {"Stripe-Signature": signing.stripe_header(raw, STRIPE_SECRET + "x")}
    assert client.post("/webhooks/stripe", data=raw, headers=bad).status_code == 401
    source = json.loads(run_status("--json")[1])["sources"][0]
    assert source["name"] == "stripe" and source["last_received"] is not None
    assert (source["received_24h"], source["signature_failures"]) == (1, 1)
