"""Benchmarks 1 (ingest), 2 (burst), 4 (end to end) and the idle RSS of `bridge run`.

The bridge runs as `bridge run` (gunicorn + worker processes) against a network answering in
200 ms; the baselines (bench/apps.py) run on the same gunicorn settings. The load generator
(bench/load.py) is its own process. Everything on 127.0.0.1, bounded in count and time.
"""

import json
import pickle
import statistics
import subprocess
import time
from contextlib import contextmanager

from bench import harness, payloads
from bench.harness import PY
from bridge import runner

NETWORK_DELAY_S = 0.2
# Counts are bounded so `python -m bench` stays under 10 minutes at ~100 webhooks/s.
BRIDGE_RATES = ((100, 1000), (500, 1500))  # (webhooks/s, count)
SATURATION = dict(connections=32, count=1500)
# The machine's speed drifts by 2x within seconds to minutes: each saturation sample is taken
# between two bare floor samples, its floor is their mean, and the row shows the sample with the
# median ratio.
SATURATION_PAIRS = 3
BARE = dict(connections=32, count=6000)
NAIVE = dict(connections=32, count=600)  # 16 gunicorn threads / 200 ms: about 80/s at best
BURST = dict(connections=64, count=10_000)
IDLE = dict(rate=5, count=40)


class Counter:
    """Order numbers that never repeat within one database."""

    def __init__(self):
        self.next = 0

    def take(self, count: int) -> int:
        start, self.next = self.next, self.next + count
        return start


def load(folder, port: int, count: int, start: int, keep: bool = False, **spec) -> dict:
    """Send `count` signed webhooks from a separate load-generator process; its JSON summary."""
    path = folder / f"requests-{start}.pickle"
    made = payloads.requests_for(harness.sources(), count, f"r{start}", start)
    path.write_bytes(pickle.dumps(made))
    spec = {"port": port, "requests": str(path), "keep": keep, "timeout_s": 30, **spec}
    spec.setdefault("connections", 64)
    out = subprocess.run([PY, "-m", "bench.load", json.dumps(spec)], capture_output=True,
                         text=True, timeout=300, check=True)
    path.unlink()
    return json.loads(out.stdout)


@contextmanager
def network(delay_s: float = NETWORK_DELAY_S):
    port = harness.free_port()
    with harness.process([PY, "-m", "bench.netserver", str(port), str(delay_s)], port=port):
        yield port


@contextmanager
def bridge(folder, storage: str, redis_url: str, net_port: int):
    """`bridge run` on a fresh database; yields (port, run process)."""
    port = harness.free_port()
    with harness.database(storage, folder) as db:
        env = harness.write_config(folder, db, redis_url, f"http://127.0.0.1:{net_port}")
        with harness.process([PY, "-m", "bridge", "run", "--port", str(port)], env,
                             port) as proc:
            yield port, proc


@contextmanager
def baseline(app: str, net_port: int):
    """A baseline app on the bridge's gunicorn settings; yields (port, gunicorn process)."""
    port = harness.free_port()
    command = runner.gunicorn_command(port)
    command[command.index("bridge.app:create_app()")] = app
    at = command.index("--config")
    del command[at:at + 2]  # the bridge's alert-watch hook needs the bridge's config
    env = {"NAIVE_NETWORK_URL": f"http://127.0.0.1:{net_port}"}
    with harness.process(command, env, port) as proc:
        yield port, proc


def row(bench: str, case: str, storage: str, result: dict, notes: str = "") -> dict:
    return {"benchmark": bench, "case": case, "storage": storage, "per_s": result["rps"],
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "max_ms": result["max_ms"],
            "errors": f"{result['errors']} err / {result['refused']} refused", "notes": notes}


