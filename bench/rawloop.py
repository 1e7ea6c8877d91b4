"""The ceiling: a raw `requests` loop, N GETs with C threads, one keep-alive session per thread."""

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

local = threading.local()


def get(url: str) -> int:
    if not hasattr(local, "http"):
        local.http = requests.Session()
    return local.http.get(url, timeout=10).status_code


def main() -> None:
    base, count, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        codes = list(pool.map(get, (f"{base}/postback?click_id=raw{n}" for n in range(count))))
    elapsed = time.perf_counter() - started
    print(json.dumps({"rps": round(count / elapsed, 1), "ok": codes.count(200)}))


if __name__ == "__main__":
    main()
