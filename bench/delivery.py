"""Benchmark 3: postbacks/s from the worker tier to a network answering in 50 ms (and 500 ms),
next to a raw `requests` loop with the same concurrency; CPU seconds and peak RSS per 1,000.

The tier's concurrency is the network's `concurrency`: the worker processes share that many
slots (workers/limits.py), however many threads their pools have, so the ceiling loop runs that
many threads. A job per delivery has one request in flight per worker process."""

import subprocess
import time

import psutil
from sqlalchemy import insert

from bench import harness
from bench.harness import PY
from bridge import queue as queue_module
from bridge import runtime as runtime_module
from bridge import settings
from bridge.storage.db import migrate
from bridge.storage.models import Delivery, Event, utcnow

def worker_command(worker: str, env: dict, queue: str) -> list[str]:
    """`bridge worker` (a SimpleWorker) without its sweeper, or RQ's forking `Worker`."""
    if worker == "SimpleWorker":
        return [PY, "-m", "bridge", "worker", "--no-sweeper"]
    return [PY, "-m", "rq.cli", "worker", "--worker-class", f"rq.{worker}", "--url",
            env["REDIS_URL"], "--logging_level", "WARNING", queue]


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


def enqueue(rt, count: int, batches: bool) -> None:
    """The backlog as the sweeper enqueues it (batch jobs), or one job per delivery."""
    if batches:
        network = rt.config.network("house")
        queue_module.enqueue_batches(rt.queue, [(i, 0, "house") for i in range(1, count + 1)],
                                     {"house": queue_module.batch_size(network)})
    else:
        queue_module.enqueue(rt.queue, [(i, 0) for i in range(1, count + 1)])


def run_workers(env: dict, net_port: int, count: int, commands: list[list[str]],
                timeout_s: float) -> dict:
    """Start the worker tier, wait until the network has every postback; figures. CPU counts
    from the first postback (start-up is not delivery work); RSS is the tier's peak."""
    started = time.perf_counter()
    procs = [subprocess.Popen(command, env={**harness.os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for command in commands]
    first, peak_mb = None, 0.0
    try:
        while time.perf_counter() - started < timeout_s:
            stats = harness.get_json(f"http://127.0.0.1:{net_port}/_stats")
            if first is None and stats["count"]:
                first = (stats["count"], tier_cpu_s(procs))
            peak_mb = max(peak_mb, sum(harness.tree_rss_mb(p.pid) for p in procs))
            if stats["count"] >= count:
                break
            time.sleep(0.1)
        cpu = tier_cpu_s(procs) - first[1]
        peak_mb = max(peak_mb, sum(harness.tree_peak_rss_mb(p.pid) for p in procs))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
    done = stats["count"]
    return {"delivered": done, "rps": arrival_rate(stats),
            "cpu_s_per_1000": round(cpu / max(1, done - first[0]) * 1000, 2),
            "peak_rss_mb": round(peak_mb), "connections": stats["connections"]}


def tier_cpu_s(procs) -> float:
    """CPU seconds of the worker processes, their live children and the job children they
    forked and reaped (RQ's `Worker`)."""
    reaped = sum(sum(psutil.Process(p.pid).cpu_times()[2:4]) for p in procs)
    return sum(harness.tree_cpu_s(p.pid) for p in procs) + reaped


def raw_ceiling(net_port: int, count: int, concurrency: int) -> float:
    """The raw loop's postbacks/s, timed like the tier's: first to last arrival at the network."""
    harness.get_json(f"http://127.0.0.1:{net_port}/_reset")
    subprocess.run([PY, "-m", "bench.rawloop", f"http://127.0.0.1:{net_port}", str(count),
                    str(concurrency)], capture_output=True, text=True, timeout=300, check=True)
    return arrival_rate(harness.get_json(f"http://127.0.0.1:{net_port}/_stats"))


def arrival_rate(stats: dict) -> float:
    span = stats["last"] - stats["first"]
    return round(stats["count"] / span, 1) if span else 0


def one(folder, redis_url, storage: str, delay_s: float, concurrency: int, count: int,
        processes: int, worker: str = "SimpleWorker", batches: bool = True) -> dict:
    """One row: seed, enqueue, run `processes` workers against the network, then the ceiling
    (the same number of postbacks)."""
    net_port = harness.free_port()
    in_flight = concurrency if batches else min(concurrency, processes)
    with harness.process([PY, "-m", "bench.netserver", str(net_port), str(delay_s)],
                         port=net_port), harness.database(storage, folder) as db:
        env = harness.write_config(folder, db, redis_url, f"http://127.0.0.1:{net_port}",
                                   concurrency)
        rt = seed(env, count)
        enqueue(rt, count, batches)
        rt.engine.dispose()
        command = worker_command(worker, env, rt.config.worker.queue)
        figures = run_workers(env, net_port, count, [command] * processes, 120)
        ceiling = raw_ceiling(net_port, count, in_flight)
    figures.update(ceiling_rps=ceiling, ratio=round(figures["rps"] / ceiling, 2),
                   concurrency=in_flight)
    return figures
