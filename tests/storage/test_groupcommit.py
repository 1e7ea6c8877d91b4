"""Group commit of inbox rows: concurrent requests share transactions, each gets its own answer."""

import sqlite3
import threading
import time
from datetime import timedelta

from sqlalchemy import event, func, select

from bridge import ingest
from bridge.storage.db import inbox_path
from bridge.storage.groupcommit import GroupCommit
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


def test_a_batch_answers_all_its_requests_at_once_not_after_the_next_batch(bridge):
    """The requests of a committed batch are released together when it commits, while a
    request that queued meanwhile commits the next batch (each batch here waits for its
    gate); the throughput this buys (no chain of wake-ups) is measured in bench/ingest.py."""
    gates = {key: threading.Event() for key in ("evt_first", "evt_1", "evt_next")}

    def gated(connection, rows):
        for stored_row in rows:
            if stored_row["event_key"] in gates:
                gates[stored_row["event_key"]].wait(10)
        return ingest.insert_new(connection, rows)

    writer, answered = GroupCommit(bridge.engine, gated), {}

    def submit(key: str) -> threading.Thread:
        thread = threading.Thread(target=lambda: answered.update({key: writer.execute(row(key))}))
        thread.start()
        return thread

    def until(condition) -> None:
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert condition()

    threads = [submit("evt_first")]
    until(lambda: writer.committing)
    threads += [submit(f"evt_{n}") for n in range(1, 6)]
    until(lambda: len(writer.waiting) == 5)
    gates["evt_first"].set()  # the five commit together, held by evt_1's gate
    until(lambda: writer.committing and not writer.waiting and "evt_first" in answered)
    threads.append(submit("evt_next"))
    until(lambda: len(writer.waiting) == 1)
    gates["evt_1"].set()
    until(lambda: all(f"evt_{n}" in answered for n in range(1, 6)))
    assert "evt_next" not in answered  # its batch still waits for its gate
    gates["evt_next"].set()
    for thread in threads:
        thread.join(10)
    assert len(set(answered.values())) == 7 and stored(bridge) == 7


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


def test_rows_through_the_cursor_are_stored_as_sqlalchemy_stores_them(bridge):
    """Batches go through the DBAPI cursor (a statement compiled once per size); SQLAlchemy's
    own execution, the fallback when the cursor fails, stores the same columns (headers as
    JSON, the body's bytes, the time, lz4 on PostgreSQL), and runs no statement for them."""
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid"}
    body = b'{"id": 1, "note": "' + "é".encode() * 2000 + b'"}'
    statements = []

    def count(*_):
        statements.append(1)

    bridge.inbox_writer.execute(row("evt_first"))  # its kept connection is set up
    writer = bridge.inbox_writer.connection
    event.listen(bridge.engine, "before_cursor_execute", count)
    try:
        alone = bridge.inbox_writer.execute(row("evt_alone", headers=headers, body=body))
        batched = ingest.insert_new(writer, [row("evt_other"), row("evt_alone"),
                                             row("evt_batched", headers=headers, body=body),
                                             row("evt_other")])
    finally:
        event.remove(bridge.engine, "before_cursor_execute", count)
    assert statements == []
    assert batched[1] is None and batched[3] is None  # stored already; earlier in the batch
    assert all(isinstance(i, int) for i in batched[::2])
    by_sqlalchemy = writer.execute(ingest.INSERTS[writer.dialect.name],
                                   [row("evt_core", headers=headers, body=body)]).one()[0]
    with bridge.session() as session:
        one, two, core = (session.get(InboxWebhook, i) for i in (alone, batched[2], by_sqlalchemy))
        for stored_row in (one, two):
            assert (stored_row.headers, stored_row.body, stored_row.topic) == (
                core.headers, core.body, core.topic)
            assert abs(stored_row.received_at - core.received_at) < timedelta(seconds=5)
        assert one.body == body and one.headers == headers


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
