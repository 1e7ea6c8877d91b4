"""Back-pressure: a concurrency limit across worker processes, and a circuit breaker that stops
one dead network from holding up the others."""

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bridge import status as status_module
from bridge.app import create_app
from bridge.cli import main
from bridge.storage.models import NetworkState
from tests.faults.helpers import (
    delivery_rows,
    fault_config,
    post_orders,
    start_worker,
    statuses,
    stop,
    txn_ids,
    wait_until,
)
from tests.netserver import NetworkServer, Reply

pytestmark = pytest.mark.slow  # real worker and web processes


def test_concurrency_holds_across_worker_processes(write_config, database_url, redis_url, redis,
                                                   network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url, concurrency=2))
    network_server.script([], default=Reply(delay_s=0.6))
    post_orders(create_app(rt).test_client(), 6)
    workers = [start_worker(rt) for _ in range(3)]
    try:
        assert wait_until(lambda: statuses(rt) == {"delivered": 6}, timeout_s=25), statuses(rt)
    finally:
        for worker in workers:
            stop(worker)
    assert network_server.max_in_flight == 2  # three workers, yet never more than two at once
    assert set(txn_ids(network_server).values()) == {1}
    assert [d.attempts for d in delivery_rows(rt)] == [1] * 6  # waiting for a slot is no attempt


def breaker_config(database_url, redis_url, house_url, flaky_url) -> dict:
    config = fault_config(database_url, redis_url, house_url, receives="all")
    flaky = {**config["networks"][0], "name": "flaky", "url": flaky_url + "/pb?txn_id={txn_id}",
             "retry": {"max_attempts": 10, "first_delay_s": 0.05, "max_delay_s": 0.1,
                       "max_age_h": 1},
             "breaker": {"failures": 3, "cooldown_s": 1},
             "concurrency": 1}  # one in flight: the batch stops when the breaker opens
    config["networks"].append(flaky)
    return config


def network_state(rt, name: str) -> NetworkState | None:
    with rt.session() as session:
        return session.scalars(select(NetworkState).where(NetworkState.name == name)).first()


def test_breaker_opens_probes_and_closes_while_others_flow(write_config, database_url, redis_url,
                                                           redis, network_server):
    with NetworkServer() as flaky:
        flaky.script([], default=Reply(500, "down"))
        rt = write_config(breaker_config(database_url, redis_url, network_server.url, flaky.url))
        post_orders(create_app(rt).test_client(), 6)
        worker = start_worker(rt)
        try:
            assert wait_until(lambda: len(network_server.received) == 6, timeout_s=15)
            assert wait_until(lambda: (network_state(rt, "flaky") or NetworkState()).probe_at)
            figures = {n.name: n for n in status_module.collect(rt).networks}
            assert figures["flaky"].paused and "circuit open" in figures["flaky"].paused_reason
            assert not figures["house"].paused
            shown = CliRunner().invoke(main, ["status"])
            assert "circuit open, next probe" in shown.output and shown.exit_code == 1
            wait_until(lambda: False, timeout_s=2.5)  # two cool-downs: a probe each, no more
            assert len(flaky.received) <= 3 + 1 + 3  # 3 to open, 1 in flight, ≤ 1 probe per s
            assert statuses(rt)["dead"] == 0  # held deliveries do not burn their attempts
            flaky.script([], default=Reply(200, "OK"))
            assert wait_until(lambda: statuses(rt) == {"delivered": 12}, timeout_s=15)
        finally:
            stop(worker)
    state = network_state(rt, "flaky")
    assert (state.paused, state.probe_at, state.consecutive_failures) == (False, None, 0)


def test_pause_holds_and_resume_releases_at_once(write_config, database_url, redis_url, redis,
                                                 network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url))
    assert CliRunner().invoke(main, ["networks", "pause", "house"]).exit_code == 0
    post_orders(create_app(rt).test_client(), 2)
    worker = start_worker(rt)
    try:
        wait_until(lambda: False, timeout_s=1)
        # A job may be between its claim and settling the held deliveries back (slow machine).
        assert wait_until(lambda: statuses(rt) == {"pending": 2}, timeout_s=5)
        assert network_server.received == []
        shown = CliRunner().invoke(main, ["status"])
        assert "paused: paused by hand" in shown.output
        assert CliRunner().invoke(main, ["networks", "resume", "house"]).exit_code == 0
        assert wait_until(lambda: statuses(rt) == {"delivered": 2}, timeout_s=5)
    finally:
        stop(worker)
