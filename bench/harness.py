"""Processes, databases and configs for the benchmarks (everything on 127.0.0.1)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import psutil
import yaml
from sqlalchemy import create_engine, text

from bench.payloads import SECRETS
from connectors import CONNECTORS

PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PLATFORMS = {"stripe": "stripe", "shop": "shopify", "woo": "woocommerce"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sources() -> list[str]:
    """The benchmark's sources whose platform connector is registered in this build."""
    return [name for name, platform in PLATFORMS.items() if platform in CONNECTORS]


@contextmanager
def process(args: list[str], env: dict | None = None, port: int | None = None):
    proc = subprocess.Popen(args, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if port:
            wait_port(port)
        yield proc
    finally:
        for child in psutil.Process(proc.pid).children(recursive=True) + [proc]:
            try:
                child.terminate()
            except psutil.NoSuchProcess:
                pass
        proc.wait(20)


def wait_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@contextmanager
def database(kind: str, folder: Path):
    """A fresh SQLite file or a throw-away PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    name = f"bridge_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_config(folder: Path, database_url: str, redis_url: str, network_url: str,
                 concurrency: int = 32, timeout_s: float = 10) -> dict:
    """A merchant-like config; returns the environment that points the bridge at it."""
    config = {
        "server": {"public_url": "http://127.0.0.1:9"},
        "storage": {"database_url": database_url,
                    **({"redis_url": redis_url} if redis_url else {})},
        "sources": [{"name": n, "platform": PLATFORMS[n], "secret": SECRETS[n],
                     **({"shop_domain": "bench.myshopify.com"} if n == "shop" else {}),
                     **({"site_url": "https://shop.example.com"} if n == "woo" else {})}
                    for n in sources()],
        "networks": [{"name": "house", "receives": "all", "concurrency": concurrency,
                      "timeout_s": timeout_s,
                      "url": network_url + "/postback?click_id={click_id}&amount={amount}"}],
        "worker": {"sweep_interval_s": 2, "queue": "bench"},
    }
    path = folder / f"bench-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return {"BRIDGE_CONFIG": str(path), "BRIDGE_VAR_DIR": str(folder / "var"),
            **({"REDIS_URL": redis_url} if redis_url else {}), "PYTHONWARNINGS": "ignore"}


def tree_rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def tree_peak_rss_mb(pid: int) -> float:
    """Sum of each process's peak RSS (VmHWM)."""
    total = 0
    proc = psutil.Process(pid)
    for p in [proc, *proc.children(recursive=True)]:
        for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def tree_cpu_s(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [proc, *proc.children(recursive=True)])


PY = sys.executable


def tree_size(pid: int) -> int:
    return 1 + len(psutil.Process(pid).children(recursive=True))


def tree_pss_mb(pid: int) -> float:
    """Proportional set size: pages shared between the processes counted once in total."""
    proc = psutil.Process(pid)
    return sum(p.memory_full_info().pss for p in [proc, *proc.children(recursive=True)]) / 2**20


def tree_rss_by_process(pid: int) -> dict[str, list[float]]:
    """RSS (MB) of each process in the tree, under a short name taken from its command line."""
    found: dict[str, list[float]] = {}
    for proc, name in _named_tree(pid).values():
        found.setdefault(name, []).append(proc.memory_info().rss / 2**20)
    return found


SERVERS = {"postgres": "postgresql", "redis-server": "redis"}  # by process name


def cpu_by_process(pid: int) -> dict[str, float]:
    """CPU seconds so far of each process in the tree, added up under short names, and of the
    PostgreSQL and Redis servers on this machine (so the database's share of a webhook shows)."""
    named = _named_tree(pid)
    for proc in psutil.process_iter(["name"]):
        for prefix, name in SERVERS.items():
            if (proc.info["name"] or "").startswith(prefix):
                named.setdefault(proc.pid, (proc, name))
    found: dict[str, float] = {}
    for proc, name in named.values():
        try:
            found[name] = found.get(name, 0) + sum(proc.cpu_times()[:2])
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # gone, or another user's
            pass
    return found


def _named_tree(pid: int) -> dict[int, tuple[psutil.Process, str]]:
    """{pid: (process, short name)} of a process and its descendants still running."""
    named = {}
    tree = psutil.Process(pid)
    for proc in [tree, *tree.children(recursive=True)]:
        try:
            named[proc.pid] = (proc, _short_name(proc.cmdline()))
        except psutil.NoSuchProcess:
            pass
    return named


def _short_name(args: list[str]) -> str:
    line = " ".join(args)
    for needle, name in (("redis-server", "redis"), ("gunicorn", "gunicorn"),
                         ("bridge worker", "worker"), ("bridge.runner", "supervisor")):
        if needle in line:
            return name
    return Path(args[0]).name if args else "?"
