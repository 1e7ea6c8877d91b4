"""Property-based fuzzing (hypothesis) of every public endpoint with random bodies, headers,
paths and parameters: never a 5xx, no event or delivery row without a valid signature or token,
and no secret in any answer. About 10,500 cases per database, derandomized so CI is stable."""

import json
from base64 import b64encode
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.app import create_app
from connectors import CONNECTORS
from tests.conftest import FIXTURES
from tests.security.conftest import (ADMIN_TOKEN, API_TOKEN, ORIGIN, PLATFORMS, leaked,
                                     row_counts, signed_headers)

HEADER_NAMES = ("Content-Type", "Content-Length", "Transfer-Encoding", "Authorization", "Cookie",
                "Origin", "Referer", "If-None-Match", "Accept", "X-Forwarded-For", "Host",
                "Stripe-Signature", "X-Shopify-Hmac-Sha256", "X-Shopify-Topic",
                "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-WC-Webhook-Signature",
                "X-WC-Webhook-Topic", "X-WC-Webhook-Source", "X-Custom")
SAFE_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)
JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                | st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=20)
BODIES = (st.binary(max_size=400) | JSON_VALUES.map(lambda v: json.dumps(v).encode())
          | st.sampled_from([b"webhook_id=12", b"{}", b"[]", b"null", b'{"id": 1e999}',
                             b"[" * 200, b"\xff\xfe"]))
HEADERS = st.dictionaries(st.sampled_from(HEADER_NAMES) | SAFE_TEXT.filter(str.isalnum),
                          SAFE_TEXT, max_size=6)
QUERY = st.dictionaries(st.sampled_from(["to", "click_id", "irclickid", "aff", "next", "source",
                                         "status", "before", "network", "since", "until", "page"])
                        | st.text(max_size=10), SAFE_TEXT, max_size=5)
ADMIN_PATHS = ["/admin/", "/admin/login", "/admin/logout", "/admin/events", "/admin/deliveries",
               "/admin/deliveries/1", "/admin/deliveries/1/retry", "/admin/replay",
               "/admin/sources", "/admin/accuracy", "/admin/audit", "/admin/rq/",
               "/admin/rq/queues.json", "/admin/static/admin.css", "/admin/nothing"]
OPEN_PATHS = ["/healthz", "/readyz", "/metrics", "/snippet.js", "/c", "/c/house", "/c/nobody",
              "/clicks", "/api/clicks", "/api/conversions", "/webhooks/unknown", "/",
              "/favicon.ico"]
ANY_ADMIN_PATH = SAFE_TEXT.map(lambda text: "/admin/" + quote(text))
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"])


