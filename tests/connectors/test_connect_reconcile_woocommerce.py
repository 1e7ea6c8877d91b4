"""`bridge connect` and `bridge reconcile` for WooCommerce against a local REST API."""

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bridge import cli
from bridge.app import create_app
from bridge.storage.models import Delivery, Event
from tests import shop_events as ev
from tests.platform_server import PlatformServer

KEY, SECRET = "ck_test_consumer_key_0001", "cs_test_consumer_secret_0001"
API = "/wp-json/wc/v3"
PAGES = {"1": ["order.updated__second_refund"],
         "2": ["order.updated__session_entry_click", "order.created__jpy"]}


def _list_hooks(server, request):
    return 200, server.state.setdefault("hooks", []), {}


def _create_hook(server, request):
    hooks = server.state.setdefault("hooks", [])
    hook = {"id": 100 + len(hooks), **json.loads(request.body)}
    hooks.append(hook)
    return 201, hook, {"Location": f"{server.url}{API}/webhooks/{hook['id']}"}


def _update_hook(server, request, hook_id):
    [hook] = [h for h in server.state["hooks"] if h["id"] == int(hook_id)]
    hook.update(json.loads(request.body))
    return 200, hook, {}


def _orders(server, request):
    page = request.query["page"][0]
    body = b"[" + b",".join(ev.fixture("woocommerce", n) for n in PAGES[page]) + b"]"
    return 200, body, {"X-WP-TotalPages": "2", "X-WP-Total": "3"}


@pytest.fixture
def woo_api():
    routes = {("GET", API + "/webhooks"): _list_hooks, ("POST", API + "/webhooks"): _create_hook,
              ("PUT", API + r"/webhooks/(\d+)"): _update_hook, ("GET", API + "/orders"): _orders}
    with PlatformServer(routes) as server:
        yield server


@pytest.fixture
def connected(write_config, shop_config, woo_api, monkeypatch):
    monkeypatch.setenv("TEST_WOO_KEY", KEY)
    monkeypatch.setenv("TEST_WOO_SECRET_KEY", SECRET)
    return write_config(shop_config(woo={"consumer_key": "${TEST_WOO_KEY}",
                                         "consumer_secret": "${TEST_WOO_SECRET_KEY}",
                                         "api_base_url": woo_api.url}))


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_connect_registers_updates_and_never_duplicates(connected, woo_api):
    url = "http://127.0.0.1:9/webhooks/woo"
    woo_api.state["hooks"] = [{"id": 7, "topic": "order.updated", "status": "disabled",
                               "delivery_url": url, "secret": "old"}]
    check = run("connect", "--check", "woo")
    assert check.exit_code == 1 and f"missing  order.updated (disabled, {url})" in check.output
    first = run("connect", "woo")
    assert first.output.splitlines() == [f"created  order.created → {url}",
                                         f"updated  order.updated → {url}",
                                         f"created  order.deleted → {url}"]
    assert all(line.startswith("ok") for line in run("connect", "woo").output.splitlines())
    hooks = woo_api.state["hooks"]
    assert sorted(h["topic"] for h in hooks) == ["order.created", "order.deleted",
                                                 "order.updated"]
    assert {(h["delivery_url"], h["secret"], h["status"]) for h in hooks} == {
        (url, ev.WOO_SECRET, "active")}
    [put] = woo_api.calls("PUT", API + "/webhooks/7")
    assert json.loads(put.body)["topic"] == "order.updated"
    for call in woo_api.received:  # plain http: the client signs with OAuth 1.0a query params
        assert call.query["oauth_consumer_key"] == [KEY] and "oauth_signature" in call.query
        assert SECRET not in json.dumps(call.query)


def test_reconcile_feeds_what_was_missed_once(connected, woo_api):
    ev.post_woo(create_app(connected).test_client(), "order.updated__processing")
    first = run("reconcile", "woo", "--since", "2026-06-30T00:00:00")
    assert first.exit_code == 0, first.output
    assert "found 3 order(s)" in first.output and "4 new conversion(s)" in first.output
    pages = woo_api.calls("GET", API + "/orders")
    # over plain http the woocommerce client sends its query twice (signed URL + params)
    assert [set(p.query["page"]) for p in pages] == [{"1"}, {"2"}]
    assert set(pages[0].query["modified_after"]) == {"2026-06-30T00:00:00"}
    with connected.session() as session:
        rows = session.execute(select(Event.kind, Event.order_id, Event.refund_id, Event.amount)
                               .order_by(Event.id)).all()
        deliveries = session.scalars(select(Delivery.kind).order_by(Delivery.id)).all()
    assert [tuple(map(str, r)) for r in rows] == [
        ("sale", "4821", "", "45.00"), ("refund", "4821", "902", "4.23"),
        ("refund", "4821", "901", "7.69"), ("sale", "4822", "", "15.00"),
        ("sale", "4830", "", "1364")]
    assert deliveries == ["sale", "refund", "refund", "sale", "sale"]
    second = run("reconcile", "woo", "--since", "2026-06-30")
    assert "0 new conversion(s); 0 postback(s) enqueued" in second.output
