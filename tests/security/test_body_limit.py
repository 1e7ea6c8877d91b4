"""server.max_body_bytes under gunicorn (the production server), over raw sockets: a declared
oversize body, a chunked stream that never ends and a lying Content-Length are answered without
the bridge reading them in full, and store nothing. SQLite and PostgreSQL."""

import json
import socket
import subprocess
import threading
import time

import pytest
import requests

from bridge import runner
from tests import stripe_events as se
from tests.security.conftest import row_counts

LIMIT = 1_048_576


@pytest.fixture
def gunicorn(hostile):
    """The bridge under gunicorn on 127.0.0.1 (one gthread worker), configured like `hostile`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = runner.gunicorn_command(port, workers=1)
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(10)


def status_line(connection: socket.socket) -> str:
    connection.settimeout(10)
    return connection.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def request_head(port: int, extra: str) -> bytes:
    return (f"POST /webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


def test_declared_oversize_body_is_413_before_it_is_sent(hostile, gunicorn):
    with socket.create_connection(("127.0.0.1", gunicorn), timeout=10) as connection:
        connection.sendall(request_head(gunicorn, f"Content-Length: {50 * LIMIT}\r\n") + b"{")
        assert " 413 " in status_line(connection)  # the other 50 MiB were never sent
    assert row_counts(hostile) == (0, 0)


def test_endless_chunked_body_is_cut_off_with_413(hostile, gunicorn):
    sent = {"bytes": 0}
    chunk = b"%x\r\n%s\r\n" % (65536, b"[" * 65536)

    def stream(connection):
        try:
            while sent["bytes"] < 200 * LIMIT:
                connection.sendall(chunk)
                sent["bytes"] += 65536
        except OSError:
            pass  # the bridge answered and closed

    with socket.create_connection(("127.0.0.1", gunicorn), timeout=10) as connection:
        connection.sendall(request_head(gunicorn, "Transfer-Encoding: chunked\r\n"))
        sender = threading.Thread(target=stream, args=(connection,), daemon=True)
        sender.start()
        assert " 413 " in status_line(connection)
        connection.shutdown(socket.SHUT_RDWR)
        sender.join(10)
    assert sent["bytes"] < 200 * LIMIT
    assert row_counts(hostile) == (0, 0)


def test_lying_content_length_reads_only_what_was_declared(hostile, gunicorn):
    raw = se.body(se.checkout_session())
    signature = se.headers(raw)["Stripe-Signature"]
    head = request_head(gunicorn, f"Stripe-Signature: {signature}\r\nContent-Length: 10\r\n")
    with socket.create_connection(("127.0.0.1", gunicorn), timeout=10) as connection:
        connection.sendall(head + raw)
        assert " 401 " in status_line(connection)  # ten bytes do not match the signature
    assert row_counts(hostile) == (0, 0)
    honest = requests.post(f"http://127.0.0.1:{gunicorn}/webhooks/stripe", data=raw,
                           headers=se.headers(raw), timeout=10)
    assert (honest.status_code, honest.json()["status"]) == (200, "accepted")
    assert json.loads(raw)["id"] == "evt_test_1"


def test_chunked_body_under_the_limit_is_read_whole(hostile, gunicorn):
    raw = se.body(se.checkout_session())
    chunks = (raw[i:i + 100] for i in range(0, len(raw), 100))
    response = requests.post(f"http://127.0.0.1:{gunicorn}/webhooks/stripe", data=chunks,
                             headers=se.headers(raw), timeout=10)
    assert (response.status_code, response.json()["status"]) == (200, "accepted")