def fuzz(examples: int):
    """Hypothesis settings for a CI-stable fuzz run of this many cases."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def fixture_keys(platform: str) -> list[str]:
    """Every key name the platform's fixtures use: the fields its connector reads."""
    keys: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            keys.update(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (FIXTURES / platform).glob("*.json"):
        walk(json.loads(path.read_text()))
    return sorted(keys)


def shaped_like(platform: str):
    """Random objects built from the platform's own field names, nested like its payloads."""
    names = st.sampled_from(fixture_keys(platform))
    values = st.recursive(JSON_SCALARS | st.integers(min_value=-10**30, max_value=10**30),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(names, inner, max_size=6), max_leaves=30)
    return st.dictionaries(names, values, min_size=1, max_size=12)


def check(rt, response, before, allowed_to_write=False):
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    assert not leaked(response)
    if not allowed_to_write:
        assert row_counts(rt) == before


def send(client, method, path, body=b"", headers=None, query=None):
    return client.open(path, method=method, data=body, headers=headers or {},
                       query_string=query or {})


@pytest.mark.parametrize("platform", PLATFORMS + ["unknown"])
def test_unsigned_webhooks(hostile, hostile_client, platform):
    before = row_counts(hostile)

    @fuzz(3000 // (len(PLATFORMS) + 1))
    @given(body=BODIES, headers=HEADERS)
    def run(body, headers):
        response = send(hostile_client, "POST", f"/webhooks/{platform}", body, headers)
        check(hostile, response, before)
        if not (platform == "woocommerce" and body.strip().startswith(b"webhook_id=")):
            assert response.status_code in (400, 401, 404, 413)

    run()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_signed_random_payloads(hostile, hostile_client, platform):
    topics = sorted(CONNECTORS[platform].HANDLERS)

    @fuzz(1500 // len(PLATFORMS))
    @given(payload=shaped_like(platform), topic=st.sampled_from(topics), event_id=SAFE_TEXT)
    def run(payload, topic, event_id):
        if platform == "stripe":
            payload = {**payload, "id": event_id or "evt_x", "type": topic,
                       "data": {"object": payload}}
        raw = json.dumps(payload).encode()
        extra = {"stripe": {}, "shopify": {"X-Shopify-Topic": topic},
                 "woocommerce": {"X-WC-Webhook-Topic": topic}}[platform]
        _, deliveries = row_counts(hostile)
        response = send(hostile_client, "POST", f"/webhooks/{platform}", raw,
                        signed_headers(platform, raw, **extra))
        check(hostile, response, None, allowed_to_write=True)
        assert response.status_code == 200
        if response.json["status"] != "accepted":
            assert row_counts(hostile)[1] == deliveries

    run()


def test_click_capture_endpoints(hostile, hostile_client):
    before = row_counts(hostile)

    @fuzz(2500)
    @given(method=METHODS, path=st.sampled_from(["/c", "/c/house", "/c/x", "/clicks"]),
           query=QUERY, body=BODIES, headers=HEADERS, origin=st.booleans())
    def run(method, path, query, body, headers, origin):
        if origin:
            headers = {**headers, "Origin": ORIGIN}
        response = send(hostile_client, method, path, body, headers, query)
        check(hostile, response, before)  # a click is not an event
        location = response.headers.get("Location", "")
        assert not location or location.startswith("https://shop.example.com/")
        allowed = response.headers.get("Access-Control-Allow-Origin")
        assert allowed in (None, ORIGIN)

    run()


def test_api(hostile, hostile_client):
    @fuzz(1500)
    @given(path=st.sampled_from(["/api/clicks", "/api/conversions", "/api/x"]), method=METHODS,
           body=BODIES | shaped_like("stripe").map(lambda v: json.dumps(v).encode()),
           headers=HEADERS, token=st.sampled_from(["", "Bearer " + API_TOKEN, "Bearer x",
                                                   API_TOKEN, "Basic " + API_TOKEN]))
    def run(path, method, body, headers, token):
        before = row_counts(hostile)
        response = send(hostile_client, method, path, body,
                        {**headers, "Authorization": token} if token else headers)
        authorized = token == "Bearer " + API_TOKEN
        check(hostile, response, before, allowed_to_write=authorized)
        if not authorized:
            assert response.status_code in (401, 404, 405)

    run()


def test_admin_without_login(hostile):
    app = create_app(hostile)
    before = row_counts(hostile)
    credentials = st.sampled_from(["", "Basic " + b64encode(b"admin:wrong").decode(),
                                   "Bearer " + ADMIN_TOKEN, "Basic !!!", "Digest x"])

    @fuzz(1500)
    @given(method=METHODS, path=st.sampled_from(ADMIN_PATHS) | ANY_ADMIN_PATH,
           query=QUERY, body=BODIES, headers=HEADERS, auth=credentials)
    def run(method, path, query, body, headers, auth):
        response = send(app.test_client(), method, path, body,
                        {**headers, "Authorization": auth} if auth else headers, query)
        check(hostile, response, before)
        if path.rstrip("/") not in ("/admin/login", "/admin/static/admin.css"):
            assert response.status_code in (302, 400, 403, 404, 405, 413), path
            assert b"<table" not in response.get_data()

    run()


def test_admin_signed_in(hostile, hostile_client):
    basic = "Basic " + b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode()
    before = row_counts(hostile)

    @fuzz(1000)
    @given(path=st.sampled_from(ADMIN_PATHS), query=QUERY, headers=HEADERS,
           method=st.sampled_from(["GET", "GET", "POST"]), body=BODIES)
    def run(path, query, headers, method, body):
        response = send(hostile_client, method, path, body, {**headers, "Authorization": basic},
                        query)
        check(hostile, response, before)
        if method == "POST" and path != "/admin/login":
            assert response.status_code in (400, 403, 404, 405, 413)  # no CSRF token, no action

    run()


def test_open_endpoints(hostile, hostile_client):
    before = row_counts(hostile)

    @fuzz(500)
    @given(method=METHODS, path=st.sampled_from(OPEN_PATHS), query=QUERY, headers=HEADERS)
    def run(method, path, query, headers):
        response = send(hostile_client, method, path, b"", headers, query)
        check(hostile, response, before)

    run()
