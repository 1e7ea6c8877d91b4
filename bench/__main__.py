"""`python -m bench`: run the benchmarks and print one table (delivery tier for now)."""

import tempfile
from pathlib import Path

from bench import delivery
from bridge.embedded_redis import EmbeddedRedis

DELIVERY_CASES = [
    ("single job per delivery (before)", dict(delay_s=0.05, concurrency=32, count=300,
                                              processes=1, single_jobs=True)),
    ("batch, 1 SimpleWorker, pool 32", dict(delay_s=0.05, concurrency=32, count=3000,
                                            processes=1)),
    ("batch, 2 SimpleWorkers, pool 32", dict(delay_s=0.05, concurrency=32, count=3000,
                                             processes=2)),
    ("batch, 2 SimpleWorkers, pool 128, 500 ms", dict(delay_s=0.5, concurrency=128, count=2000,
                                                      processes=2)),
]
COLUMNS = ("rps", "ceiling_rps", "ratio", "cpu_s_per_1000", "peak_rss_mb", "connections")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as redis:
        print("| delivery case | storage | " + " | ".join(COLUMNS) + " |")
        print("| --- " * (len(COLUMNS) + 2) + "|")
        for storage in ("sqlite", "postgresql"):
            for name, case in DELIVERY_CASES:
                figures = delivery.one(Path(tmp), redis.url, storage, **case)
                cells = " | ".join(str(figures[c]) for c in COLUMNS)
                print(f"| {name} | {storage} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
