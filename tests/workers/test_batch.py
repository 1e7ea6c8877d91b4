"""The batch job and the wake-up enqueue, with real parts (Redis, RQ, a network on 127.0.0.1)."""

from datetime import timedelta

from rq import SimpleWorker
from sqlalchemy import select, update

from bridge import queue as queue_module
from bridge.storage.models import Delivery, utcnow
from tests import stripe_events as se
from workers import batch
from workers.sweeper import sweep


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
    # the first webhook's inbox job and its network's job; the others found them waiting
    assert job_functions(bridge) == [queue_module.INBOX_FUNCTION, queue_module.BATCH_FUNCTION]
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
