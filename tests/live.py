"""The bridge's Flask app on a real HTTP server (werkzeug, 127.0.0.1, a thread), and a config
with click capture set up like a merchant's: two networks that each own a click parameter."""

import threading

from rq import SimpleWorker
from werkzeug.serving import make_server

from bridge.app import create_app
from tests.conftest import base_config
from workers import inbox

API_TOKEN = "api-token-for-tests-0123456789"
STORE_ORIGIN = "http://127.0.0.1:{port}"


class LiveBridge:
    """`with LiveBridge(runtime) as live:` — live.url is the bridge's base URL."""

    def __init__(self, runtime):
        self.server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def click_config(database_url, redis_url, network_url, store_origins=(), **attribution) -> dict:
    """Networks alpha (owns aff_a, window 10 days) and beta (owns aff_b), generic click_id."""
    config = base_config(database_url, redis_url, network_url)
    retry = config["networks"][0]["retry"]
    config["networks"] = [
        {"name": name, "click_params": [param], "retry": retry, "timeout_s": 3,
         "url": f"{network_url}/{name}?click={{click_id}}&amount={{amount}}&txn={{txn_id}}"
                "&event={event}", **extra}
        for name, param, extra in (("alpha", "aff_a", {"window_days": 10}), ("beta", "aff_b", {}))]
    config["server"]["api_token"] = "${TEST_API_TOKEN}"
    config["attribution"] = {"window_days": 30, "click_params": ["click_id"],
                             "redirect_hosts": ["shop.example.com", "127.0.0.1"],
                             "store_origins": list(store_origins), **attribution}
    return config


def run_worker(rt) -> None:
    """What a worker process does, in this process: the inbox, then a real RQ worker until the
    queue is empty."""
    inbox.drain(rt)
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, with_scheduler=False)
