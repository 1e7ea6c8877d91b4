"""Click capture over real HTTP: the /c redirect allow-list, /clicks CORS, the snippet's headers,
the per-address limit. SQLite and PostgreSQL."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from bridge.storage.models import Click
from tests.live import LiveBridge, click_config

ORIGIN = "https://shop.example.com"


@pytest.fixture
def live(write_config, database_url, redis_url, redis, network_server, monkeypatch):
    monkeypatch.setenv("TEST_API_TOKEN", "unused")
    rt = write_config(click_config(database_url, redis_url, network_server.url, [ORIGIN],
                                   rate_limit_per_minute=5))
    with LiveBridge(rt) as server:
        server.rt = rt
        yield server


def stored_clicks(rt) -> list[Click]:
    with rt.session() as session:
        return session.scalars(select(Click).order_by(Click.id)).all()


def test_redirect_keeps_the_click_parameter_and_records_the_owner(live):
    target = "https://shop.example.com/product?color=red"
    response = requests.get(f"{live.url}/c", params={"to": target, "aff_b": "B-123",
                                                     "utm_source": "x"},
                            allow_redirects=False, timeout=5)
    assert response.status_code == 302
    landing = urlsplit(response.headers["Location"])
    assert (landing.scheme, landing.hostname, landing.path) == ("https", "shop.example.com",
                                                                 "/product")
    assert parse_qs(landing.query) == {"color": ["red"], "aff_b": ["B-123"], "utm_source": ["x"]}
    [click] = stored_clicks(live.rt)
    assert (click.network, click.click_id, click.click_param, click.via) == (
        "beta", "B-123", "aff_b", "redirect")
    assert (click.expires_at - click.created_at).days == 30


def test_redirect_for_a_named_network_takes_its_window(live):
    response = requests.get(f"{live.url}/c/alpha", params={
        "to": "https://shop.example.com/", "click_id": "G-1"}, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    [click] = stored_clicks(live.rt)
    assert (click.network, click.click_param) == ("alpha", "click_id")
    assert (click.expires_at - click.created_at).days == 10


@pytest.mark.parametrize("to, reason", [
    (None, "missing 'to'"),
    ("https://evil.example.net/", "not in attribution.redirect_hosts"),
    ("https://shop.example.com@evil.example.net/", "not in attribution.redirect_hosts"),
    ("https://evil.example.net\\@shop.example.com/", "must be an http(s) URL"),
    ("javascript:alert(1)//shop.example.com", "must be an http(s) URL"),
    ("//evil.example.net/", "must be an http(s) URL"),
])
def test_redirect_refuses_destinations_off_the_allow_list(live, to, reason):
    params = {"aff_a": "A-1"} | ({"to": to} if to else {})
    response = requests.get(f"{live.url}/c", params=params, allow_redirects=False, timeout=5)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert reason in response.json()["error"]
    assert stored_clicks(live.rt) == []


def test_unknown_network_in_the_path_is_400(live):
    response = requests.get(f"{live.url}/c/nobody", params={
        "to": "https://shop.example.com/", "aff_a": "A-1"}, allow_redirects=False, timeout=5)
    assert response.status_code == 400 and "unknown network" in response.json()["error"]


def test_preflight_allows_only_the_store_origin(live):
    allowed = requests.options(f"{live.url}/clicks", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, timeout=5)
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Content-Type" in allowed.headers["Access-Control-Allow-Headers"]
    other = requests.options(f"{live.url}/clicks", headers={
        "Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"}, timeout=5)
    assert other.status_code == 403
    assert "Access-Control-Allow-Origin" not in other.headers


def test_post_clicks_stores_from_the_store_origin_only(live):
    body = {"click_id": "A-9", "click_param": "aff_a", "visitor_id": "v" * 32,
            "cart_token": "cart-1", "landing_url": "https://shop.example.com/?aff_a=A-9"}
    refused = requests.post(f"{live.url}/clicks", json=body,
                            headers={"Origin": "https://evil.example.net"}, timeout=5)
    assert refused.status_code == 403 and stored_clicks(live.rt) == []
    stored = requests.post(f"{live.url}/clicks", json=body, headers={"Origin": ORIGIN}, timeout=5)
    assert stored.status_code == 201
    assert stored.headers["Access-Control-Allow-Origin"] == ORIGIN
    [click] = stored_clicks(live.rt)
    assert (click.network, click.visitor_id, click.cart_token, click.via) == (
        "alpha", "v" * 32, "cart-1", "snippet")


def test_post_clicks_never_takes_a_plain_email(live):
    body = {"click_id": "A-9", "click_param": "aff_a", "email": "ann@example.com"}
    response = requests.post(f"{live.url}/clicks", json=body, headers={"Origin": ORIGIN},
                             timeout=5)
    assert response.status_code == 400 and "plain email" in response.json()["error"]
    assert stored_clicks(live.rt) == []


def test_post_clicks_refuses_unconfigured_parameters(live):
    body = {"click_id": "Z-1", "click_param": "gclid"}
    response = requests.post(f"{live.url}/clicks", json=body, headers={"Origin": ORIGIN},
                             timeout=5)
    assert response.status_code == 400 and "not a configured click parameter" in response.text


def test_snippet_is_cacheable_and_carries_the_settings(live):
    response = requests.get(f"{live.url}/snippet.js", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert "max-age=3600" in response.headers["Cache-Control"]
    assert '"params": ["aff_a", "aff_b", "click_id"]' in response.text
    assert '"days": 30' in response.text and "__BRIDGE_SETTINGS__" not in response.text
    assert len(response.content) < 6000
    again = requests.get(f"{live.url}/snippet.js", timeout=5,
                         headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_capture_endpoints_are_rate_limited_per_address(live):
    url = f"{live.url}/c?to=https://shop.example.com/&aff_a=A-1"
    codes = [requests.get(url, allow_redirects=False, timeout=5).status_code for _ in range(7)]
    assert codes == [302] * 5 + [429] * 2
    assert len(stored_clicks(live.rt)) == 1  # the same click, seen five times
