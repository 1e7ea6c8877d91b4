"""Each row of DESIGN's "Answers to the store", on SQLite and PostgreSQL."""

import dataclasses
import time

from sqlalchemy import func, select

from bridge.app import create_app
from bridge.runtime import Runtime
from bridge.storage.models import Delivery, Event
from tests import stripe_events as se


def counts(rt) -> tuple[int, int]:
    with rt.session() as session:
        return (session.scalar(select(func.count(Event.id))),
                session.scalar(select(func.count(Delivery.id))))


def test_unknown_source_is_404(client, bridge):
    response = se.post(client, se.checkout_session(), source="nope")
    assert response.status_code == 404
    assert response.json == {"error": "unknown source"}
    assert counts(bridge) == (0, 0)


def test_wrong_secret_is_401_and_nothing_stored(client, bridge):
    response = se.post(client, se.checkout_session(), secret="whsec_someone_else")
    assert response.status_code == 401
    assert response.json["error"] == "invalid signature"
    assert counts(bridge) == (0, 0)


def test_missing_signature_is_401(client, bridge):
    response = client.post("/webhooks/stripe", data=se.body(se.checkout_session()))
    assert response.status_code == 401
    assert counts(bridge) == (0, 0)


def test_tampered_body_is_401(client, bridge):
    raw = se.body(se.checkout_session())
    headers = se.headers(raw)
    response = client.post("/webhooks/stripe", data=raw.replace(b"2800", b"9800"), headers=headers)
    assert response.status_code == 401
    assert counts(bridge) == (0, 0)


def test_stale_timestamp_is_401(client, bridge):
    raw = se.body(se.checkout_session())
    stale = se.headers(raw, timestamp=int(time.time()) - 301)
    assert client.post("/webhooks/stripe", data=raw, headers=stale).status_code == 401
    fresh = se.headers(raw, timestamp=int(time.time()) - 290)
    assert client.post("/webhooks/stripe", data=raw, headers=fresh).status_code == 200


def test_body_over_the_limit_is_413(client, bridge):
    raw = b'{"pad": "' + b"x" * 1_100_000 + b'"}'
    response = client.post("/webhooks/stripe", data=raw, headers=se.headers(raw))
    assert response.status_code == 413
    assert counts(bridge) == (0, 0)


def stored_event(rt) -> Event:
    with rt.session() as session:
        return session.scalars(select(Event)).one()


def test_signed_but_not_json_is_200_and_stored_invalid(client, bridge):
    """The request only verifies and keeps the body: the inbox pass finds what it is."""
    response = se.post(client, b"this is not json")
    assert (response.status_code, response.json["status"]) == (200, "accepted")
    event = stored_event(bridge)
    assert event.status == "invalid" and "not JSON" in event.reason
    assert counts(bridge) == (1, 0)


def test_signed_absurd_amount_is_stored_invalid(client, bridge):
    response = se.post(client, se.checkout_session(amount_total=10**15))
    assert response.status_code == 200
    event = stored_event(bridge)
    assert event.status == "invalid" and "absurd" in event.reason
    assert counts(bridge) == (1, 0)


def test_signed_unknown_topic_is_200_ignored(client, bridge):
    response = se.post(client, se.event("evt_cust", "customer.created", {"id": "cus_1"}))
    assert response.status_code == 200
    event = stored_event(bridge)
    assert (event.status, event.event_key, event.topic) == ("ignored", "evt_cust",
                                                            "customer.created")


def test_accepted_then_duplicate_is_one_event_and_one_delivery(client, bridge):
    first = se.post(client, se.checkout_session())
    again = se.post(client, se.checkout_session())
    assert (first.status_code, first.json["status"]) == (200, "accepted")
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
    assert counts(bridge) == (1, 1)


def test_database_down_is_503_then_the_retry_is_accepted(client, bridge):
    """A database nobody answers on (connection refused): 503 with Retry-After, nothing kept."""
    storage = bridge.config.storage.model_copy(
        update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/down"})
    config = bridge.config.model_copy(update={"storage": storage})
    down = Runtime(dataclasses.replace(bridge.loaded, config=config))
    response = se.post(create_app(down).test_client(), se.checkout_session())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "Traceback" not in response.get_data(as_text=True)
    retried = se.post(create_app(bridge).test_client(), se.checkout_session())
    assert (retried.status_code, retried.json["status"]) == (200, "accepted")
    assert counts(bridge) == (1, 1)


def test_unexpected_error_is_json_500_without_traceback(client, bridge, monkeypatch):
    from bridge import ingest

    def explode(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(ingest, "receive", explode)
    response = se.post(client, se.checkout_session())
    assert response.status_code == 500
    assert response.json["error"] == "internal error" and "incident" in response.json
    assert "Traceback" not in response.get_data(as_text=True)


def test_other_methods_and_paths_under_webhooks_get_json_answers(client, bridge):
    """The endpoint takes POST /webhooks/<name> only; the rest is answered as by Flask."""
    wrong_method = client.get("/webhooks/stripe")
    assert (wrong_method.status_code, wrong_method.json) == (405, {"error": "method not allowed"})
    for path in ("/webhooks/", "/webhooks/stripe/extra"):
        response = client.post(path, data=b"{}")
        assert (response.status_code, response.json) == (404, {"error": "not found"}), path
    assert counts(bridge) == (0, 0)


def test_a_webhook_is_answered_without_flasks_request_machinery(client, bridge):
    """Flask's per-request work (contexts, URL adapter, session, hooks) cost as much CPU as the
    webhook's own: the endpoint answers before the Flask app, which still serves the rest."""
    hooked = []
    client.application.before_request(lambda: hooked.append(True))
    response = se.post(client, se.checkout_session())
    assert (response.status_code, response.json["status"]) == (200, "accepted")
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_data() == b'{"status": "accepted", "webhook": 1}'
    assert hooked == []
    assert client.get("/healthz").status_code == 200 and hooked == [True]
