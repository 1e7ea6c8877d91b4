"""Privacy: payloads purged after storage.retention_days by the sweeper (throttled), and
`bridge forget --email …` erasing one customer. SQLite and PostgreSQL."""

import hashlib
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select, update

from bridge.app import create_app
from bridge.cli import main
from bridge.storage.models import Attempt, AuditEntry, Click, Event, utcnow
from tests import stripe_events as se
from tests.conftest import base_config
from tests.live import run_worker
from workers.sweeper import Sweeper

EMAIL = "Buyer@Example.com"
DIGEST = hashlib.sha256(EMAIL.lower().encode()).hexdigest()


def events(rt) -> list[Event]:
    with rt.session() as session:
        return session.scalars(select(Event).order_by(Event.id)).all()


def age(rt, event_id: int, days: int) -> None:
    with rt.session() as session:
        session.execute(update(Event).where(Event.id == event_id)
                        .values(received_at=utcnow() - timedelta(days=days)))


def test_sweeper_purges_payloads_past_retention_once_an_hour(bridge, client):
    for n in (1, 2, 3):
        assert se.post(client, se.checkout_session(f"evt_{n}", payment_intent=f"pi_{n}")).json[
            "status"] == "accepted"
    first, second, third = (e.id for e in events(bridge))
    age(bridge, first, bridge.config.storage.retention_days + 1)
    age(bridge, second, bridge.config.storage.retention_days - 1)
    sweeper = Sweeper(bridge, interval_s=0.2)
    sweeper.tick()
    payloads = {e.id: e.payload for e in events(bridge)}
    assert payloads[first] is None
    assert payloads[second]["id"] == "evt_2" and payloads[third]["id"] == "evt_3"
    age(bridge, second, bridge.config.storage.retention_days + 1)
    sweeper.tick()  # within the hour: the purge waits
    assert events(bridge)[1].payload is not None


def test_forget_erases_one_customer_and_is_audited(write_config, database_url, redis_url, redis,
                                                   network_server, monkeypatch):
    config = base_config(database_url, redis_url, network_server.url)
    config["networks"][0]["url"] += "&em={email_sha256}"
    config["server"]["api_token"] = "${TEST_API_TOKEN}"
    monkeypatch.setenv("TEST_API_TOKEN", "api-token-for-forget-test")
    rt = write_config(config)
    client = create_app(rt).test_client()
    auth = {"Authorization": "Bearer api-token-for-forget-test"}
    for click in ({"click_id": "c1", "email": EMAIL}, {"click_id": "c2", "customer_id": "cus_9"},
                  {"click_id": "c3", "email": "other@example.com"}):
        assert client.post("/api/clicks", json=click, headers=auth).status_code == 201
    se.post(client, se.checkout_session("evt_1", click_id="c1", customer="cus_9"))
    se.post(client, se.checkout_session("evt_2", payment_intent="pi_2", click_id="c3",
                                         customer_details={"email": "other@example.com"}))
    run_worker(rt)
    result = CliRunner().invoke(main, ["forget", "--email", f"  {EMAIL.upper()} "])
    assert result.exit_code == 0, result.output
    assert "1 events" in result.output and "2 clicks" in result.output
    mine, other = events(rt)
    assert (mine.email_sha256, mine.customer_id, mine.payload) == ("", "", None)
    assert other.email_sha256 and other.payload is not None
    with rt.session() as session:
        assert session.scalars(select(Click.click_id)).all() == ["c3"]
        urls = session.scalars(select(Attempt.url).order_by(Attempt.id)).all()
        entry = session.scalars(select(AuditEntry)).one()
    other_digest = hashlib.sha256(b"other@example.com").hexdigest()
    assert len(urls) == 2 and not any(DIGEST in url for url in urls)
    assert sorted("[erased]" in url or other_digest in url for url in urls) == [True, True]
    assert entry.action == "forget" and entry.actor.startswith("cli:")
    assert EMAIL.lower() not in (entry.target + entry.detail).lower()
    assert DIGEST not in entry.target + entry.detail


def test_forget_refuses_what_is_not_an_email(bridge):
    result = CliRunner().invoke(main, ["forget", "--email", "nobody"])
    assert result.exit_code == 2 and "not an email address" in result.output
