"""A real headless Chromium on a live server: sign in, open a dead delivery, retry, see it
delivered after a real worker ran. Skipped only when Debian's chromium is not installed."""

import shutil
import threading
from pathlib import Path

import pytest
from rq import SimpleWorker
from werkzeug.serving import make_server

from bridge.app import create_app
from tests import stripe_events as se
from tests.conftest import base_config
from tests.netserver import Reply
from workers import sweeper

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")


@pytest.fixture
def live_bridge(write_config, database_url, redis_url, redis, network_server):
    """The app served on 127.0.0.1 by a real HTTP server, and its Runtime."""
    config = base_config(database_url, redis_url, network_server.url)
    config["networks"][0]["retry"]["max_attempts"] = 1
    rt = write_config(config)
    server = make_server("127.0.0.1", 0, create_app(rt), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield rt, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def work(rt) -> None:
    sweeper.sweep(rt)
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True)


def test_sign_in_retry_a_dead_delivery_and_see_it_delivered(live_bridge, network_server):
    rt, base = live_bridge
    network_server.script([Reply(500, "temporarily down")])
    with create_app(rt).test_client() as client:
        assert se.post(client, se.checkout_session()).status_code == 200
    work(rt)  # the network answers 500 with one attempt allowed: the delivery goes dead
    OUTPUT.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.set_default_timeout(15_000)
        page.goto(f"{base}/admin/deliveries?status=dead")
        page.fill("#token", "admin-token-for-tests")
        page.click("button[type=submit]")
        page.click("a[href='/admin/deliveries/1']")  # the dead delivery in the list
        assert page.inner_text("#delivery-status") == "dead"
        assert "temporarily down" in page.content()
        page.click("#retry")
        assert "will be sent again" in page.inner_text(".flash")
        work(rt)  # a real worker sends it again; the network now answers 200
        page.reload()
        assert page.inner_text("#delivery-status") == "delivered"
        page.screenshot(path=str(OUTPUT / "admin-retry-delivered.png"), full_page=True)
        browser.close()
    assert len(network_server.received) == 2
