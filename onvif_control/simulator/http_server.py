"""A small asyncio HTTP/1.1 server: enough for SOAP, JPEG snapshots and a JSON endpoint.

Keep-alive, ``Content-Length`` bodies only (chunked requests get 411), bounded header and
body sizes, and timeouts on idle connections, so a misbehaving client cannot hold the
camera. Handlers are ``async (HttpRequest) -> HttpResponse``; an exception in a handler
becomes a 500 and is logged, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
IDLE_TIMEOUT = 30.0
READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class HttpRequest:
    """A parsed request. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    peer: str


@dataclass
class HttpResponse:
    """A response to send; ``Content-Length`` and ``Date`` are added."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class HttpServer:
    """Serves ``handler`` on ``host:port`` (port 0: ephemeral) until :meth:`close`."""

    def __init__(self, handler: Handler, label: str = "") -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._label = label

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int, *, tls: ssl.SSLContext | None = None) -> None:
        """Bind and start accepting connections (over TLS with ``tls``)."""
        self._server = await asyncio.start_server(
            self._serve, host, port, limit=MAX_HEADER_BYTES, ssl=tls
        )

    async def close(self) -> None:
        """Stop accepting, close open connections and wait for them."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        peer_host = str(peer[0]) if peer else ""
        try:
            while True:
                try:
                    request = await self._read_request(reader, peer_host)
                except _BadRequest as exc:
                    await self._send(
                        writer, HttpResponse(exc.status, str(exc).encode()), close=True
                    )
                    return
                if request is None:
                    return
                try:
                    response = await self._handler(request)
                except Exception:
                    log.exception(
                        "%s handler failed for %s %s", self._label, request.method, request.path
                    )
                    response = HttpResponse(500, b"internal error")
                close = request.headers.get("connection", "").lower() == "close"
                await self._send(writer, response, close=close)
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass  # the client went away, idled out or broke TLS: nothing to answer
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader, peer: str) -> HttpRequest | None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _BadRequest(400, "incomplete request head") from exc
            return None
        except asyncio.LimitOverrunError as exc:
            raise _BadRequest(431, "request head too large") from exc
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, f"bad request line {lines[0][:100]!r}")
        method, target, _ = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise _BadRequest(400, f"bad header line {line[:100]!r}")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest(411, "chunked request bodies are not supported")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise _BadRequest(400, "bad Content-Length") from exc
        if length < 0 or length > MAX_BODY_BYTES:
            raise _BadRequest(413, f"body of {length} bytes is not accepted")
        body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT) if length else b""
        url = urlsplit(target)
        return HttpRequest(method, url.path, parse_qs(url.query), headers, body, peer)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, response: HttpResponse, close: bool) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        head = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: vms-simulated-camera",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        head += [f"{k}: {v}" for k, v in response.headers.items()]
        if close:
            head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
        await writer.drain()
