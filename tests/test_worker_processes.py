"""Several worker processes: `bridge run --workers N` and `bridge worker --workers N`."""

import os
import signal
import subprocess
import sys
import time

import pytest
from redis import Redis
from rq import Worker

from bridge import runner
from bridge.embedded_redis import free_port, running_url
from tests.test_run import bridge_env, fresh_folder, wait_ready  # noqa: F401 (fixture)


def registered_workers(redis_url: str, expected: int, timeout_s: float = 20) -> list[Worker]:
    deadline = time.monotonic() + timeout_s
    with Redis.from_url(redis_url) as redis:
        while True:
            workers = Worker.all(connection=redis)
            if len(workers) >= expected or time.monotonic() > deadline:
                return workers
            time.sleep(0.2)


@pytest.mark.slow
def test_run_starts_the_worker_processes_asked_for(fresh_folder):  # noqa: F811
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "run", "--port", str(port), "--workers", "3"],
        cwd=fresh_folder, env=bridge_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        workers = registered_workers(running_url(fresh_folder / "var" / "redis"), 3)
        assert len({w.pid for w in workers}) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=40)[0]
    assert process.returncode == 0, output


@pytest.mark.slow
def test_worker_processes_in_burst_exit_cleanly_when_the_queue_is_empty(bridge, database_url):
    env = {**bridge_env(), "BRIDGE_CONFIG": str(bridge.loaded.path),
           "REDIS_URL": bridge.redis_url}
    done = subprocess.run([sys.executable, "-m", "bridge", "worker", "--workers", "2", "--burst"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_run_starts_one_worker_and_spares_for_the_other_cores(monkeypatch):
    monkeypatch.delenv("WORKER_CONCURRENCY", raising=False)
    assert runner.worker_processes(None, spares=True) == (1, (os.cpu_count() or 1) - 1)
    assert runner.worker_processes(None, spares=False) == (1, 0)
    assert runner.worker_processes(3, spares=True) == (3, 0)  # asked for: that many, no spares
    monkeypatch.setenv("WORKER_CONCURRENCY", "2")
    assert runner.worker_processes(None, spares=True) == (2, 0)


def tick_for(spares: runner.Spares, first: subprocess.Popen, seconds: float) -> None:
    """The supervisor's loop, for a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        spares.tick(first)
        time.sleep(0.2)


@pytest.mark.slow
def test_a_spare_starts_while_the_first_worker_keeps_a_core_busy():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    spares = runner.Spares(limit=1, command=[sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 30
        while not spares.running and time.monotonic() < deadline:
            spares.tick(busy)
            time.sleep(0.2)
        assert len(spares.running) == 1
        tick_for(spares, busy, 2 * runner.SPARE_BUSY_S)  # still busy: the limit holds
        assert len(spares.running) == 1
    finally:
        for process in [busy, *spares.running]:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_no_spare_while_the_first_worker_idles():
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    spares = runner.Spares(limit=1, command=[sys.executable, "-c", "pass"])
    try:
        tick_for(spares, idle, 2 * runner.SPARE_BUSY_S)
        assert spares.running == []
    finally:
        idle.kill()
        idle.wait()


@pytest.mark.slow
def test_a_spare_worker_exits_once_idle_for_its_idle_time(bridge):
    env = {**bridge_env(), "BRIDGE_CONFIG": str(bridge.loaded.path), "REDIS_URL": bridge.redis_url}
    done = subprocess.run([sys.executable, "-m", "bridge", "worker", "--no-sweeper",
                           "--idle-exit", "1"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
