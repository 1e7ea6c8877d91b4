"""A network stand-in for benchmarks, in its own process: HTTP/1.1 keep-alive, a fixed delay,
and the arrival time of every postback by click id (`GET /_stats`)."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

arrivals: dict[str, float] = {}
times: list[float] = []
connections = set()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay_s = 0.05

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path == "/_stats":
            return self._answer(json.dumps({"count": len(times), "arrivals": arrivals,
                                            "first": min(times, default=0),
                                            "last": max(times, default=0),
                                            "connections": len(connections)}))
        if parts.path == "/_reset":
            arrivals.clear()
            times.clear()
            connections.clear()
            return self._answer("{}")
        time.sleep(self.delay_s)
        click = parse_qs(parts.query).get("click_id", ["?"])[0]
        with lock:
            arrivals[click] = time.time()
            times.append(arrivals[click])
            connections.add(self.client_address)
        self._answer("OK")

    do_POST = do_GET

    def _answer(self, text: str) -> None:
        payload = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def main() -> None:
    Handler.delay_s = float(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    server.serve_forever()


if __name__ == "__main__":
    main()
