"""Real processes for fault tests: `bridge worker` subprocesses, and counts read back from SQL."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from sqlalchemy import select

from bridge.storage.models import Attempt, Delivery
from tests import stripe_events as se
from tests.conftest import base_config


def fault_config(database_url, redis_url, network_url, **network) -> dict:
    """The base config with quick leases and sweeps, so a lost worker costs seconds."""
    config = base_config(database_url, redis_url, network_url)
    config["networks"][0].update(network)
    config["worker"].update(lease_margin_s=1, sweep_interval_s=0.2)
    return config


def start_worker(rt, *args: str) -> subprocess.Popen:
    """`python -m bridge worker` in its own process group, on this test's config."""
    env = {**os.environ, "REDIS_URL": rt.redis_url, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "bridge", "worker", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def stop(process: subprocess.Popen, sig=signal.SIGTERM, timeout_s: float = 15) -> int:
    """Signal a process and wait for it; killed if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        raise


def wait_until(predicate, timeout_s: float = 15, every_s: float = 0.05):
    """Poll until predicate() is truthy; its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


def statuses(rt) -> Counter:
    with rt.session() as session:
        return Counter(session.scalars(select(Delivery.status)))


def delivery_rows(rt) -> list[Delivery]:
    with rt.session() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def attempts(rt, delivery_id: int) -> list[Attempt]:
    with rt.session() as session:
        return list(session.scalars(select(Attempt).where(Attempt.delivery_id == delivery_id)
                                    .order_by(Attempt.id)))


def post_orders(client, count: int, prefix: str = "o") -> None:
    """`count` distinct paid orders, each with its own click id."""
    for n in range(count):
        response = se.post(client, se.checkout_session(
            event_id=f"evt_{prefix}{n}", payment_intent=f"pi_{prefix}{n}",
            click_id=f"clk_{prefix}{n}"))
        assert response.status_code == 200, response.data


def txn_ids(network_server) -> Counter:
    """How many times the network heard each transaction id (its own log)."""
    return Counter(r.query["txn_id"][0] for r in network_server.received)
