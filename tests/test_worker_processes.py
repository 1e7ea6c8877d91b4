"""Several worker processes: `bridge run --workers N` and `bridge worker --workers N`."""

import signal
import subprocess
import sys
import time

import pytest
from redis import Redis
from rq import Worker

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
