"""Shared fixtures: a real Redis, SQLite and (when TEST_DATABASE_URL is set) PostgreSQL,
a local HTTP server standing in for a network, and configs written to disk like a merchant's."""

import os
import uuid
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import create_engine, text

from bridge import app as app_module
from bridge import queue as queue_module
from bridge import runtime as runtime_module
from bridge import settings
from bridge.embedded_redis import EmbeddedRedis
from bridge.storage.db import migrate, normalise_url
from bridge.storage.models import Base
from tests.netserver import NetworkServer
from workers import inbox

FIXTURES = Path(__file__).parent / "fixtures"
STRIPE_SECRET = "whsec_test_secret_for_tests_only"
DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


class InboxProcessingClient(FlaskClient):
    """A test client that, after each webhook, runs what the inbox job would: the real
    processing (workers/inbox.py), in this process, so a test sees events as soon as it posted."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
        if path.startswith("/webhooks/") and response.status_code == 200:
            inbox.drain(self.application.config["RUNTIME"])
        return response


Flask.test_client_class = InboxProcessingClient


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """TEST_REDIS_URL (the machine's Redis) or the embedded redis-server."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis(redis_url, monkeypatch):
    # a flushed Redis has no inbox job: this process must not remember having woken one
    monkeypatch.setattr(queue_module, "_inbox_asked_at", -queue_module.INBOX_LINGER_S)
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away database on the test PostgreSQL, migrated once."""
    admin_url = normalise_url(os.environ["TEST_DATABASE_URL"])
    name = f"bridge_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path):
    """Each storage test runs on SQLite and, when available, PostgreSQL (emptied per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as connection:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def network_server():
    with NetworkServer() as server:
        yield server


def base_config(database_url: str, redis_url: str, network_url: str, **overrides) -> dict:
    """A merchant-like config: one Stripe source, one network at the local server."""
    config = {
        "server": {"public_url": "http://127.0.0.1:9", "admin_token": "${TEST_ADMIN_TOKEN}"},
        "storage": {"database_url": database_url, "redis_url": redis_url},
        "sources": [{"name": "stripe", "platform": "stripe", "secret": "${TEST_STRIPE_SECRET}"}],
        "networks": [{
            "name": "house",
            "url": network_url + "/postback?click_id={click_id}&amount={amount}"
                                 "&currency={currency}&txn_id={txn_id}&event={event}",
            "retry": {"max_attempts": 3, "first_delay_s": 0, "max_delay_s": 1, "max_age_h": 1},
            "timeout_s": 3,
            "click_params": ["irclickid"],
            "send_test": True,
        }],
        "worker": {"sweep_interval_s": 0.2, "queue": "test-postbacks"},
    }
    config.update(overrides)
    return config


@pytest.fixture
def write_config(tmp_path, monkeypatch):
    """Write a config dict as YAML and load it into an installed Runtime."""
    monkeypatch.setenv("TEST_STRIPE_SECRET", STRIPE_SECRET)
    monkeypatch.setenv("TEST_ADMIN_TOKEN", "admin-token-for-tests")
    monkeypatch.setenv("BRIDGE_VAR_DIR", str(tmp_path / "var"))
    made = []

    def write(config: dict) -> runtime_module.Runtime:
        path = tmp_path / "bridge.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        monkeypatch.setenv("BRIDGE_CONFIG", str(path))
        rt = runtime_module.install(runtime_module.Runtime(settings.load(path)))
        migrate(rt.engine)
        made.append(rt)
        return rt

    yield write
    for rt in made:
        rt.engine.dispose()
    runtime_module.install(None)


@pytest.fixture
def bridge(write_config, database_url, redis_url, redis, network_server):
    """A configured bridge (Runtime) on this test's database, Redis and network server."""
    return write_config(base_config(database_url, redis_url, network_server.url))


@pytest.fixture
def client(bridge):
    return app_module.create_app(bridge).test_client()
