"""The dashboard with Flask's test client: auth, CSRF, filters, actions, masking."""

import base64
import re

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from bridge.app import create_app
from bridge.storage.models import AuditEntry, Delivery
from tests import prepared
from tests import stripe_events as se
from tests.conftest import base_config
from tests.netserver import Reply
from workers import sweeper

TOKEN = "admin-token-for-tests"
PAGES = ["/admin/", "/admin/events", "/admin/deliveries", "/admin/deliveries/1",
         "/admin/sources", "/admin/accuracy", "/admin/audit", "/admin/rq/"]


def basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


def csrf(client, path="/admin/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client) -> None:
    token = csrf(client)
    login = {"token": TOKEN, "csrf_token": token}
    assert client.post("/admin/login", data=login).status_code == 302


@pytest.fixture
def dead_delivery(bridge) -> int:
    with bridge.session() as session:
        event = prepared.order(session, {"house": "dead"}, reason="gave up after 3 attempts")
        return event.deliveries[0].id


@pytest.mark.parametrize("path", PAGES)
def test_no_page_without_login(client, bridge, dead_delivery, path):
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert client.get(path, headers=basic("wrong")).status_code == 302
    assert client.get(path, headers=basic(TOKEN)).status_code == 200


def test_dashboard_is_off_without_an_admin_token(write_config, database_url, redis_url, redis,
                                                  network_server):
    config = base_config(database_url, redis_url, network_server.url)
    config["server"] = {"public_url": "http://127.0.0.1:9"}
    client = create_app(write_config(config)).test_client()
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/login").status_code == 404


def test_login_form_needs_csrf_and_the_right_token(client, bridge):
    assert client.post("/admin/login", data={"token": TOKEN}).status_code == 403
    token = csrf(client)
    wrong = client.post("/admin/login", data={"token": "nope", "csrf_token": token})
    assert wrong.status_code == 401 and "not right" in wrong.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    sign_in(client)
    assert client.get("/admin/").status_code == 200
    client.post("/admin/logout", data={"csrf_token": csrf(client, "/admin/")})
    assert client.get("/admin/").status_code == 302


def test_no_open_redirect_after_login(client, bridge):
    token = csrf(client)
    response = client.post("/admin/login?next=//evil.example/x",
                           data={"token": TOKEN, "csrf_token": token})
    assert response.headers["Location"] == "/admin/"


def test_security_headers(client, bridge):
    for path in ("/admin/login", "/admin/rq/"):
        headers = client.get(path, headers=basic(TOKEN)).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
    assert client.get("/admin/login").headers["Referrer-Policy"] == "no-referrer"
    assert "unsafe-inline" not in client.get("/admin/login").headers["Content-Security-Policy"]


def test_retry_needs_csrf_then_restarts_and_is_audited(client, bridge, dead_delivery):
    sign_in(client)
    url = f"/admin/deliveries/{dead_delivery}/retry"
    assert client.post(url).status_code == 403
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 403
    with bridge.session() as session:
        assert session.get(Delivery, dead_delivery).status == "dead"
    response = client.post(url, data={"csrf_token": csrf(client, "/admin/")})
    assert response.status_code == 302
    with bridge.session() as session:
        assert session.get(Delivery, dead_delivery).status == "pending"
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.action, entry.target) == ("retry", f"delivery {dead_delivery}")
        assert entry.actor.startswith("admin(session)@")
    assert "retry" in client.get("/admin/audit").get_data(as_text=True)


def test_rq_dashboard_posts_need_our_origin(client, bridge):
    job = bridge.queue.enqueue("builtins.len", "ab")
    url = f"/admin/rq/job/{job.id}/delete"
    assert client.post(url, headers=basic(TOKEN)).status_code == 403
    assert client.post(url, headers={**basic(TOKEN), "Origin": "http://evil.example"}
                       ).status_code == 403
    assert client.post(url, headers={**basic(TOKEN), "Origin": "http://localhost"}
                       ).status_code == 200
    assert bridge.queue.count == 0


def test_replay_a_range(client, bridge):
    with bridge.session() as session:
        for status in ("dead", "rejected", "delivered", "dead"):
            prepared.order(session, {"house": status})
        prepared.order(session, {"house": "dead"}, ago_h=24 * 10)  # outside the range
    sign_in(client)
    from datetime import date, timedelta
    since = (date.today() - timedelta(days=1)).isoformat()
    response = client.post("/admin/replay", data={"network": "house", "since": since,
                                                  "csrf_token": csrf(client, "/admin/")})
    assert response.status_code == 302
    with bridge.session() as session:
        statuses = sorted(session.scalars(select(Delivery.status)))
        assert statuses == ["dead", "delivered", "pending", "pending", "pending"]
        assert "3 deliveries" in session.scalars(select(AuditEntry.detail)).one()