def wait_delivered(net_port: int, clicks, timeout_s: float = 180) -> dict:
    """The network's arrivals once every click in `clicks` arrived (or at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = harness.get_json(f"http://127.0.0.1:{net_port}/_stats")
        if all(c in stats["arrivals"] for c in clicks) or time.monotonic() > deadline:
            return stats
        time.sleep(0.25)


def end_to_end(accepted: dict, arrivals: dict) -> dict:
    """Webhook answered 2xx → postback received by the network, in ms."""
    gaps = sorted((arrivals[c] - t) * 1000 for c, t in accepted.items() if c in arrivals)
    if not gaps:
        return {"p50": None, "p99": None, "missing": len(accepted)}
    return {"p50": round(statistics.median(gaps), 1),
            "p99": round(gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))], 1),
            "missing": len(accepted) - len(gaps)}


def baselines(folder) -> dict:
    """The bare Flask floor and the naive inline handler at saturation (storage-independent)."""
    found = {}
    with network() as net_port:
        for name, app, spec in (("bare", "bench.apps:bare()", BARE),
                                ("naive", "bench.apps:naive()", NAIVE)):
            with baseline(app, net_port) as (port, _):
                found[name] = load(folder, port, start=0, **spec)
    return found


def run_storage(folder, redis_url: str, storage: str, floors: dict, bare) -> list[dict]:
    """Ingest at fixed rates and at saturation, end to end idle and under load, then the burst.
    `bare` is the (port, process) of a bare Flask server, for the saturation pairs."""
    rows, orders = [], Counter()
    with network() as net_port, bridge(folder, storage, redis_url, net_port) as served:
        port = served[0]
        time.sleep(2)  # the worker's first sweep
        idle = load(folder, port, start=orders.take(IDLE["count"]), keep=True, **IDLE)
        rows.append(row("4 end to end", f"idle ({IDLE['rate']}/s)", storage, idle,
                        _e2e_note(net_port, idle)))
        for rate, count in BRIDGE_RATES:
            result = load(folder, port, count, orders.take(count), keep=True, rate=rate)
            rows.append(row("1 ingest + 4 end to end", f"bridge at {rate}/s", storage, result,
                            _e2e_note(net_port, result)))
        pairs = _saturation_pairs(folder, served, net_port, bare, orders)
        rows.append(_saturation_row(storage, pairs, floors))
        rows.append(_burst(folder, port, net_port, storage, orders))
    return rows


def _e2e_note(net_port: int, result: dict) -> str:
    stats = wait_delivered(net_port, result["accepted_at"], 90)
    e2e = end_to_end(result["accepted_at"], stats["arrivals"])
    return f"end to end p50 {e2e['p50']} ms, p99 {e2e['p99']} ms, missing {e2e['missing']}"


def _saturation_pairs(folder, served, net_port: int, bare, orders: Counter) -> list[tuple]:
    """SATURATION_PAIRS (bare floor, bridge) at saturation. Each bridge sample is taken between
    two bare ones, and its floor is their mean (one bare sample alone has been off by 3x). The
    bridge's postbacks drain before the next bare sample, so they neither compete with it nor
    start the next pair behind."""
    floors, pairs = [_bare_sample(folder, bare)], []
    for _ in range(SATURATION_PAIRS):
        sat = _with_cpu(served, lambda port: load(folder, port, start=orders.take(
            SATURATION["count"]), keep=True, **SATURATION))
        wait_delivered(net_port, sat["accepted_at"], 90)
        floors.append(_bare_sample(folder, bare))
        pairs.append((_mean(floors[-2:]), sat))
    return pairs


def _bare_sample(folder, bare) -> dict:
    return _with_cpu(bare, lambda port: load(folder, port, start=0, **BARE))


def _mean(samples: list[dict]) -> dict:
    """The mean requests/s and CPU per request of load summaries."""
    names = {name for sample in samples for name in sample["cpu_us"]}
    return {"rps": statistics.mean(s["rps"] for s in samples),
            "cpu_us": {name: statistics.mean(s["cpu_us"].get(name, 0) for s in samples)
                       for name in names}}


def _with_cpu(served, run) -> dict:
    """`run(port)`'s load summary, plus `cpu_us`: the CPU each kind of process spent per request
    meanwhile (far steadier than requests/s on a machine whose speed drifts)."""
    port, proc = served
    before = harness.cpu_by_process(proc.pid)
    result = run(port)
    after = harness.cpu_by_process(proc.pid)
    result["cpu_us"] = {name: (spent - before.get(name, 0)) / result["sent"] * 1e6
                        for name, spent in after.items()}
    return result


def _saturation_row(storage: str, pairs: list[tuple[dict, dict]], floors: dict) -> dict:
    ratios = sorted((sat["rps"] / bare["rps"], n) for n, (bare, sat) in enumerate(pairs))
    median, at = ratios[len(ratios) // 2]
    bare, sat = pairs[at]
    each = ", ".join(f"{s['rps']:,.0f}/{b['rps']:,.0f}" for b, s in pairs)
    return row("1 ingest", "bridge at saturation", storage, sat,
               f"{median:.0%} of bare Flask (median of {len(pairs)} samples, each against the mean "
               f"of the bare samples before and after it; bridge/bare per s: "
               f"{each}), {sat['rps'] / floors['naive']['rps']:.1f}x the naive handler; "
               f"CPU µs a request: {_cpu_note(sat)} (bare Flask: {_cpu_note(bare)})")


def _cpu_note(result: dict) -> str:
    spent = sorted(((us, name) for name, us in result["cpu_us"].items() if us >= 5), reverse=True)
    return ", ".join(f"{name} {us:,.0f}" for us, name in spent) or "none measured"


def _burst(folder, port: int, net_port: int, storage: str, orders: Counter) -> dict:
    started = time.time()
    burst = load(folder, port, start=orders.take(BURST["count"]), keep=True, **BURST)
    stats = wait_delivered(net_port, burst["accepted_at"], 240)
    arrived = [stats["arrivals"][c] for c in burst["accepted_at"] if c in stats["arrivals"]]
    done = f"{max(arrived) - started:.1f} s" if arrived else "never"
    return row("2 burst", f"{BURST['count']:,} from {BURST['connections']} connections", storage,
               burst, f"{burst['over_5s']} over 5 s; {len(arrived)} postbacks, the last {done} "
               "after the first webhook")


def idle_rss(folder) -> dict:
    """`bridge run` with its embedded Redis, SQLite, idle: RSS of every process in the tree."""
    port = harness.free_port()
    with harness.database("sqlite", folder) as db:
        env = harness.write_config(folder, db, "", "http://127.0.0.1:9")
        env = {**env, "REDIS_URL": ""}
        with harness.process([PY, "-m", "bridge", "run", "--port", str(port)], env, port) as proc:
            time.sleep(5)
            rss, count = harness.tree_rss_mb(proc.pid), harness.tree_size(proc.pid)
            pss = harness.tree_pss_mb(proc.pid)
            each = harness.tree_rss_by_process(proc.pid)
    parts = ", ".join(f"{name} {' + '.join(f'{mb:.0f}' for mb in sizes)}"
                      for name, sizes in each.items())
    return {"benchmark": "idle RSS", "case": "bridge run (web, worker, embedded Redis)",
            "storage": "sqlite", "per_s": "", "p50_ms": "", "p99_ms": "", "max_ms": "",
            "errors": "",
            "notes": f"RSS {rss:.0f} MB (PSS {pss:.0f} MB) in {count} processes: {parts}"}


def main_rows(folder, redis_url: str):
    """Every row of benchmarks 1, 2, 4 and idle RSS, as each is measured."""
    floors = baselines(folder)
    yield row("1 ingest", "bare Flask 200 (floor)", "-", floors["bare"])
    yield row("1 ingest", f"naive inline handler, {NETWORK_DELAY_S * 1000:.0f} ms network",
              "-", floors["naive"])
    with network() as net_port, baseline("bench.apps:bare()", net_port) as bare:
        for storage in ("sqlite", "postgresql"):
            yield from run_storage(folder, redis_url, storage, floors, bare)
    yield idle_rss(folder)
