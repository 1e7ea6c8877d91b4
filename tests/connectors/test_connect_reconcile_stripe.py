"""`bridge connect` and `bridge reconcile` for Stripe against a local API (the stripe library)."""

import json
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bridge import cli
from bridge.storage.models import Event
from tests import stripe_events as se
from tests.platform_server import PlatformServer

API_KEY = "sk_test_bridge_tests_0001"
EVENTS = ["checkout.session.completed__paid", "charge.refunded__partial",
          "customer.created__ignored"]


def _form(request) -> dict:
    return parse_qs(request.body.decode())


def _list(data, path):
    return {"object": "list", "data": data, "has_more": False, "url": path}


def _endpoints(server, request):
    return 200, _list(server.state.setdefault("endpoints", []), "/v1/webhook_endpoints"), {}


def _create(server, request):
    form = _form(request)
    endpoint = {"id": "we_new1", "object": "webhook_endpoint", "url": form["url"][0],
                "enabled_events": [v for k, v in sorted(form.items())
                                   if k.startswith("enabled_events")
                                   for v in v], "status": "enabled", "secret": "whsec_created_1"}
    server.state.setdefault("endpoints", []).append(endpoint)
    return 200, endpoint, {}


def _update(server, request, endpoint_id):
    form = _form(request)
    [endpoint] = [e for e in server.state["endpoints"] if e["id"] == endpoint_id]
    endpoint.update(url=form["url"][0], status="enabled",
                    enabled_events=[v for k, vs in form.items()
                                    if k.startswith("enabled_events") for v in vs])
    return 200, {k: v for k, v in endpoint.items() if k != "secret"}, {}


def _events(server, request):
    events = [json.loads(se.fixture(name)) for name in EVENTS]
    return 200, _list(events, "/v1/events"), {}


@pytest.fixture
def stripe_api():
    routes = {("GET", "/v1/webhook_endpoints"): _endpoints,
              ("POST", "/v1/webhook_endpoints"): _create,
              ("POST", r"/v1/webhook_endpoints/(we_\w+)"): _update,
              ("GET", "/v1/events"): _events}
    with PlatformServer(routes) as server:
        yield server


@pytest.fixture
def connected(write_config, shop_config, stripe_api, monkeypatch):
    monkeypatch.setenv("TEST_STRIPE_API_KEY", API_KEY)
    config = shop_config()
    config["sources"][0].update(api_key="${TEST_STRIPE_API_KEY}", api_base_url=stripe_api.url)
    return write_config(config)


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_connect_creates_once_and_prints_the_secret(connected, stripe_api):
    url = "http://127.0.0.1:9/webhooks/stripe"
    assert run("connect", "--check", "stripe").exit_code == 1
    first = run("connect", "stripe")
    assert first.output.splitlines()[0] == f"created  endpoint we_new1 → {url}"
    assert "secret   whsec_created_1" in first.output
    again = run("connect", "stripe")
    assert again.output.strip() == f"ok       endpoint we_new1 → {url}"
    [create] = stripe_api.calls("POST", "/v1/webhook_endpoints")
    assert create.headers["Authorization"] == f"Bearer {API_KEY}"
    assert _form(create)["url"] == [url]
    assert len(stripe_api.state["endpoints"]) == 1


def test_connect_updates_an_endpoint_at_an_old_url(connected, stripe_api):
    stripe_api.state["endpoints"] = [{
        "id": "we_old", "object": "webhook_endpoint", "url": "https://old.example.com/webhooks/stripe",
        "enabled_events": ["checkout.session.completed"], "status": "disabled"}]
    result = run("connect", "stripe")
    assert result.output.startswith("updated  endpoint we_old")
    [endpoint] = stripe_api.state["endpoints"]
    assert endpoint["url"] == "http://127.0.0.1:9/webhooks/stripe"
    assert "charge.refunded" in endpoint["enabled_events"]


def test_reconcile_feeds_missed_events_once(connected, stripe_api):
    first = run("reconcile", "stripe", "--since", "2026-06-30")
    assert "found 3 event(s)" in first.output and "2 new conversion(s)" in first.output
    [listing] = stripe_api.calls("GET", "/v1/events")
    assert listing.query["created[gte]"] == ["1782777600"]
    second = run("reconcile", "stripe", "--since", "2026-06-30")
    assert "0 new conversion(s)" in second.output
    with connected.session() as session:
        kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["sale", "refund"]
