"""A real HTTP server on 127.0.0.1 standing in for a store platform's API: routes are plain
functions over a shared state dict; every request is recorded."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler

from tests.netserver import LoopbackServer, Received, read_request, send_reply


class PlatformServer(LoopbackServer):
    """`with PlatformServer({("GET", r"/path"): handler}) as api:` — api.url, api.received."""

    def __init__(self, routes: dict, state: dict | None = None):
        self.routes = [(method, re.compile(path + "$"), handler)
                       for (method, path), handler in routes.items()]
        self.state = state if state is not None else {}
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self._serve_on_loopback(self._handler())


    def calls(self, method: str, path_pattern: str) -> list[Received]:
        pattern = re.compile(path_pattern + "$")
        return [r for r in self.received if r.method == method and pattern.match(r.path)]

    def _answer(self, request: Received):
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                with self.lock:
                    return handler(self, request, *match.groups())
        return 404, {"error": "no such route"}, {}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                request = read_request(self)
                server.received.append(request)
                status, payload, headers = server._answer(request)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                send_reply(self, status, data, {"Content-Type": "application/json", **headers})

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args):
                pass

        return Handler
