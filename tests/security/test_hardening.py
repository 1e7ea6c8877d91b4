"""Hardening points one by one: click ids, forged sources, masking in logs and `bridge status`,
owner-only files, and a config with an empty secret refusing to start. SQLite and PostgreSQL."""

import io
import json
import logging
import os
import stat

import pytest
from click.testing import CliRunner

from bridge import firstrun, settings
from bridge.cli import main
from bridge.storage.db import make_engine, migrate
from tests.conftest import STRIPE_SECRET, base_config
from tests.security.conftest import (API_TOKEN, PLATFORMS, SECRETS, SECRET_OF, row_counts,
                                     signed_headers)

GOOD_CLICK_ID = "AbC-123_x.y~z:1=2+3/4|5*6@7!8$9,0;"
BAD_CLICK_IDS = ["a b", "x" * 256, "<script>", "id&amount=0", "id?x", "id#frag", "50%25",
                 "q'uote", 'q"uote', "back\\slash", "é-accent", "tab\tid"]
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_api_click_id_charset_and_length(hostile, hostile_client):
    ok = hostile_client.post("/api/clicks", json={"click_id": GOOD_CLICK_ID}, headers=AUTH)
    assert ok.status_code == 201
    for click_id in BAD_CLICK_IDS:
        response = hostile_client.post("/api/clicks", json={"click_id": click_id}, headers=AUTH)
        assert response.status_code == 400, click_id
        assert "is not a click id: only letters, digits" in response.json["error"]


def test_redirect_and_snippet_refuse_bad_click_ids(hostile, hostile_client):
    to = "https://shop.example.com/p"
    for click_id in BAD_CLICK_IDS:
        redirect = hostile_client.get("/c", query_string={"to": to, "click_id": click_id})
        snippet = hostile_client.post("/clicks", json={"click_id": click_id},
                                      headers={"Origin": "https://shop.example.com"})
        assert (redirect.status_code, snippet.status_code) == (400, 400), click_id
    assert hostile_client.get("/c", query_string={"to": to, "click_id": GOOD_CLICK_ID}
                              ).status_code == 302


@pytest.mark.parametrize("signer, target", [(s, t) for s in PLATFORMS for t in PLATFORMS
                                             if s != t])
def test_one_sources_secret_never_opens_another(hostile, hostile_client, signer, target):
    raw = json.dumps({"id": "evt_forged", "type": "checkout.session.completed"}).encode()
    response = hostile_client.post(f"/webhooks/{target}", data=raw,
                                   headers=signed_headers(target, raw, SECRET_OF[signer]))
    assert response.status_code == 401
    assert row_counts(hostile) == (0, 0)


def test_a_second_stripe_source_does_not_take_the_firsts_webhooks(write_config, database_url,
                                                                   redis_url, redis,
                                                                   network_server, monkeypatch):
    monkeypatch.setenv("OTHER_STRIPE_SECRET", "whsec_the_other_account_000")
    config = base_config(database_url, redis_url, network_server.url)
    config["sources"].append({"name": "other", "platform": "stripe",
                              "secret": "${OTHER_STRIPE_SECRET}"})
    rt = write_config(config)
    from bridge.app import create_app
    raw = json.dumps({"id": "evt_1", "type": "customer.created", "data": {"object": {}}}).encode()
    client = create_app(rt).test_client()
    wrong = client.post("/webhooks/other", data=raw, headers=signed_headers("stripe", raw))
    right = client.post("/webhooks/stripe", data=raw, headers=signed_headers("stripe", raw))
    assert (wrong.status_code, right.status_code) == (401, 200)


def test_a_shopify_body_from_another_shop_is_refused(hostile, hostile_client):
    raw = b'{"id": 1}'
    headers = signed_headers("shopify", raw, **{"X-Shopify-Shop-Domain": "evil.myshopify.com"})
    assert hostile_client.post("/webhooks/shopify", data=raw, headers=headers).status_code == 401
    assert row_counts(hostile) == (0, 0)


def test_secrets_are_masked_in_logs_and_tracebacks(hostile):
    from bridge.app import create_app
    create_app(hostile)
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_bridge", False))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        log = logging.getLogger("bridge.test")
        log.warning("connecting with %s and %s", API_TOKEN, STRIPE_SECRET)
        try:
            raise RuntimeError(f"bad token {API_TOKEN}")
        except RuntimeError:
            log.exception("failed")
    finally:
        handler.setStream(previous)
    written = stream.getvalue()
    assert "connecting with *** and ***" in written and "RuntimeError: bad token ***" in written
    assert not [secret for secret in SECRETS if secret in written]


def test_bridge_status_shows_no_secret(hostile):
    for args in (["status"], ["status", "--json"]):
        result = CliRunner().invoke(main, args)
        assert "house" in result.output, result.output
        assert not [secret for secret in SECRETS if secret in result.output]


def test_first_run_files_and_the_sqlite_file_are_owner_only(tmp_path, monkeypatch):
    os.umask(0o022)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BRIDGE_CONFIG", str(tmp_path / "bridge.yaml"))
    firstrun.prepare(echo=lambda line: None)
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'bridge.db'}")
    migrate(engine)
    engine.dispose()
    assert mode(tmp_path / "var") == 0o700
    assert mode(tmp_path / "var" / "bridge.env") == 0o600
    assert mode(tmp_path / "var" / "bridge.db") == 0o600
    assert mode(tmp_path / "var" / "bridge-inbox.db") == 0o600


def test_an_empty_secret_refuses_to_start(tmp_path, monkeypatch):
    path = tmp_path / "bridge.yaml"
    path.write_text("sources:\n  - name: shop\n    platform: stripe\n    secret: ${EMPTY_ONE}\n")
    monkeypatch.setenv("EMPTY_ONE", "")
    monkeypatch.setenv("BRIDGE_CONFIG", str(path))
    monkeypatch.setenv("BRIDGE_VAR_DIR", str(tmp_path / "var"))
    with pytest.raises(settings.ConfigError, match=r"sources\[0\]\.secret \(line 4\): is empty"):
        settings.load(path)
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 2 and "a webhook secret is required" in result.output
