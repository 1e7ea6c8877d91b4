"""Replays and sweepers that overlap still send each conversion once."""

import threading
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import update

from bridge.app import create_app
from bridge.cli import main
from bridge.storage.models import Delivery, utcnow
from tests.faults.helpers import fault_config, post_orders, start_worker, statuses, txn_ids
from tests.live import run_worker
from tests.netserver import Reply
from workers.sweeper import sweep


def test_replay_twice_sends_each_dead_delivery_once_more(write_config, database_url, redis_url,
                                                         redis, network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url,
                                   retry={"max_attempts": 1, "first_delay_s": 0,
                                          "max_delay_s": 0, "max_age_h": 1}))
    network_server.script([], default=Reply(500, "down"))
    post_orders(create_app(rt).test_client(), 3)
    run_worker(rt)
    assert statuses(rt) == {"dead": 3} and len(network_server.received) == 3
    network_server.script([], default=Reply(200, "OK"))
    since = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    for _ in range(2):
        result = CliRunner().invoke(main, ["deliveries", "replay", "--network", "house",
                                           "--since", since])
        assert result.exit_code == 0, result.output
    run_worker(rt)
    sweep(rt)
    run_worker(rt)
    assert statuses(rt) == {"delivered": 3}
    assert set(txn_ids(network_server).values()) == {2}  # the failed try, then one replay


def test_two_sweepers_and_duplicate_jobs_still_send_once(write_config, database_url, redis_url,
                                                         redis, network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url))
    post_orders(create_app(rt).test_client(), 10)
    redis.flushdb()  # Redis lost its jobs: only the sweepers can bring them back
    with rt.session() as session:
        session.execute(update(Delivery).values(lease_until=None))
    sweepers = [threading.Thread(target=sweep, args=(rt,)) for _ in range(2)]
    for thread in sweepers:
        thread.start()
    for thread in sweepers:
        thread.join(10)
    for delivery_id in range(1, 11):  # and a stale copy of every job on top
        rt.queue.enqueue("workers.delivery.deliver", delivery_id, job_id=f"stale-{delivery_id}")
    workers = [start_worker(rt, "--burst", "--no-sweeper") for _ in range(2)]
    for worker in workers:
        assert worker.wait(30) == 0
    assert statuses(rt) == {"delivered": 10}
    assert len(network_server.received) == 10 and set(txn_ids(network_server).values()) == {1}
