"""Benchmark 3: postbacks/s from the worker tier to a network answering in 50 ms (and 500 ms),
next to a raw `requests` loop with as many threads as the worker pools; CPU seconds and peak RSS
per 1,000."""

import json
import subprocess
import time

from sqlalchemy import insert

from bench import harness
from bench.harness import PY
from bridge import queue as queue_module
from bridge import runtime as runtime_module
from bridge import settings
from bridge.storage.db import migrate
from bridge.storage.models import Delivery, Event, utcnow


def seed(env: dict, count: int) -> runtime_module.Runtime:
    """One accepted sale and `count` pending deliveries of it (rows written directly)."""
    rt = runtime_module.Runtime(settings.load(env["BRIDGE_CONFIG"]))
    migrate(rt.engine)
    with rt.session() as session:
        event = Event(source="stripe", platform="stripe", event_key="evt_seed", status="accepted",
                      kind="sale", txn_id="pi_seed", currency="EUR", amount="20.00",
                      money={"total": "28.00", "net": "20.00"}, click_id="seed")
        session.add(event)
        session.flush()
        now = utcnow()
        session.execute(insert(Delivery), [
            {"event_id": event.id, "network": "house", "idempotency_key": f"bench-{n}",
             "kind": "sale", "status": "pending", "attempts": 0, "next_attempt_at": now,
             "created_at": now, "round_started_at": now, "round_base": 0, "updated_at": now}
            for n in range(count)])
    return rt


def run_workers(env: dict, net_port: int, count: int, processes: int, timeout_s: float,
                sweeper: bool = True) -> dict:
    """Start the worker tier, wait until the network has every postback; figures."""
    started = time.perf_counter()
    flags = [["--no-sweeper"] if i or not sweeper else [] for i in range(processes)]
    procs = [subprocess.Popen([PY, "-m", "bridge", "worker", *flags[i]],
                              env={**harness.os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for i in range(processes)]
    try:
        while time.perf_counter() - started < timeout_s:
            stats = harness.get_json(f"http://127.0.0.1:{net_port}/_stats")
            if stats["count"] >= count:
                break
            time.sleep(0.1)
        cpu = sum(harness.tree_cpu_s(p.pid) for p in procs)
        rss = sum(harness.tree_peak_rss_mb(p.pid) for p in procs)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
    span, done = stats["last"] - stats["first"], stats["count"]
    return {"delivered": done, "rps": round(done / span, 1) if span else 0,
            "cpu_s_per_1000": round(cpu / max(1, done) * 1000, 2),
            "peak_rss_mb": round(rss), "connections": stats["connections"]}


def raw_ceiling(net_port: int, count: int, concurrency: int) -> float:
    out = subprocess.run([PY, "-m", "bench.rawloop", f"http://127.0.0.1:{net_port}", str(count),
                          str(concurrency)], capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)["rps"]


def one(folder, redis_url, storage: str, delay_s: float, concurrency: int, count: int,
        processes: int, single_jobs: bool = False) -> dict:
    net_port = harness.free_port()
    with harness.process([PY, "-m", "bench.netserver", str(net_port), str(delay_s)],
                         port=net_port), harness.database(storage, folder) as db:
        env = harness.write_config(folder, db, redis_url, f"http://127.0.0.1:{net_port}",
                                   concurrency)
        rt = seed(env, count)
        if single_jobs:  # the design before batches: one RQ job per delivery
            queue_module.enqueue(rt.queue, [(i, 0) for i in range(1, count + 1)])
        rt.engine.dispose()
        figures = run_workers(env, net_port, count, processes, 120, not single_jobs)
        harness.get_json(f"http://127.0.0.1:{net_port}/_reset")
        ceiling = raw_ceiling(net_port, count, concurrency * processes)
    figures.update(ceiling_rps=ceiling, ratio=round(figures["rps"] / ceiling, 2))
    return figures
