"""`bridge run` on a fresh folder, as `make run` does it: first-run set-up, embedded Redis, SQLite,
gunicorn and a worker; then `bridge simulate` and `bridge deliveries list` show it delivered."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bridge.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_folder(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "bridge.example.yaml", tmp_path / "config")
    return tmp_path


def bridge_env() -> dict:
    drop = {"REDIS_URL", "DATABASE_URL", "BRIDGE_CONFIG", "BRIDGE_VAR_DIR", "PUBLIC_URL", "PORT"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def cli(folder, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=folder, env=bridge_env(),
                          capture_output=True, text=True, timeout=60)


def wait_ready(url: str, process, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            if requests.get(url + "/readyz", timeout=3).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("bridge did not become ready")


@pytest.mark.slow
def test_first_run_demo_loop(fresh_folder):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--port", str(port)],
                               cwd=fresh_folder, env=bridge_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        env_file = fresh_folder / "var" / "bridge.env"
        assert (fresh_folder / "config" / "bridge.yaml").exists()
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        assert oct((fresh_folder / "var").stat().st_mode & 0o777) == "0o700"
        assert "DEMO_STRIPE_WEBHOOK_SECRET=whsec_demo_" in env_file.read_text()
        assert (fresh_folder / "var" / "redis" / "appendonlydir").exists() or \
            list((fresh_folder / "var" / "redis").glob("*.aof*"))
        sent = cli(fresh_folder, "simulate", "demo", "--click-id", "abc", "--amount", "19.99",
                   "--currency", "EUR", "--url", f"http://127.0.0.1:{port}")
        assert sent.returncode == 0 and '"accepted"' in sent.stdout, sent.stdout + sent.stderr
        deadline, listing = time.monotonic() + 20, ""
        while "delivered" not in listing and time.monotonic() < deadline:
            listing = cli(fresh_folder, "deliveries", "list").stdout
            time.sleep(0.3)
        assert "demo" in listing and "delivered" in listing, listing
        shown = cli(fresh_folder, "deliveries", "show", "1").stdout
        assert "click_id=abc&amount=19.99&currency=EUR" in shown
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=40)[0]
    assert process.returncode == 0, output
    assert "Generated in" in output and "BRIDGE_ADMIN_TOKEN=" in output
