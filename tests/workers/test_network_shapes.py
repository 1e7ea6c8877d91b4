"""End to end per request shape: a signed Stripe order in, a real RQ worker, a local network out."""

import base64
import json
from decimal import Decimal
from urllib.parse import parse_qs

from rq import SimpleWorker
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from bridge.app import create_app
from bridge.storage.models import Delivery, NetworkState
from tests import stripe_events as se
from tests.conftest import base_config
from tests.netserver import Reply

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RETRY = {"max_attempts": 3, "first_delay_s": 0, "max_delay_s": 1, "max_age_h": 1}


def shapes(url: str) -> list[dict]:
    common = {"receives": "all", "retry": RETRY, "timeout_s": 3}
    return [
        {"name": "get", "url": url + "/get?c={click_id}&a={amount}&t={txn_id}", **common},
        {"name": "form-basic", "url": url + "/form", "method": "POST", "body_format": "form",
         "auth": {"type": "basic", "username": "acct", "password": "${NET_PASSWORD}"},
         "body": {"ClickId": "{click_id}", "Amount": "{amount}"}, **common},
        {"name": "json-bearer", "url": url + "/bearer", "method": "POST",
         "auth": {"type": "bearer", "token": "${NET_TOKEN}"},
         "body": {"uid": "{click_id}", "amount": "{amount|cents}"}, **common},
        {"name": "json-key", "url": url + "/key", "method": "POST",
         "auth": {"type": "header", "name": "X-Api-Key", "value": "${NET_KEY}"},
         "body": {"click_id": "{click_id}", "amount": "{amount|number}"}, **common},
        {"name": "signed", "preset": "generic_post_json", **common,
         "vars": {"endpoint": url + "/signed", "signing_secret": "${NET_SIGNING}"}},
    ]


def run_worker(rt) -> None:
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, with_scheduler=False)


def by_path(server) -> dict:
    return {r.path: r for r in server.received}


def configure(write_config, monkeypatch, database_url, redis_url, server, networks):
    for name, value in {"NET_PASSWORD": "pw-1", "NET_TOKEN": "tok-2", "NET_KEY": "key-3",
                        "NET_SIGNING": SIGNING_SECRET}.items():
        monkeypatch.setenv(name, value)
    return write_config(base_config(database_url, redis_url, server.url, networks=networks))


def test_every_request_shape_end_to_end(write_config, monkeypatch, database_url, redis_url,
                                        redis, network_server):
    rt = configure(write_config, monkeypatch, database_url, redis_url, network_server,
                   shapes(network_server.url))
    client = create_app(rt).test_client()
    assert se.post(client, se.checkout_session()).status_code == 200
    run_worker(rt)
    network_server.wait_for(5)
    got = by_path(network_server)
    assert got["/get"].query == {"c": ["clk_abc"], "a": ["20.00"], "t": ["pi_test_1"]}
    form = got["/form"]
    assert form.headers["Authorization"] == "Basic " + base64.b64encode(b"acct:pw-1").decode()
    assert parse_qs(form.body.decode()) == {"ClickId": ["clk_abc"], "Amount": ["20.00"]}
    assert got["/bearer"].headers["Authorization"] == "Bearer tok-2"
    assert json.loads(got["/bearer"].body) == {"uid": "clk_abc", "amount": 2000}
    assert got["/key"].headers["X-Api-Key"] == "key-3"
    assert json.loads(got["/key"].body, parse_float=Decimal)["amount"] == Decimal("20.00")
    signed = got["/signed"]
    payload = Webhook(SIGNING_SECRET).verify(signed.body, signed.headers)
    assert payload["type"] == "conversion.sale" and payload["amount"] == "20.00"
    with rt.session() as session:
        statuses = {d.network: d.status for d in session.scalars(select(Delivery))}
        assert statuses == dict.fromkeys(("get", "form-basic", "json-bearer", "json-key",
                                          "signed"), "delivered")
        stored = " ".join(a.headers.get("Authorization", "") for d in
                          session.scalars(select(Delivery)) for a in d.attempt_rows)
        assert "tok-2" not in stored and "Bearer ***" in stored  # secrets masked in the log


def test_tune_success_false_is_rejected_not_delivered(write_config, monkeypatch, database_url,
                                                      redis_url, redis, network_server):
    network = {"name": "tune", "preset": "tune", "receives": "all", "retry": RETRY,
               "vars": {"network_id": "x", "offer_id": 1},
               "url": network_server.url + "/aff_lsr?transaction_id={click_id}"}
    rt = configure(write_config, monkeypatch, database_url, redis_url, network_server, [network])
    network_server.script([Reply(200, "success=false; err_msg=Invalid offer")])
    client = create_app(rt).test_client()
    se.post(client, se.checkout_session())
    run_worker(rt)
    with rt.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert (delivery.status, delivery.reason) == (
            "rejected", "TUNE refused the conversion: Invalid offer")


def test_401_pauses_the_network_and_the_delivery_waits(write_config, monkeypatch, database_url,
                                                        redis_url, redis, network_server):
    rt = configure(write_config, monkeypatch, database_url, redis_url, network_server,
                   shapes(network_server.url)[:1])
    network_server.script([], default=Reply(401, "bad key"))
    se.post(create_app(rt).test_client(), se.checkout_session())
    run_worker(rt)
    with rt.session() as session:
        assert session.get(NetworkState, "get").paused
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "retrying" and len(network_server.received) == 1


def test_delay_minutes_holds_new_conversions(write_config, monkeypatch, database_url, redis_url,
                                             redis, network_server):
    network = {**shapes(network_server.url)[0], "delay_minutes": 60}
    rt = configure(write_config, monkeypatch, database_url, redis_url, network_server, [network])
    se.post(create_app(rt).test_client(), se.checkout_session())
    run_worker(rt)
    with rt.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        held = (delivery.next_attempt_at - delivery.created_at).total_seconds()
        assert delivery.status == "pending" and 3590 < held < 3610
    assert network_server.received == []
