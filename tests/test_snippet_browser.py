"""The storefront snippet in real headless Chromium (Debian's), on a store page served from
127.0.0.1 with a stub Shopify /cart/update.js; then the order that carries only the cart token."""

import json
import shutil
import time
from http.server import BaseHTTPRequestHandler

import pytest
import requests
from sqlalchemy import select

from bridge.storage.models import Click, Delivery, utcnow
from tests import shop_events
from tests.netserver import LoopbackServer, send_reply
from tests.live import API_TOKEN, LiveBridge, click_config, run_worker

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
CART_TOKEN = "Z2NwLWV1cm9wZS13ZXN0NDox"
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium "
                                "(.ci/run installs it)")


class StorePage(LoopbackServer):
    """A Shopify-like storefront: the landing page with the snippet, a stub cart API."""

    def __init__(self, consent_mode: bool = False):
        self.cart_updates: list[dict] = []
        self.bridge_url = ""
        self.consent_mode = consent_mode
        self._serve_on_loopback(self._handler())

    @property
    def origin(self) -> str:
        return self.url

    def landing_html(self) -> bytes:
        return (f"<!doctype html><title>shop</title><script>window.Shopify = {{shop: "
                f"'test-shop.myshopify.com'}};</script>"
                f"<script async src='{self.bridge_url}/snippet.js'></script><p>Welcome</p>"
                ).encode()

    def _handler(self):
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/landing"):
                    return self._reply(200, page.landing_html(), "text/html")
                if self.path == "/cart.js":
                    return self._reply(200, json.dumps({"token": CART_TOKEN}).encode())
                self._reply(404, b"{}")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/cart/update.js":
                    return self._reply(404, b"{}")
                page.cart_updates.append(json.loads(body))
                self._reply(200, json.dumps({"token": f"{CART_TOKEN}?key=secret"}).encode())

            def _reply(self, status, body, kind="application/json"):
                send_reply(self, status, body, {"Content-Type": kind})

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              timeout=30_000)
        yield chromium
        chromium.close()


def shop_and_bridge(write_config, database_url, redis_url, network_server, consent_mode=False):
    store = StorePage(consent_mode)
    config = click_config(database_url, redis_url, network_server.url, [store.origin],
                          consent_mode=consent_mode)
    config["sources"].append({"name": "shop", "platform": "shopify",
                              "secret": shop_events.SHOPIFY_SECRET,
                              "shop_domain": shop_events.SHOP_DOMAIN})
    rt = write_config(config)
    return store, rt


def clicks(rt) -> list[Click]:
    with rt.session() as session:
        return session.scalars(select(Click)).all()


def wait_until(condition, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_snippet_sets_the_cookie_posts_the_click_and_writes_cart_attributes(
        write_config, database_url, redis_url, redis, network_server, browser, monkeypatch):
    monkeypatch.setenv("TEST_API_TOKEN", API_TOKEN)
    store, rt = shop_and_bridge(write_config, database_url, redis_url, network_server)
    with store, LiveBridge(rt) as live:
        store.bridge_url = live.url
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{store.origin}/landing?aff_b=B-777&utm_source=news")
        wait_until(lambda: clicks(rt) and clicks(rt)[0].cart_token)
        cookies = {c["name"]: c for c in context.cookies()}
        [click] = clicks(rt)
        visitor = cookies["_pbb_vid"]["value"]
        assert (click.click_id, click.click_param, click.network, click.via) == (
            "B-777", "aff_b", "beta", "snippet")
        assert (click.visitor_id, click.cart_token) == (visitor, CART_TOKEN)
        assert click.landing_url.endswith("/landing?aff_b=B-777&utm_source=news")
        assert store.cart_updates == [{"attributes": {"aff_b": "B-777", "_pbb_visitor": visitor}}]
        vid = cookies["_pbb_vid"]
        assert (vid["sameSite"], vid["path"], vid["httpOnly"]) == ("Lax", "/", False)
        assert abs(vid["expires"] - (time.time() + 30 * 86400)) < 60
        assert cookies["_pbb_click"]["value"] == "aff_b%3DB-777"
        context.close()

        # Later a signed Shopify order comes with only its cart token (no attributes, no click).
        response = signed_shopify_order(live.url, cart_token=CART_TOKEN)
        assert response.status_code == 200 and response.json()["status"] == "accepted"
    run_worker(rt)
    [sent] = network_server.wait_for(1)
    assert (sent.path, sent.query["click"], sent.query["txn"]) == (
        "/beta", ["B-777"], ["5678901234567890129"])
    with rt.session() as session:
        assert session.scalars(select(Delivery.status)).all() == ["delivered"]


def signed_shopify_order(bridge_url: str, cart_token: str) -> requests.Response:
    now = utcnow().strftime("%Y-%m-%dT%H:%M:%S+00:00")
    raw = shop_events.edited("shopify", "orders_paid__no_click", cart_token=cart_token,
                             note_attributes=[], email=None, contact_email=None, customer=None,
                             processed_at=now, created_at=now)
    return requests.post(f"{bridge_url}/webhooks/shop", data=raw, timeout=5,
                         headers=shop_events.shopify_headers(raw, "orders/paid"))


def test_consent_mode_sets_nothing_until_the_page_signals_consent(
        write_config, database_url, redis_url, redis, network_server, browser, monkeypatch):
    monkeypatch.setenv("TEST_API_TOKEN", API_TOKEN)
    store, rt = shop_and_bridge(write_config, database_url, redis_url, network_server,
                                consent_mode=True)
    with store, LiveBridge(rt) as live:
        store.bridge_url = live.url
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{store.origin}/landing?aff_a=A-1")
        page.wait_for_function("document.readyState === 'complete'")
        time.sleep(0.5)
        assert context.cookies() == [] and clicks(rt) == [] and store.cart_updates == []
        page.evaluate("window.dispatchEvent(new Event('postback-bridge:consent'))")
        wait_until(lambda: clicks(rt))
        assert [c.click_id for c in clicks(rt)] == ["A-1"]
        assert {c["name"] for c in context.cookies()} >= {"_pbb_vid", "_pbb_click"}
        context.close()
