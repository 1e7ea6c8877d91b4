"""A worker killed mid-request, or told to stop: the delivery is sent, at most once more."""

import os
import signal

import pytest

from bridge.app import create_app
from tests import stripe_events as se
from tests.faults.helpers import (
    attempts,
    delivery_rows,
    fault_config,
    start_worker,
    stop,
    txn_ids,
    wait_until,
)
from tests.netserver import Reply

pytestmark = pytest.mark.slow  # real worker and web processes


def test_worker_killed_mid_request_is_retried_once_with_the_same_txn(
        write_config, database_url, redis_url, redis, network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url, timeout_s=2))
    network_server.script([Reply(delay_s=8)])  # the first request hangs
    assert se.post(create_app(rt).test_client(), se.checkout_session()).status_code == 200
    doomed = start_worker(rt)
    assert network_server.wait_for(1, timeout_s=10), "the worker never sent"
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(5)
    [sending] = delivery_rows(rt)
    assert sending.status == "sending"
    survivor = start_worker(rt)
    try:
        assert wait_until(lambda: delivery_rows(rt)[0].status == "delivered", timeout_s=15)
    finally:
        stop(survivor)
    assert txn_ids(network_server) == {"pi_test_1": 2}  # one extra request, same transaction
    [delivered] = delivery_rows(rt)
    assert delivered.attempts == 2
    lost, sent = attempts(rt, delivered.id)
    assert "worker stopped mid-attempt" in lost.error and lost.number == 1
    assert sent.outcome == "delivered" and sent.number == 2


def test_sigterm_lets_the_request_in_flight_finish(write_config, database_url, redis_url, redis,
                                                   network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url, timeout_s=5))
    network_server.script([Reply(delay_s=1.5)])
    assert se.post(create_app(rt).test_client(), se.checkout_session()).status_code == 200
    worker = start_worker(rt)
    assert network_server.wait_for(1, timeout_s=10)
    assert stop(worker, signal.SIGTERM, timeout_s=10) == 0
    output = worker.stdout.read()
    assert [d.status for d in delivery_rows(rt)] == ["delivered"], output
    assert txn_ids(network_server) == {"pi_test_1": 1}
