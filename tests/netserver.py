"""A real HTTP server on 127.0.0.1 standing in for an affiliate network: records every request
and answers from a script (status, body, headers, delay)."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: str = "OK"
    headers: dict = field(default_factory=dict)
    delay_s: float = 0


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 run in a thread: `with Server() as s: s.url`."""

    def _serve_on_loopback(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def read_request(handler) -> Received:
    """The request a BaseHTTPRequestHandler is serving, body read in full."""
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    parts = urlsplit(handler.path)
    return Received(handler.command, parts.path, parse_qs(parts.query), dict(handler.headers),
                    body)


def send_reply(handler, status: int, body: bytes, headers: dict) -> None:
    """Write a whole HTTP answer from a BaseHTTPRequestHandler."""
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class NetworkServer(LoopbackServer):
    """`with NetworkServer() as server:` — server.url, server.received, server.script([...])."""

    def __init__(self):
        self.received: list[Received] = []
        self.replies: list[Reply] = []
        self.default = Reply()
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self._serve_on_loopback(self._handler())

    def script(self, replies: list[Reply], default: Reply | None = None) -> None:
        with self.lock:
            self.replies = list(replies)
            self.default = default or Reply()

    def wait_for(self, count: int, timeout_s: float = 15) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received

    def _next_reply(self) -> Reply:
        with self.lock:
            return self.replies.pop(0) if self.replies else self.default

    def _count_in_flight(self, change: int) -> None:
        """Requests being answered right now, and the most there ever were at once."""
        with self.lock:
            self.in_flight += change
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                server.received.append(read_request(self))
                reply = server._next_reply()
                server._count_in_flight(+1)
                try:
                    time.sleep(reply.delay_s)
                    send_reply(self, reply.status, reply.body.encode(), reply.headers)
                finally:
                    server._count_in_flight(-1)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args):
                pass

        return Handler
