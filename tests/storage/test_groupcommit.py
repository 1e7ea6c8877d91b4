"""Group commit of inbox rows: concurrent requests share transactions, each gets its own answer."""

import sqlite3
import threading
from datetime import timedelta

from sqlalchemy import event, func, select

from bridge import ingest
from bridge.storage.db import inbox_path
from bridge.storage.models import InboxWebhook, utcnow
from tests.conftest import base_config


def row(key: str, **changes) -> dict:
    return {"source": "stripe", "event_key": key, "topic": "t", "headers": {}, "body": b"{}",
            "received_at": utcnow(), "attempts": 0, "error": "", **changes}


def at_once(rt, rows: list[dict]) -> list:
    """Every row from its own thread, all released together; each thread's result or error."""
    results, start = [None] * len(rows), threading.Barrier(len(rows))

    def one(at: int) -> None:
        start.wait()
        try:
            results[at] = rt.inbox_writer.execute(rows[at])
        except Exception as exc:  # the test looks at what each request would have answered
            results[at] = exc

    threads = [threading.Thread(target=one, args=(at,)) for at in range(len(rows))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def stored(rt) -> int:
    with rt.session() as session:
        return session.scalar(select(func.count(InboxWebhook.id)))


def test_concurrent_rows_each_get_their_id_and_duplicates_none(bridge):
    results = at_once(bridge, [row(f"evt_{n}") for n in range(20)] + [row("evt_same")] * 5)
    assert len(set(results[:20])) == 20 and all(isinstance(r, int) for r in results[:20])
    assert sum(isinstance(r, int) for r in results[20:]) == 1  # one of the five copies
    assert results[20:].count(None) == 4
    assert stored(bridge) == 21
    assert bridge.inbox_writer.execute(row("evt_3")) is None  # stored before: a redelivery


def test_a_row_the_database_refuses_fails_alone(bridge):
    bad = row("evt_bad", headers={"x": object()})  # cannot be stored as JSON
    results = at_once(bridge, [row(f"evt_{n}") for n in range(10)] + [bad])
    assert all(isinstance(r, int) for r in results[:10])
    assert isinstance(results[10], Exception)
    assert stored(bridge) == 10


def test_batches_reuse_one_connection_in_autocommit(bridge):
    """No pool checkout per batch, and each batch's statement is its own transaction."""
    checkouts = []

    def count(*_):
        checkouts.append(1)

    event.listen(bridge.engine, "checkout", count)
    try:
        ids = [bridge.inbox_writer.execute(row(f"evt_kept_{n}")) for n in range(5)]
    finally:
        event.remove(bridge.engine, "checkout", count)
    assert all(isinstance(i, int) for i in ids)
    assert len(checkouts) <= 1
    connection = bridge.inbox_writer.connection
    assert connection.get_execution_options()["isolation_level"] == "AUTOCOMMIT"
    assert stored(bridge) == 5  # read from another connection: committed without a COMMIT call


def test_a_row_alone_is_stored_as_a_row_in_a_batch(bridge):
    """A batch of one goes through the DBAPI cursor, a larger one through SQLAlchemy: the same
    columns come back (headers as JSON, the body's bytes, the time, lz4 on PostgreSQL), and
    SQLAlchemy runs no statement for the row alone."""
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid"}
    body = b'{"id": 1, "note": "' + "é".encode() * 2000 + b'"}'
    statements = []

    def count(*_):
        statements.append(1)

    bridge.inbox_writer.execute(row("evt_first"))  # its kept connection is set up
    event.listen(bridge.engine, "before_cursor_execute", count)
    try:
        alone = bridge.inbox_writer.execute(row("evt_alone", headers=headers, body=body))
    finally:
        event.remove(bridge.engine, "before_cursor_execute", count)
    assert statements == []
    with bridge.engine.connect() as connection:
        batched = ingest.insert_new(connection, [row("evt_batched", headers=headers, body=body),
                                                 row("evt_other")])[0]
        connection.commit()
    assert ingest.insert_new(bridge.inbox_writer.connection, [row("evt_alone")]) == [None]
    with bridge.session() as session:
        one, other = (session.get(InboxWebhook, i) for i in (alone, batched))
        assert (one.headers, one.body, one.topic) == (other.headers, other.body, other.topic)
        assert one.body == body and one.headers == headers
        assert abs(one.received_at - other.received_at) < timedelta(seconds=5)


def sqlite_bridge(tmp_path, write_config, redis_url, network_server):
    bridge = write_config(base_config(f"sqlite:///{tmp_path / 'bridge.db'}", redis_url,
                                      network_server.url))
    bridge.inbox_writer.execute(row("evt_first"))  # the kept connection exists
    return bridge


def write_lock(path) -> sqlite3.Connection:
    """Another process's write transaction on one SQLite file, as a worker's."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_batch_waits_while_another_process_holds_the_sqlite_write_lock(
        tmp_path, write_config, redis_url, network_server):
    """The writer polls a locked SQLite file itself (its busy timeout is 0): it waits, not fails."""
    bridge = sqlite_bridge(tmp_path, write_config, redis_url, network_server)
    other = write_lock(inbox_path(bridge.engine.url.database))
    timer = threading.Timer(0.3, other.commit)
    timer.start()
    try:
        assert isinstance(bridge.inbox_writer.execute(row("evt_behind_the_lock")), int)
    finally:
        timer.join()
        other.close()
    assert stored(bridge) == 2


def test_the_inbox_is_written_while_a_worker_holds_the_main_files_write_lock(
        tmp_path, write_config, redis_url, network_server):
    """On SQLite the inbox has a file (and a write lock) of its own: a worker's transaction on
    events and deliveries does not hold the webhook's answer up (it would wait until the lock
    is released, here never, and fail after its 15 s)."""
    bridge = sqlite_bridge(tmp_path, write_config, redis_url, network_server)
    other = write_lock(bridge.engine.url.database)
    try:
        other.execute("UPDATE deliveries SET attempts = attempts")  # a write in the transaction
        assert isinstance(bridge.inbox_writer.execute(row("evt_beside_the_lock")), int)
        assert stored(bridge) == 2
    finally:
        other.close()
