"""A TLS server in front of a plain RTSP server (the camera simulator's): an ``rtsps``
camera for the tests of certificate checks (vms/media/rtsps.py). It records every byte a
client sends after the handshake and rewrites the replies' ``Content-Base`` to its own
``rtsps`` address, as a camera names itself."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import threading


class TlsFront:
    """A TLS server on an ephemeral loopback port in front of a plain RTSP server: what
    a client sends after the handshake is recorded (:attr:`received`) and relayed; the
    replies' ``Content-Base`` is rewritten to this server's own ``rtsps`` address."""

    def __init__(self, target_port: int, context: ssl.SSLContext, port: int = 0) -> None:
        """``port``: where to listen (0: an ephemeral port; another front's, closed
        before: another certificate on the same address)."""
        self._target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._lock = threading.Lock()
        self._received = bytearray()
        self.connections = 0
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", port, ssl=context), self._loop
        ).result(5)
        self.port = int(self._server.sockets[0].getsockname()[1])

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        with self._lock:
            self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        base = f"Content-Base: rtsps://127.0.0.1:{self.port}/".encode()

        async def to_camera() -> None:
            while data := await reader.read(65536):
                with self._lock:
                    self._received += data
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                writer.write(re.sub(rb"Content-Base: rtsp://127\.0\.0\.1:\d+/", base, data))
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(to_camera(), to_client(), return_exceptions=True)
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    def close(self) -> None:
        """Stops the server and its connections (again: nothing)."""
        if self._loop.is_closed():
            return

        async def stop() -> None:
            self._server.close()
            # Until every handler ended, also one that began while this ran: closing
            # its connections ends its reads.
            for _ in range(50):
                for writer in self._writers:
                    writer.close()
                pending = [task for task in self._handlers if not task.done()]
                if not pending:
                    break
                await asyncio.wait(pending, timeout=0.1)
            await self._server.wait_closed()
            await asyncio.sleep(0.05)  # the closed transports' callbacks

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