def test_delivery_filters(client, bridge):
    with bridge.session() as session:
        prepared.order(session, {"house": "dead"}, click_id="clk_dead_one")
        prepared.order(session, {"house": "delivered"}, click_id="clk_fine_one")
        prepared.order(session, {"house": "dead"}, click_id="clk_old_one", ago_h=24 * 5)
        prepared.order(session, {"house": "dead"}, click_id="clk_woo_one", source="woo")
    sign_in(client)

    def ids(**query):
        page = client.get("/admin/deliveries", query_string=query).get_data(as_text=True)
        return re.findall(r'href="/admin/deliveries/(\d+)"', page)

    assert len(ids()) == 4
    assert len(ids(status="dead")) == 3
    assert len(ids(status="dead", source="stripe")) == 2
    from datetime import date, timedelta
    assert len(ids(status="dead", since=(date.today() - timedelta(days=1)).isoformat())) == 2
    assert len(ids(until=(date.today() - timedelta(days=3)).isoformat())) == 1
    assert ids(network="other") == []


def test_events_and_accuracy_explain_attribution(client, bridge):
    with bridge.session() as session:
        prepared.order(session, {}, click_id="")
        prepared.order(session, {"house": "skipped"}, reason="outside window (30 days)")
        prepared.order(session, {"house": "delivered"}, click_id="clk_good")
        prepared.order(session, {"house": "dead"}, reason="gave up after 3 attempts: HTTP 500")
    sign_in(client)
    events = client.get("/admin/events").get_data(as_text=True)
    assert "none: no click id in the order" in events and "clk_good" in events
    accuracy = client.get("/admin/accuracy").get_data(as_text=True)
    assert "no click id in the order" in accuracy
    assert "house: skipped — outside window (30 days)" in accuracy
    assert "house: dead — gave up after 3 attempts" in accuracy
    row = re.search(r"<td>stripe</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>\s*"
                    r"<td class=\"num\">(\d+)</td>", accuracy)
    assert row.groups() == ("4", "3", "1")


def test_sources_page_shows_the_webhook_url_and_failures(client, bridge):
    raw = se.body(se.checkout_session())
    client.post("/webhooks/stripe", data=raw, headers=se.headers(raw, secret="whsec_wrong"))
    client.post("/webhooks/stripe", data=raw, headers=se.headers(raw, secret="whsec_wrong"))
    page = client.get("/admin/sources", headers=basic(TOKEN)).get_data(as_text=True)
    assert "http://127.0.0.1:9/webhooks/stripe" in page
    assert re.search(r'<td class="num bad">2</td>', page)


def test_secrets_from_the_environment_never_appear(write_config, database_url, redis_url, redis,
                                                   network_server, monkeypatch):
    secret = "net-secret-value-1234567"
    monkeypatch.setenv("TEST_NETWORK_KEY", secret)
    config = base_config(database_url, redis_url, network_server.url)
    config["networks"][0]["url"] += "&key=${TEST_NETWORK_KEY}"
    config["networks"][0]["headers"] = {"Authorization": "Bearer ${TEST_NETWORK_KEY}"}
    rt = write_config(config)
    network_server.script([Reply(500, f"bad key {secret}")])
    client = create_app(rt).test_client()
    se.post(client, se.checkout_session())
    sweeper.sweep(rt)
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True)
    assert network_server.wait_for(1)[0].query["key"] == [secret]  # it was really sent
    sign_in(client)
    for path in PAGES + ["/admin/deliveries/1"]:
        page = client.get(path).get_data(as_text=True)
        assert secret not in page and TOKEN not in page, path
    detail = client.get("/admin/deliveries/1").get_data(as_text=True)
    assert "key=***" in detail and "Bearer ***" in detail and "bad key ***" in detail


def test_send_test_postback_button_uses_the_networks_test_mode(bridge, write_config,
                                                               network_server):
    config = bridge.config.model_dump()
    config["networks"][0]["test_mode"] = {
        "url": network_server.url + "/postback?click_id={click_id}&testmode=1"}
    client = create_app(write_config(config)).test_client()
    sign_in(client)
    page = client.get("/admin/").get_data(as_text=True)
    assert "Send test postback" in page
    url = "/admin/networks/house/test"
    assert client.post(url).status_code == 403  # CSRF
    response = client.post(url, data={"csrf_token": csrf(client, "/admin/")},
                           follow_redirects=True)
    [sent] = network_server.received
    assert sent.query["testmode"] == ["1"] and sent.query["click_id"] == ["bridge-test-click"]
    assert "Test postback to house: 200 delivered" in response.get_data(as_text=True)


def test_pause_and_resume_buttons_are_audited(client, bridge):
    sign_in(client)
    token = csrf(client, "/admin/")
    assert client.post("/admin/networks/house/pause").status_code == 403
    assert client.post("/admin/networks/house/pause", data={"csrf_token": token}).status_code \
        == 302
    assert "paused by hand" in client.get("/admin/").get_data(as_text=True)
    client.post("/admin/networks/house/resume", data={"csrf_token": token})
    with bridge.session() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["pause", "resume"]
