"""Under a burst the store is answered first: a web process whose commits are crowded says so in
Redis, and the inbox pass steps back while it lasts, for at most STEP_BACK_S a burst."""

import logging
import threading
import time

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bridge import ingest
from bridge import queue as queue_module
from bridge.app import create_app
from bridge.storage import groupcommit
from bridge.storage.groupcommit import GroupCommit
from bridge.storage.models import Event
from tests import stripe_events as se
from tests.storage.test_groupcommit import row
from workers import inbox


@pytest.fixture
def web(bridge, monkeypatch):
    """A test client that leaves the inbox to the pass, as production does."""
    monkeypatch.setattr(queue_module, "_burst_noted_at", -queue_module.BURST_NOTE_EVERY_S)
    monkeypatch.setattr(inbox, "_stepped_back_since", None)
    app = create_app(bridge)
    app.test_client_class = FlaskClient
    return app.test_client()


def crowd(writer: GroupCommit, rows_at_once: int) -> None:
    """Commits of `rows_at_once` rows each through `writer` (its first row's batch is held at
    a gate until the others wait behind it), then one more commit after the window has ended,
    which closes it."""
    gate, first_key = threading.Event(), f"evt_gate_{time.monotonic_ns()}"
    run_batch = writer.run_batch

    def gated(connection, rows):
        if any(r["event_key"] == first_key for r in rows):
            gate.wait(10)
        return run_batch(connection, rows)

    writer.run_batch = gated
    try:
        threads = [threading.Thread(target=writer.execute, args=(row(first_key),))]
        threads[0].start()
        while not writer.committing:
            time.sleep(0.001)
        threads += [threading.Thread(target=writer.execute, args=(row(f"{first_key}_{n}"),))
                    for n in range(rows_at_once)]
        for thread in threads[1:]:
            thread.start()
        while len(writer.waiting) < rows_at_once:
            time.sleep(0.001)
        gate.set()
        for thread in threads:
            thread.join(10)
    finally:
        writer.run_batch = run_batch
    time.sleep(groupcommit.CROWD_WINDOW_S)


def test_commits_carrying_several_rows_are_crowded_one_at_a_time_are_not(bridge):
    writer = GroupCommit(bridge.engine, ingest.insert_new)
    for n in range(5):
        writer.execute(row(f"evt_alone_{n}"))
    time.sleep(groupcommit.CROWD_WINDOW_S)
    writer.execute(row("evt_closes_the_window"))
    assert not writer.crowded()
    crowd(writer, 6)  # one row, then six together
    writer.execute(row("evt_after"))
    assert writer.crowded()
    time.sleep(2 * groupcommit.CROWD_WINDOW_S)
    assert not writer.crowded()  # no commit since: the burst is over


def test_a_crowded_web_process_marks_the_burst_and_a_quiet_one_does_not(web, bridge):
    se.post(web, se.checkout_session(event_id="evt_quiet", payment_intent="pi_quiet"))
    assert not bridge.redis.exists(queue_module.BURST_KEY)
    crowd(bridge.inbox_writer, 6)
    se.post(web, se.checkout_session())  # its commit closes the crowded window
    assert bridge.redis.exists(queue_module.BURST_KEY)
    assert 0 < bridge.redis.pttl(queue_module.BURST_KEY) <= queue_module.BURST_TTL_MS


def stored(rt) -> int:
    with rt.session() as session:
        return session.scalar(select(func.count(Event.id)))


def test_the_pass_steps_back_while_the_burst_lasts(web, bridge, monkeypatch):
    monkeypatch.setattr(inbox, "STEP_BACK_S", 10)
    se.post(web, se.checkout_session())
    bridge.redis.set(queue_module.BURST_KEY, 1, px=400)
    started = time.monotonic()
    assert inbox.drain(bridge) == 1
    assert 0.35 <= time.monotonic() - started < 5  # until the burst's key expired
    assert stored(bridge) == 1


def test_the_pass_steps_back_at_most_step_back_s_however_long_the_burst(
        web, bridge, monkeypatch, caplog):
    monkeypatch.setattr(inbox, "STEP_BACK_S", 1)
    bridge.redis.set(queue_module.BURST_KEY, 1)  # a burst that never ends
    try:
        se.post(web, se.checkout_session())
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="bridge.inbox"):
            assert inbox.drain(bridge) == 1
        assert 1 <= time.monotonic() - started < 5
        assert [r.getMessage() for r in caplog.records if "burst" in r.getMessage()] == [
            "inbox: a burst of webhooks; stepping back for up to 1 s"]
        se.post(web, se.checkout_session(event_id="evt_later", payment_intent="pi_later"))
        started = time.monotonic()
        assert inbox.drain(bridge) == 1  # the same burst: no second wait
        assert time.monotonic() - started < 0.9
    finally:
        bridge.redis.delete(queue_module.BURST_KEY)
    assert stored(bridge) == 2


def test_without_a_burst_the_pass_does_not_wait(web, bridge, monkeypatch):
    monkeypatch.setattr(inbox, "STEP_BACK_S", 10)
    se.post(web, se.checkout_session())
    started = time.monotonic()
    assert inbox.drain(bridge) == 1
    assert time.monotonic() - started < 5


def test_what_the_pass_stored_is_woken_before_it_steps_back(bridge, monkeypatch):
    """The networks of webhooks stored before the burst began hear of them now, not after."""
    monkeypatch.setattr(inbox, "STEP_BACK_S", 10)
    monkeypatch.setattr(inbox, "_stepped_back_since", None)
    network = bridge.config.networks[0].name
    waking = inbox.Wakes()
    waking.add(bridge, ingest.Stored(networks={network}))
    bridge.redis.set(queue_module.BURST_KEY, 1, px=1500)
    stepping_back = threading.Thread(target=inbox.step_back, args=(bridge, waking))
    stepping_back.start()
    deadline = time.monotonic() + 1
    while bridge.queue.count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bridge.queue.count == 1 and stepping_back.is_alive()
    stepping_back.join(5)
