"""RTSP/1.0 messages (RFC 2326): request parsing, responses, Transport headers. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 8 * 1024
MAX_BODY_BYTES = 64 * 1024

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    413: "Request Entity Too Large",
    451: "Parameter Not Understood",
    453: "Not Enough Bandwidth",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "RTSP Version Not Supported",
}


class RtspError(Exception):
    """A request that gets an error status (and possibly closes the connection)."""

    def __init__(self, status: int, reason: str, *, close: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.close = close


@dataclass(frozen=True)
class RtspRequest:
    """A parsed request; header names lower-case."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def cseq(self) -> str:
        """The CSeq header (validated present by :func:`parse_request_head`)."""
        return self.headers["cseq"]

    @property
    def path(self) -> str:
        """The URL path without a trailing slash (``*`` stays ``*``)."""
        if self.url == "*":
            return "*"
        return urlsplit(self.url).path.rstrip("/") or "/"

    @property
    def session_id(self) -> str | None:
        """The Session header's id, without ``;timeout=``."""
        value = self.headers.get("session")
        return value.split(";", 1)[0].strip() if value else None


def parse_request_head(head: bytes) -> RtspRequest:
    """Parse the request line and headers (up to the blank line). Raises RtspError."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RtspError(400, "request head is not UTF-8", close=True) from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _METHOD.match(parts[0]):
        raise RtspError(400, f"bad request line {lines[0][:80]!r}", close=True)
    method, url, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise RtspError(400, f"bad header line {line[:80]!r}", close=True)
        headers[name.strip().lower()] = value.strip()
    if "cseq" not in headers or not headers["cseq"].isdigit():
        raise RtspError(400, "missing or non-numeric CSeq")
    if version != "RTSP/1.0":
        raise RtspError(505, f"version {version!r} is not RTSP/1.0")
    # rtsps: a request relayed from behind TLS names the camera's rtsps address.
    if url != "*" and not url.lower().startswith(("rtsp://", "rtsps://")):
        raise RtspError(400, f"request URL {url[:80]!r} is not an rtsp(s):// URL")
    return RtspRequest(method, url, headers)


def content_length(request: RtspRequest) -> int:
    """The body length announced by the request. Raises RtspError if unacceptable."""
    raw = request.headers.get("content-length", "0")
    if not raw.isdigit():
        raise RtspError(400, f"bad Content-Length {raw!r}", close=True)
    length = int(raw)
    if length > MAX_BODY_BYTES:
        raise RtspError(413, f"body of {length} bytes is too large", close=True)
    return length


def response(
    status: int, cseq: str | None, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """Format a response; ``Content-Length`` is added for a body."""
    lines = [f"RTSP/1.0 {status} {REASONS.get(status, 'Error')}"]
    if cseq is not None:
        lines.append(f"CSeq: {cseq}")
    lines.append("Server: vms-simulated-camera")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


@dataclass(frozen=True)
class TransportSpec:
    """A transport the server accepted: TCP interleaved channels or UDP client ports."""

    tcp: bool
    channels: tuple[int, int] = (0, 1)
    client_ports: tuple[int, int] = (0, 0)
    extra: dict[str, str] = field(default_factory=dict)


_METHOD = re.compile(r"^[A-Z][A-Z_]{0,31}$")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _pair(value: str, what: str) -> tuple[int, int]:
    match = _RANGE.match(value)
    if not match:
        raise RtspError(400, f"bad {what} {value!r}")
    first = int(match.group(1))
    second = int(match.group(2)) if match.group(2) else first + 1
    return first, second


def choose_transport(header: str | None) -> TransportSpec:
    """Pick the first supported transport of a SETUP ``Transport`` header.

    Supported: ``RTP/AVP/TCP;unicast;interleaved=a-b`` and ``RTP/AVP[/UDP];unicast;
    client_port=a-b``. Raises RtspError 461 when none is, 400 when malformed.
    """
    if not header:
        raise RtspError(461, "SETUP without a Transport header")
    for option in header.split(","):
        fields = [f.strip() for f in option.split(";") if f.strip()]
        if not fields:
            continue
        profile = fields[0].upper()
        params: dict[str, str] = {}
        for item in fields[1:]:
            key, _, value = item.partition("=")
            params[key.lower()] = value
        if "multicast" in params:
            continue
        if profile == "RTP/AVP/TCP":
            channels = _pair(params.get("interleaved", "0-1"), "interleaved channels")
            if not all(0 <= c <= 255 for c in channels):
                raise RtspError(400, f"interleaved channels {channels} out of range")
            return TransportSpec(tcp=True, channels=channels)
        if profile in ("RTP/AVP", "RTP/AVP/UDP") and "client_port" in params:
            ports = _pair(params["client_port"], "client_port")
            if not all(0 < p < 65536 for p in ports):
                raise RtspError(400, f"client ports {ports} out of range")
            return TransportSpec(tcp=False, client_ports=ports)
    raise RtspError(461, f"no supported transport in {header[:120]!r}")
