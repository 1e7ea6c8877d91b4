"""The load generator, run as its own process: `python -m bench.load <spec.json>` prints JSON.

Open loop at a fixed rate (requests start on schedule, whatever the server does), or closed loop
at saturation (each connection sends its next request when the previous one is answered).
Keep-alive connections; a refused or reset connection counts as refused.
"""

import asyncio
import json
import pickle
import sys
import time


async def _read_response(reader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


class Connection:
    """One keep-alive connection, reopened after an error."""

    def __init__(self, port: int):
        self.port, self.reader, self.writer = port, None, None

    async def send(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            self.writer.write(raw)
            return await _read_response(self.reader)
        except Exception:
            self.writer.close()
            self.writer = None
            raise


async def run(spec: dict, requests: list) -> dict:
    results, accepted = [], {}
    timeout_s = spec.get("timeout_s", 30)

    async def one(conn: Connection, click: str, raw: bytes, scheduled: float) -> None:
        try:
            status = await asyncio.wait_for(conn.send(raw), timeout_s)
        except Exception:
            status = 0
        results.append((status, time.perf_counter() - scheduled))
        if 200 <= status < 300:
            accepted[click] = time.time()

    start = time.perf_counter()
    if spec.get("rate"):
        await _open_loop(spec, requests, one, start)
    else:
        await _closed_loop(spec, requests, one)
    return summary(results, time.perf_counter() - start, accepted if spec.get("keep") else {})


async def _closed_loop(spec: dict, requests: list, one) -> None:
    pending = iter(requests)

    async def connection_loop() -> None:
        conn = Connection(spec["port"])
        for click, raw in pending:
            await one(conn, click, raw, time.perf_counter())

    await asyncio.gather(*(connection_loop() for _ in range(spec["connections"])))


async def _open_loop(spec: dict, requests: list, one, start: float) -> None:
    """Each request starts at its scheduled time on a free connection (latency from schedule)."""
    free = asyncio.Queue()
    for _ in range(spec["connections"]):
        free.put_nowait(Connection(spec["port"]))

    async def scheduled(click: str, raw: bytes, at: float) -> None:
        conn = await free.get()
        await one(conn, click, raw, at)
        free.put_nowait(conn)

    tasks = []
    for n, (click, raw) in enumerate(requests):
        at = start + n / spec["rate"]
        await asyncio.sleep(max(0, at - time.perf_counter()))
        tasks.append(asyncio.create_task(scheduled(click, raw, at)))
    await asyncio.gather(*tasks)


def summary(results: list, elapsed: float, accepted: dict) -> dict:
    latencies = sorted(latency for _, latency in results)
    ok = sum(1 for status, _ in results if 200 <= status < 300)
    refused = sum(1 for status, _ in results if status == 0)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

    return {"sent": len(results), "ok": ok, "refused": refused,
            "errors": len(results) - ok - refused, "seconds": round(elapsed, 2),
            "rps": round(len(results) / elapsed, 1), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1] * 1000, 1), "over_5s": sum(x > 5 for x in latencies),
            "accepted_at": accepted}


def main() -> None:
    spec = json.loads(sys.argv[1])
    with open(spec["requests"], "rb") as file:
        requests = pickle.load(file)
    print(json.dumps(asyncio.run(run(spec, requests))))


if __name__ == "__main__":
    main()
