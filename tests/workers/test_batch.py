"""The batch job and the wake-up enqueue, with real parts (Redis, RQ, a network on 127.0.0.1)."""

import threading
from datetime import timedelta

from rq import SimpleWorker
from sqlalchemy import select, update

from bridge import queue as queue_module
from bridge.app import create_app
from bridge.storage.models import Attempt, Delivery, NetworkState, utcnow
from tests import stripe_events as se
from tests.netserver import Reply
from workers import batch, limits
from workers.sweeper import recover_lost, sweep


def post_sales(client, count: int) -> None:
    for n in range(count):
        se.post(client, se.checkout_session(event_id=f"evt_b{n}", payment_intent=f"pi_b{n}",
                                            click_id=f"clk_{n}"))


def statuses(rt) -> list[str]:
    with rt.session() as session:
        return list(session.scalars(select(Delivery.status).order_by(Delivery.id)))


def test_a_batch_run_twice_sends_each_delivery_once(client, bridge, network_server):
    post_sales(client, 5)
    bridge.queue.empty()
    ids = list(range(1, 6))
    batch.deliver_batch("house", ids)
    batch.deliver_batch("house", ids)
    clicks = sorted(r.query["click_id"][0] for r in network_server.received)
    assert clicks == [f"clk_{n}" for n in range(5)]
    assert statuses(bridge) == ["delivered"] * 5


def test_a_batch_sends_only_the_due_deliveries(client, bridge, network_server):
    post_sales(client, 4)
    with bridge.session() as session:
        session.execute(update(Delivery).where(Delivery.id.in_([2, 4]))
                        .values(next_attempt_at=utcnow() + timedelta(hours=1)))
    result = batch.deliver_batch("house", [1, 2, 3, 4])
    assert result == {"claimed": 2, "sent": 2}
    assert sorted(r.query["click_id"][0] for r in network_server.received) == ["clk_0", "clk_2"]
    assert statuses(bridge) == ["delivered", "pending", "delivered", "pending"]


def job_functions(rt) -> list[str]:
    return [job.func_name for job in rt.queue.jobs]


def test_a_burst_of_webhooks_waits_in_one_job_per_network(client, bridge, network_server):
    post_sales(client, 6)
    # the first webhook's job for its network; the others found it waiting
    assert job_functions(bridge) == [queue_module.BATCH_FUNCTION]
    SimpleWorker([bridge.queue], connection=bridge.redis).work(burst=True)
    assert len(network_server.received) == 6 and statuses(bridge) == ["delivered"] * 6


def test_a_webhook_after_the_job_started_enqueues_a_new_one(client, bridge, network_server):
    post_sales(client, 1)
    queue_module.clear_wake(bridge.redis, "house")  # what a starting job does first
    se.post(client, se.checkout_session(event_id="evt_late", payment_intent="pi_late"))
    assert job_functions(bridge).count(queue_module.BATCH_FUNCTION) == 2


def test_the_sweeper_enqueues_batches_of_the_network_size(client, bridge, network_server):
    post_sales(client, 3)
    bridge.queue.empty()
    with bridge.session() as session:
        session.execute(update(Delivery).values(lease_until=None))
    assert sweep(bridge) == 3
    [job] = bridge.queue.jobs
    assert job.func_name == queue_module.BATCH_FUNCTION and job.args == ("house", [1, 2, 3])
    SimpleWorker([bridge.queue], connection=bridge.redis).work(burst=True)
    assert statuses(bridge) == ["delivered"] * 3


def test_each_outcome_of_a_batch_is_recorded_with_its_attempt(client, bridge, network_server):
    network_server.script([Reply(200), Reply(500, "down"), Reply(400, "unknown offer")])
    post_sales(client, 3)
    assert batch.deliver_batch("house", [1, 2, 3]) == {"claimed": 3, "sent": 3}
    with bridge.session() as session:
        attempts = {a.delivery_id: a for a in session.scalars(select(Attempt))}
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        states = {attempts[d.id].response_status: (d.status, d.attempts, d.lease_until is None,
                                                    d.delivered_at is not None) for d in rows}
    assert states == {200: ("delivered", 1, True, True), 500: ("retrying", 1, True, False),
                      400: ("rejected", 1, True, False)}
    assert {a.number for a in attempts.values()} == {1}


def test_a_batch_gives_back_its_concurrency_slots(client, bridge, network_server, redis):
    post_sales(client, 4)
    batch.deliver_batch("house", [1, 2, 3, 4])
    assert redis.zcard(limits.SLOTS_KEY.format("house")) == 0


def test_a_batch_sends_only_as_many_at_once_as_slots_are_free(bridge, write_config,
                                                               network_server):
    config = bridge.config.model_dump()
    config["networks"][0]["concurrency"] = 3
    rt = write_config(config)
    network_server.script([], default=Reply(delay_s=0.2))
    post_sales(create_app(rt).test_client(), 4)
    network = rt.config.network("house")
    with limits.Slots(rt, network, lease_s=30) as elsewhere:
        elsewhere.hold(2)  # another worker's batch
        batch.deliver_batch("house", [1, 2, 3, 4])
    assert network_server.max_in_flight == 1
    assert statuses(rt) == ["delivered"] * 4


def test_a_batch_longer_than_its_lease_keeps_its_claims(bridge, write_config, network_server):
    config = bridge.config.model_dump()
    config["networks"][0].update(concurrency=1, timeout_s=0.5)
    config["worker"]["lease_margin_s"] = 0.1  # a claim lasts 1.1 s; the batch takes ~1.6 s
    rt = write_config(config)
    network_server.script([], default=Reply(delay_s=0.4))
    post_sales(create_app(rt).test_client(), 4)
    job = threading.Thread(target=batch.deliver_batch, args=("house", [1, 2, 3, 4]))
    job.start()
    while job.is_alive():  # a sweeper looking for claims whose worker died
        with rt.session() as session:
            assert recover_lost(session, utcnow()) == 0
        job.join(0.05)
    assert statuses(rt) == ["delivered"] * 4
    with rt.session() as session:
        assert session.scalars(select(Attempt.number)).all() == [1] * 4


def test_the_breaker_counts_a_batch_run_by_run(bridge):
    network = bridge.config.network("house")  # opens after breaker.failures in a row
    limits.ensure_state(bridge, "house")
    failures = network.breaker.failures
    with bridge.session() as session:
        counted = [True] * (failures - 1) + [False, True]  # a success between: no breaker
        assert limits.count_outcomes(session, network, counted) == ""
        assert session.get(NetworkState, "house").consecutive_failures == 1
        opened = limits.count_outcomes(session, network, [None] + [True] * failures)
    assert opened.startswith("circuit open")
    with bridge.session() as session:
        state = session.get(NetworkState, "house")
        assert state.paused and state.consecutive_failures == failures + 1


def test_a_delivery_due_while_a_run_waits_on_a_slow_network_joins_that_run(
        client, bridge, network_server):
    network_server.script([Reply(delay_s=1.5)])  # the first postback is answered slowly
    post_sales(client, 1)
    result = {}
    run = threading.Thread(target=lambda: result.update(batch.deliver_batch("house")))
    run.start()
    network_server.wait_for(1)
    se.post(client, se.checkout_session(event_id="evt_late", payment_intent="pi_late",
                                        click_id="clk_late"))
    assert len(network_server.wait_for(2, timeout_s=1.0)) == 2  # before the first is answered
    run.join(10)
    assert result["sent"] == 2 and statuses(bridge) == ["delivered"] * 2
