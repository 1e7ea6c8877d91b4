"""Soak: N webhooks through random faults, then count what the network heard.

    .venv/bin/python -m bench.soak --webhooks 500 --seconds 120

Faults: the network answers 500, 429 (Retry-After: 1) or hangs past the timeout (then 504);
a worker is SIGKILLed and restarted; Redis is stopped and started. Everything runs on
127.0.0.1 in a temporary folder. Prints received / delivered / duplicated / lost, counted from
the network's own log and the deliveries table; exit 1 if anything was lost or paid twice.
"""

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import yaml
from sqlalchemy import func, select

from bridge import runtime as runtime_module
from bridge import settings, signing
from bridge.app import create_app
from bridge.embedded_redis import EmbeddedRedis
from bridge.storage.db import migrate
from bridge.storage.models import Delivery
from werkzeug.serving import make_server

SECRET = "whsec_soak_secret"
FAULTS = [(0.10, 500, 0), (0.05, 429, 0), (0.03, 504, 3)]  # (share, status, hang seconds)


class FlakyNetwork(ThreadingHTTPServer):
    """An affiliate network that fails at random; log: (txn_id, status it answered)."""

    daemon_threads = True

    def __init__(self, rng: random.Random):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rng, self.log, self.lock = rng, [], threading.Lock()

    def handle_error(self, request, client_address):
        pass  # the bridge gave up on a hung request: the late answer has nobody to go to

    def reply(self) -> tuple[int, float]:
        with self.lock:
            roll = self.rng.random()
        for share, status, hang in FAULTS:
            if roll < share:
                return status, hang
            roll -= share
        return 200, 0


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, hang = self.server.reply()
        txn = parse_qs(urlsplit(self.path).query).get("txn_id", [""])[0]
        with self.server.lock:  # logged first: a hung answer may find the bridge gone
            self.server.log.append((txn, status))
        time.sleep(hang)
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


