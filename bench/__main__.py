"""`python -m bench` (`make bench`): every benchmark, one table, in under 10 minutes."""

import tempfile
from pathlib import Path

from bench import delivery, ingest
from bridge.embedded_redis import EmbeddedRedis

# The worker processes of a row share the network's `concurrency` (Redis slots); each has a pool
# of that many threads. The ceiling loop runs as many threads as the tier may have in flight.
DELIVERY_CASES = [
    ("batch jobs, 1 SimpleWorker, pool 32 (concurrency 32), 50 ms network",
     dict(delay_s=0.05, concurrency=32, count=3000, processes=1)),
    ("batch jobs, 2 SimpleWorkers, pools of 64 sharing concurrency 64, 50 ms network",
     dict(delay_s=0.05, concurrency=64, count=6000, processes=2)),
    ("batch jobs, 1 forking Worker, pool 32 (concurrency 32), 50 ms network",
     dict(delay_s=0.05, concurrency=32, count=3000, processes=1, worker="Worker")),
    ("one job per delivery, 2 SimpleWorkers (2 in flight), 50 ms network",
     dict(delay_s=0.05, concurrency=32, count=200, processes=2, batches=False)),
    ("batch jobs, 1 SimpleWorker, pool 128 (concurrency 128), 500 ms network",
     dict(delay_s=0.5, concurrency=128, count=1500, processes=1)),
    ("batch jobs, 2 SimpleWorkers, pools of 256 sharing concurrency 256, 500 ms network",
     dict(delay_s=0.5, concurrency=256, count=3000, processes=2)),
]
COLUMNS = ("benchmark", "case", "storage", "per_s", "p50_ms", "p99_ms", "max_ms", "errors",
           "notes")


def delivery_rows(folder: Path, redis_url: str) -> list[dict]:
    rows = []
    for storage in ("sqlite", "postgresql"):
        for name, case in DELIVERY_CASES:
            f = delivery.one(folder, redis_url, storage, **case)
            notes = (f"ceiling {f['ceiling_rps']}/s at {f['concurrency']} threads (ratio "
                     f"{f['ratio']}), {f['cpu_s_per_1000']} CPU s per 1,000, "
                     f"{f['peak_rss_mb']} MB peak RSS, {f['connections']} connections")
            rows.append({"benchmark": "3 delivery", "case": name, "storage": storage,
                         "per_s": f["rps"], "p50_ms": "", "p99_ms": "", "max_ms": "",
                         "errors": f"{case['count'] - f['delivered']} undelivered",
                         "notes": notes})
            print_row(rows[-1])
    return rows


def print_row(row: dict) -> None:
    print("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |", flush=True)


def main() -> None:
    print("| " + " | ".join(COLUMNS) + " |")
    print("| --- " * len(COLUMNS) + "|", flush=True)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as redis:
        for row in ingest.main_rows(Path(tmp), redis.url):
            print_row(row)
        delivery_rows(Path(tmp), redis.url)


if __name__ == "__main__":
    main()
