"""Network peers that fail: a port nobody listens on, and a server that accepts
connections and never answers (a hung process). For the tests of timeouts and
"unreachable" errors (the ONVIF adapter, the internal API between nodes)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


def closed_port() -> int:
    """A loopback port that was free a moment ago: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback server that accepts every connection and never answers; yields its
    port. Connections are closed when the block ends."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


class Relay:
    """A loopback TCP relay to ``target_port`` that can :meth:`freeze`: from then on it
    forwards nothing either way but keeps every connection open (a camera whose stream
    stalls while its socket stays up: a hung encoder, a black-holed route)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = int(self._server.getsockname()[1])
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, name="relay", daemon=True)]
        self._threads[0].start()

    def freeze(self) -> None:
        self._frozen.set()

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client = self._server.accept()[0]
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(a, b), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.2)
        while not self._stop.is_set():
            if self._frozen.is_set():
                self._stop.wait(0.2)
                continue
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            with contextlib.suppress(OSError):
                sink.sendall(data)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for s in self._sockets:
            s.close()
        self._server.close()


@contextlib.contextmanager
def relay(target_port: int) -> Iterator[Relay]:
    """A :class:`Relay` to ``target_port``, closed when the block ends."""
    r = Relay(target_port)
    try:
        yield r
    finally:
        r.close()