def write_config(folder: Path, database_url: str, redis_url: str, network_url: str) -> Path:
    config = {
        "server": {"public_url": "http://127.0.0.1:9"},
        "storage": {"database_url": database_url, "redis_url": redis_url},
        "sources": [{"name": "stripe", "platform": "stripe", "secret": "${SOAK_STRIPE_SECRET}"}],
        "networks": [{"name": "house", "url": network_url + "/pb?click={click_id}&txn_id={txn_id}",
                      "timeout_s": 2, "concurrency": 16, "breaker": {"failures": 8,
                                                                     "cooldown_s": 1},
                      "retry": {"max_attempts": 30, "first_delay_s": 0.2, "max_delay_s": 2,
                                "max_age_h": 1}}],
        "worker": {"sweep_interval_s": 0.3, "lease_margin_s": 1, "queue": "soak"},
    }
    path = folder / "bridge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def webhook(n: int) -> bytes:
    session = {"id": f"cs_{n}", "object": "checkout.session", "mode": "payment",
               "payment_status": "paid", "client_reference_id": f"clk_{n}",
               "payment_intent": f"pi_soak_{n}", "amount_subtotal": 2000, "amount_total": 2000,
               "currency": "eur", "created": 1_763_900_000, "metadata": {},
               "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}}
    event = {"id": f"evt_soak_{n}", "object": "event", "type": "checkout.session.completed",
             "created": 1_763_900_000, "livemode": True, "data": {"object": session}}
    return json.dumps(event).encode()


def post(url: str, raw: bytes, tries: int = 5) -> int:
    """Like a platform: try again a few times until the answer is 200."""
    for _ in range(tries):
        headers = {"Content-Type": "application/json",
                   "Stripe-Signature": signing.stripe_header(raw, SECRET, int(time.time()))}
        try:
            status = requests.post(url, data=raw, headers=headers, timeout=30).status_code
        except requests.RequestException:
            status = 0
        if status == 200:
            return status
        time.sleep(1)
    return status


class Chaos(threading.Thread):
    """Every couple of seconds: kill a worker (and start a new one), or restart Redis."""

    def __init__(self, workers: list, redis: EmbeddedRedis, rng: random.Random):
        super().__init__(daemon=True)
        self.workers, self.redis, self.rng = workers, redis, rng
        self.stopping, self.done = threading.Event(), Counter()

    def run(self) -> None:
        while not self.stopping.wait(self.rng.uniform(1.5, 3)):
            self.revive()
            if self.rng.random() < 0.7:
                index = self.rng.randrange(len(self.workers))
                os.killpg(self.workers[index].pid, signal.SIGKILL)
                self.workers[index].wait()
                self.workers[index] = start_worker()
                self.done["worker killed"] += 1
            else:
                self.redis.stop()
                time.sleep(self.rng.uniform(0.3, 1.5))
                self.redis.start()
                self.done["redis restarted"] += 1


    def revive(self) -> None:
        """A worker that started while Redis was away has exited: start another."""
        for index, worker in enumerate(self.workers):
            if worker.poll() is not None:
                self.workers[index] = start_worker()


def start_worker() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bridge", "worker"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def settled(rt) -> Counter:
    with rt.session() as session:
        return Counter(dict(session.execute(
            select(Delivery.status, func.count(Delivery.id)).group_by(Delivery.status)).all()))


def report(sent: Counter, status: Counter, network: FlakyNetwork, chaos: Counter, seconds):
    ok = Counter(txn for txn, code in network.log if code == 200)
    expected = {f"pi_soak_{n}" for n in range(sent["unique"])}
    lost = sorted(expected - set(ok))
    duplicated = sorted(txn for txn, count in ok.items() if count > 1)
    paid_thrice = [txn for txn, count in ok.items() if count > 2]
    print(f"webhooks sent: {sent['posts']} ({sent['unique']} orders, the rest duplicates); "
          f"answered 200: {sent[200]}, other: {sent['posts'] - sent[200]}")
    print(f"faults: {dict(chaos)}; network answers: "
          f"{dict(Counter(code for _, code in network.log))}")
    print(f"deliveries table: {dict(status)}")
    print(f"received {len(expected)} / delivered {len(ok)} / duplicated {len(duplicated)} / "
          f"lost {len(lost)}  in {seconds:.0f} s")
    if lost or duplicated:  # a duplicate: a worker killed after the answer, before the record
        print(f"lost: {lost[:10]} duplicated (same txn id, one extra request): {duplicated[:10]}")
    return 1 if lost or paid_thrice else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the bridge's per-webhook lines would drown the result
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    network = FlakyNetwork(random.Random(args.seed + 1))
    threading.Thread(target=network.serve_forever, daemon=True).start()
    redis = EmbeddedRedis(folder / "redis").start()
    database_url = args.database_url or f"sqlite:///{folder / 'bridge.db'}"
    network_url = f"http://127.0.0.1:{network.server_address[1]}"
    os.environ.update(BRIDGE_CONFIG=str(write_config(folder, database_url, redis.url,
                                                     network_url)),
                      BRIDGE_VAR_DIR=str(folder / "var"), SOAK_STRIPE_SECRET=SECRET,
                      REDIS_URL=redis.url)
    rt = runtime_module.install(runtime_module.Runtime(settings.load()))
    migrate(rt.engine)
    web = make_server("127.0.0.1", 0, create_app(rt), threaded=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    workers = [start_worker() for _ in range(2)]
    chaos = Chaos(workers, redis, rng)
    started = time.monotonic()
    try:
        chaos.start()
        sent = send_all(f"http://127.0.0.1:{web.server_port}/webhooks/stripe", args, rng)
        chaos.stopping.wait(min(10, max(started + args.seconds - time.monotonic() - 20, 0)))
        chaos.stopping.set()
        chaos.join(10)
        chaos.revive()
        wait_settled(rt, sent["unique"], started + args.seconds)
        return report(sent, settled(rt), network, chaos.done, time.monotonic() - started)
    finally:
        chaos.stopping.set()
        for worker in workers:
            worker.terminate()
            worker.wait(30)
        redis.stop()
        web.shutdown()


def send_all(url: str, args, rng: random.Random) -> Counter:
    """Each order once, plus ~10% sent again (platform retries), spread over a third of the time."""
    orders = list(range(args.webhooks))
    posts = orders + rng.sample(orders, args.webhooks // 10)
    rng.shuffle(posts)
    pause = args.seconds / 3 / max(len(posts), 1)
    sent = Counter(unique=args.webhooks, posts=len(posts))

    def one(n: int) -> int:
        time.sleep(pause * rng.random() * 8)
        return post(url, webhook(n))

    with ThreadPoolExecutor(8) as pool:
        sent.update(pool.map(one, posts))
    return sent


def wait_settled(rt, orders: int, deadline: float) -> None:
    """Until every delivery is final, or time is up."""
    while time.monotonic() < deadline:
        status = settled(rt)
        if status["delivered"] + status["dead"] + status["rejected"] >= orders:
            return
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
