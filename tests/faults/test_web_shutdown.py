"""SIGTERM to the web tier (gunicorn, as Heroku stops a dyno): a webhook in flight is stored and
answered before the process exits."""

import os
import signal
import socket
import subprocess
import time

import pytest
import requests
from sqlalchemy import func, select

from bridge import runner
from bridge.embedded_redis import free_port
from bridge.storage.models import Delivery, Event
from tests import stripe_events as se
from tests.faults.helpers import fault_config, stop
from tests.live import run_worker

pytestmark = pytest.mark.slow  # real worker and web processes


def start_web(tmp_path, port: int) -> subprocess.Popen:
    command = [part.replace("0.0.0.0:", "127.0.0.1:") for part in runner.gunicorn_command(port)]
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    return subprocess.Popen(command, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_ready(port: int, timeout_s: float = 20) -> None:
    """Until both gunicorn workers answer (a connection in the backlog of a booting worker is
    not in flight yet)."""
    deadline = time.monotonic() + timeout_s
    answered = 0
    while answered < 6:
        try:
            answered += requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_sigterm_finishes_the_webhook_in_flight(tmp_path, write_config, database_url, redis_url,
                                                redis, network_server):
    rt = write_config(fault_config(database_url, redis_url, network_server.url))
    port = free_port()
    web = start_web(tmp_path, port)
    raw = se.body(se.checkout_session())
    head = "".join(f"{k}: {v}\r\n" for k, v in se.headers(raw).items())
    wait_ready(port)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(f"POST /webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                     f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n".encode())
        sock.sendall(raw[:100])  # the store is still sending the body when the dyno stops
        time.sleep(0.5)
        web.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        sock.sendall(raw[100:])
        answer = sock.recv(4096).decode()
    finally:
        sock.close()
        exit_code = stop(web, timeout_s=30)
    assert answer.startswith("HTTP/1.1 200"), answer
    assert exit_code == 0
    run_worker(rt)  # the inbox job turns the kept webhook into its event and delivery
    with rt.session() as session:
        assert session.scalar(select(func.count(Event.id))) == 1
        assert session.scalar(select(func.count(Delivery.id))) == 1
