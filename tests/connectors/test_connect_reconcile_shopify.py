"""`bridge connect` and `bridge reconcile` for Shopify against a local Admin API."""

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bridge import cli
from bridge.storage.models import Delivery, Event
from tests import shop_events as ev
from tests.platform_server import PlatformServer

TOKEN = "shpat_test_admin_token_0001"
ADMIN = "/admin/api/2026-04"


def _graphql(server, request):
    sent = json.loads(request.body)
    query, variables = sent["query"], sent["variables"] or {}
    subs = server.state.setdefault("subs", [])
    if "webhookSubscriptionCreate" in query:
        new = {"id": f"gid://shopify/WebhookSubscription/{len(subs) + 1}",
               "topic": variables["topic"], "uri": variables["sub"]["uri"]}
        subs.append(new)
        return 200, {"data": {"webhookSubscriptionCreate": {"webhookSubscription": new,
                                                            "userErrors": []}}}, {}
    if "webhookSubscriptionUpdate" in query:
        [sub] = [s for s in subs if s["id"] == variables["id"]]
        sub["uri"] = variables["sub"]["uri"]
        return 200, {"data": {"webhookSubscriptionUpdate": {"webhookSubscription": sub,
                                                            "userErrors": []}}}, {}
    return 200, {"data": {"webhookSubscriptions": {"edges": [{"node": s} for s in subs]}}}, {}


PAGES = {None: ["orders_cancelled__basic", "orders_paid__landing_site_click"],
         "p2": ["orders_create__pending", "orders_paid__jpy"]}


def _orders(server, request):
    page = (request.query.get("page_info") or [None])[0]
    body = b'{"orders":[' + b",".join(ev.fixture("shopify", n) for n in PAGES[page]) + b"]}"
    link = {} if page else {"Link": f'<{server.url}{ADMIN}/orders.json?page_info=p2&limit=250>;'
                                    ' rel="next"'}
    return 200, body, link


@pytest.fixture
def shopify_api():
    routes = {("POST", ADMIN + "/graphql.json"): _graphql, ("GET", ADMIN + "/orders.json"): _orders}
    with PlatformServer(routes) as server:
        yield server


@pytest.fixture
def connected(write_config, shop_config, shopify_api, monkeypatch):
    monkeypatch.setenv("TEST_SHOPIFY_ADMIN_TOKEN", TOKEN)
    rt = write_config(shop_config(shop={"admin_token": "${TEST_SHOPIFY_ADMIN_TOKEN}",
                                        "api_base_url": shopify_api.url}))
    return rt


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_connect_creates_updates_and_never_duplicates(connected, shopify_api):
    old = "https://old-host.example.com/webhooks/shop"
    shopify_api.state["subs"] = [{"id": "gid://shopify/WebhookSubscription/900",
                                  "topic": "ORDERS_PAID", "uri": old},
                                 {"id": "gid://shopify/WebhookSubscription/901",
                                  "topic": "ORDERS_PAID", "uri": "https://another.app/hook"}]
    check = run("connect", "--check", "shop")
    assert check.exit_code == 1
    assert "missing  orders/paid (points at https://old-host" in check.output
    first = run("connect", "shop")
    assert first.exit_code == 0, first.output
    url = "http://127.0.0.1:9/webhooks/shop"
    assert first.output.splitlines() == [f"updated  orders/paid → {url}",
                                         f"created  refunds/create → {url}",
                                         f"created  orders/cancelled → {url}"]
    again = run("connect", "shop")
    assert all(line.startswith("ok") for line in again.output.splitlines())
    assert sorted((s["topic"], s["uri"]) for s in shopify_api.state["subs"]) == [
        ("ORDERS_CANCELLED", url), ("ORDERS_PAID", url),
        ("ORDERS_PAID", "https://another.app/hook"), ("REFUNDS_CREATE", url)]
    calls = shopify_api.calls("POST", ADMIN + "/graphql.json")
    assert {c.headers["X-Shopify-Access-Token"] for c in calls} == {TOKEN}
    mutations = [json.loads(c.body) for c in calls if b"mutation" in c.body]
    assert [m["variables"] for m in mutations] == [
        {"id": "gid://shopify/WebhookSubscription/900", "sub": {"uri": url, "format": "JSON"}},
        {"topic": "REFUNDS_CREATE", "sub": {"uri": url, "format": "JSON"}},
        {"topic": "ORDERS_CANCELLED", "sub": {"uri": url, "format": "JSON"}}]


def test_reconcile_feeds_what_was_missed_once(connected, shopify_api):
    from bridge.app import create_app
    ev.post_shopify(create_app(connected).test_client(), "orders_paid__landing_site_click")
    first = run("reconcile", "shop", "--since", "2026-06-30T00:00:00")
    assert first.exit_code == 0, first.output
    assert "found 4 order(s)" in first.output and "3 postback(s) enqueued" in first.output
    [listing, page2] = shopify_api.calls("GET", ADMIN + "/orders.json")
    assert listing.query["updated_at_min"] == ["2026-06-30T00:00:00Z"]
    assert listing.query["status"] == ["any"] and page2.query["page_info"] == ["p2"]
    assert listing.headers["X-Shopify-Access-Token"] == TOKEN
    with connected.session() as session:
        rows = session.execute(select(Event.kind, Event.status, Event.order_id, Event.amount)
                               .order_by(Event.id)).all()
        deliveries = session.scalars(select(Delivery.kind).order_by(Delivery.id)).all()
    assert [tuple(map(str, r)) for r in rows] == [
        ("sale", "accepted", "5678901234567890124", "32.00"),  # by webhook
        ("sale", "accepted", "5678901234567890123", "90.00"),
        ("refund", "accepted", "5678901234567890123", "90.00"),
        ("reversal", "ignored", "5678901234567890123", "None"),  # nothing left after the refund
        ("sale", "accepted", "5678901234567890126", "1364")]
    assert deliveries == ["sale", "sale", "refund", "sale"]
    second = run("reconcile", "shop", "--since", "2026-06-30")
    assert "0 new conversion(s); 0 postback(s) enqueued" in second.output
    with connected.session() as session:
        assert len(session.scalars(select(Event)).all()) == 5
