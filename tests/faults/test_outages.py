"""Ingest never acknowledges what it did not store: database down → 503 and nothing written;
Redis down → 200, and the sweeper enqueues once Redis is back."""

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bridge.app import create_app
from bridge.embedded_redis import EmbeddedRedis
from bridge.storage.models import Delivery, Event, InboxWebhook
from tests import stripe_events as se
from tests.faults.helpers import fault_config, start_worker, statuses, stop, txn_ids, wait_until
from tests.faults.tcpproxy import TcpProxy
from workers import inbox


def stored(url: str) -> tuple[int, int, int]:
    """(inbox rows, events, deliveries), read past the proxy."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return tuple(connection.scalar(select(func.count(model.id)))
                         for model in (InboxWebhook, Event, Delivery))
    finally:
        engine.dispose()


@pytest.fixture
def proxied(database_url):
    """The test's PostgreSQL behind a proxy the test can cut; (direct url, proxy)."""
    if database_url.startswith("sqlite"):
        pytest.skip("cutting the database's connection needs PostgreSQL")
    target = make_url(database_url)
    with TcpProxy(target.port or 5432, target.host) as proxy:
        yield database_url, proxy


@pytest.mark.parametrize("cut", ["before", "on the INSERT", "while the connection idles"])
def test_database_down_is_503_nothing_half_written_then_accepted(
        cut, proxied, write_config, redis_url, redis, network_server):
    direct, proxy = proxied
    via_proxy = make_url(direct).set(host="127.0.0.1", port=proxy.port,
                                     query={"sslmode": "disable"})
    rt = write_config(fault_config(via_proxy.render_as_string(hide_password=False), redis_url,
                                   network_server.url))
    client = create_app(rt).test_client()
    before = (0, 0, 0)
    if cut == "before":
        proxy.cut()
    elif cut == "on the INSERT":  # the inbox INSERT (its own transaction) never arrives
        proxy.cut_on(b"INSERT INTO inbox")
    else:  # the inbox writer's kept connection dies between two webhooks
        earlier = se.checkout_session(event_id="evt_earlier", payment_intent="pi_earlier")
        assert se.post(client, earlier).status_code == 200
        before = (1, 1, 1)
        proxy.cut()
    response = se.post(client, se.checkout_session())
    assert response.status_code == 503
    assert stored(direct) == before
    proxy.restore()
    retry = se.post(client, se.checkout_session())
    assert retry.status_code == 200, retry.json  # the platform's retry
    assert stored(direct) == tuple(n + 1 for n in before)


def test_database_lost_mid_processing_leaves_the_webhook_in_the_inbox(
        proxied, write_config, redis_url, redis, network_server):
    """The event row is written, then the connection dies before the deliveries: the inbox job
    fails, nothing is half-written, and the next job stores the webhook whole."""
    direct, proxy = proxied
    via_proxy = make_url(direct).set(host="127.0.0.1", port=proxy.port,
                                     query={"sslmode": "disable"})
    rt = write_config(fault_config(via_proxy.render_as_string(hide_password=False), redis_url,
                                   network_server.url))
    app = create_app(rt)
    app.test_client_class = FlaskClient
    assert se.post(app.test_client(), se.checkout_session()).status_code == 200
    proxy.cut_on(b"INSERT INTO deliveries")
    with pytest.raises(OperationalError):
        inbox.drain(rt)
    assert stored(direct) == (1, 0, 0)
    proxy.restore()
    rt.engine.dispose()  # the pool's connections died with the proxy's
    assert inbox.drain(rt) == 1
    assert stored(direct) == (1, 1, 1)


def test_redis_down_still_200_and_the_sweeper_enqueues_when_it_returns(
        tmp_path, write_config, database_url, network_server):
    with EmbeddedRedis(tmp_path / "redis") as own_redis:
        rt = write_config(fault_config(database_url, own_redis.url, network_server.url))
        client = create_app(rt).test_client()
        worker = start_worker(rt)
        try:
            own_redis.stop()
            assert se.post(client, se.checkout_session()).status_code == 200
            assert statuses(rt) == {"pending": 1}
            own_redis.start()
            assert wait_until(lambda: statuses(rt) == {"delivered": 1}, timeout_s=20), \
                worker.poll()
        finally:
            stop(worker)
    assert txn_ids(network_server) == {"pi_test_1": 1}
