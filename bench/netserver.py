"""A network stand-in for benchmarks, in its own process: asyncio HTTP/1.1 keep-alive, a fixed
delay, and the arrival time of every postback by click id (`GET /_stats`).

asyncio, not a thread per connection: the threaded stand-in topped out near 330 requests/s on
2 cores, below what the worker tier sends. This one answers several thousand a second.
"""

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlsplit


class Network:
    """What the network heard: arrival times by click id, and the connections that carried
    postbacks (the harness's own `/_stats` polls are not counted)."""

    def __init__(self, delay_s: float):
        self.delay_s, self.arrivals, self.times, self.connections = delay_s, {}, [], 0

    def stats(self) -> dict:
        return {"count": len(self.times), "arrivals": self.arrivals,
                "first": min(self.times, default=0), "last": max(self.times, default=0),
                "connections": self.connections}

    def reset(self) -> dict:
        self.arrivals, self.times, self.connections = {}, [], 0
        return {}

    async def answer(self, target: str) -> bytes:
        parts = urlsplit(target)
        special = {"/_stats": self.stats, "/_reset": self.reset}.get(parts.path)
        if special:
            return json.dumps(special()).encode()
        now = time.time()  # received: the answer's delay is the network's, not the bridge's
        self.arrivals[parse_qs(parts.query).get("click_id", ["?"])[0]] = now
        self.times.append(now)
        await asyncio.sleep(self.delay_s)
        return b"OK"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        carried = False  # a postback, on this connection
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(_content_length(head))
                target = head.split(b" ", 2)[1].decode()
                if not carried and not target.startswith("/_"):
                    carried, self.connections = True, self.connections + 1
                payload = await self.answer(target)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(payload), payload))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


async def main_async(port: int, delay_s: float) -> None:
    network = Network(delay_s)
    server = await asyncio.start_server(network.serve, "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


def main() -> None:
    asyncio.run(main_async(int(sys.argv[1]), float(sys.argv[2])))


if __name__ == "__main__":
    main()
