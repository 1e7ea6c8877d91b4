"""A TCP proxy on 127.0.0.1 that a test can cut: at once, or the moment the client sends a given
byte string (say, mid-transaction). While cut, new connections are closed on arrival."""

import socket
import threading


class TcpProxy:
    """`with TcpProxy(port) as proxy:` — proxy.port, cut(), cut_on(b"..."), restore()."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down, self.trigger = False, b""
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []

    def cut(self) -> None:
        with self.lock:
            self.down = True
            for sock in self.open:
                _close(sock)
            self.open.clear()

    def cut_on(self, pattern: bytes) -> None:
        self.trigger = pattern

    def restore(self) -> None:
        self.down, self.trigger = False, b""

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                _close(client)
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source, sink, from_client: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if from_client and self.trigger and self.trigger in chunk:
                    self.cut()
                    return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(sink)

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.cut()
        self.listener.close()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
