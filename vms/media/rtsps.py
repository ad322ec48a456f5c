"""``rtsps`` cameras with their certificate checked: our TLS connection, FFmpeg behind it.

FFmpeg checks no certificate of an ``rtsps`` camera (its RTSP demuxer passes no TLS
options down: no ``tls_verify``, no CA file, and it has no fingerprint option), so whoever
stood on the path could present their own certificate, take the camera's RTSP digest
credentials and feed false video (which defeats masks and evidence integrity). Here the
connection is ours: :func:`open_checked` opens TLS to the camera with Python's ``ssl`` and
checks the certificate against the camera's pin (SHA-256) or CA bundle before one byte is
written; then a :class:`Relay` on ``127.0.0.1`` (an ephemeral port, one connection, from
this process only) hands FFmpeg the plain side: FFmpeg opens ``rtsp://127.0.0.1:PORT/...``
over TCP (interleaved), so every request and the RTP packets travel on that one
connection. FFmpeg opens no second connection for ``SETUP`` even when the camera's
``Content-Base`` names its own address (tests/vms/test_rtsps.py). A changed certificate
is :class:`~vms.tls_pins.CertificateChanged`, an untrusted one
:class:`~vms.tls_pins.CertificateUntrusted` (both FailedPrecondition): the camera's
offline reason, as on the ONVIF side (docs/design/security.md, "Camera certificates").
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from vms.errors import Unavailable
from vms.tls_pins import (
    DIGEST_BYTES,
    CertificateChanged,
    CertificateUntrusted,
    StreamMoved,
    ca_context,
    fingerprint_of,
    format_fingerprint,
    parse_fingerprint,
    unverified_context,
)
from vms.urls import redact_credentials as redact

log = logging.getLogger(__name__)

RTSPS_DEFAULT_PORT = 322
OPERATION = "opening the rtsps stream"
# Bytes held for the slower side before the relay stops reading the faster one.
_BUFFER_LIMIT = 1 << 20
_CHUNK = 1 << 16
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


@dataclass(frozen=True)
class CameraTls:
    """How an ``rtsps`` camera is known: its pinned certificate's SHA-256 (``AB:CD:...``)
    or a PEM CA bundle that must vouch for it (one of them), or, for a camera with
    neither, ``first_use``: trust on first use, called with the fingerprint of the
    certificate the first handshake met before anything is written; it stores that pin
    (or finds one stored meanwhile) and returns the pin the connection is held to.
    ``camera``: the name its errors give."""

    camera: str
    fingerprint: str | None = None
    ca_pem: str | None = None
    # Whose pin ``fingerprint`` is: "rtsp", the stream port's own; "https", the ONVIF
    # side's, which a stream without a pin of its own is checked against.
    pin_of: str = "rtsp"
    # Where the stream's own pin ("rtsp") was taken or accepted: ``host:port``
    # (:func:`stream_endpoint`). A stream now at another host or port is refused before
    # anything is written, whatever certificate it presents there: the pin belongs to
    # that place, and a new one is accepted only by an admin (StreamMoved). None: not
    # bound (a pin stored before 0047 with no rtsps stream to date it, or the ONVIF pin).
    pinned_at: str | None = None
    # Not part of the value: a spec learning its pin equals another learning it.
    first_use: Callable[[str], str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.fingerprint is not None and self.ca_pem is not None:
            raise ValueError("a camera is known by its pin or by its CA bundle, not both")
        if self.fingerprint is None and self.ca_pem is None and self.first_use is None:
            raise ValueError("a camera with neither pin nor CA bundle needs first_use")
        if self.pin_of not in ("rtsp", "https"):
            raise ValueError(f"pin_of is rtsp or https, not {self.pin_of!r}")
        if self.pinned_at is not None and (self.fingerprint is None or self.pin_of != "rtsp"):
            raise ValueError("pinned_at dates the stream's own pin: it needs fingerprint")

    def operation(self, port: int) -> str:
        """What its errors say was being done: on which port, against which pin."""
        against = ", against the pin of its https port" if self.pin_of == "https" else ""
        return f"{OPERATION} (rtsp port {port}{against})"


def endpoint(host: str, port: int) -> str:
    """``host:port`` as a pin's place is stored (host in lower case, IPv6 in brackets)."""
    host = host.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def stream_endpoint(url: str | None) -> str | None:
    """The ``host:port`` an ``rtsps`` stream URL connects to (port 322 when none is
    given); None for another scheme, no host, or a URL that does not parse."""
    if not url or url[:8].lower() != "rtsps://":
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or RTSPS_DEFAULT_PORT
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return endpoint(parts.hostname, port)


def open_checked(host: str, port: int, tls: CameraTls, timeout: float) -> ssl.SSLSocket:
    """A TLS connection to ``host:port`` whose certificate passed ``tls``; nothing was
    written on it yet. CertificateChanged or CertificateUntrusted when the certificate
    fails (the connection closed, nothing written), Unavailable when the camera does not
    answer or the handshake fails otherwise."""
    where = f"{host}:{port}"
    context = ca_context(tls.ca_pem) if tls.ca_pem is not None else unverified_context()
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise Unavailable(f"camera {tls.camera}: {OPERATION}: {where}: {exc}") from None
    try:
        conn = context.wrap_socket(raw, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        raise CertificateUntrusted(tls.camera, tls.operation(port), exc.verify_message) from None
    except (OSError, ssl.SSLError) as exc:
        raw.close()
        raise Unavailable(f"camera {tls.camera}: {OPERATION}: {where}: {exc}") from None
    if tls.ca_pem is None:
        der = conn.getpeercert(binary_form=True)
        if not der and tls.fingerprint is None:  # nothing to trust on first use
            conn.close()
            raise Unavailable(f"camera {tls.camera}: {OPERATION}: {where}: no certificate")
        got = fingerprint_of(der) if der else b"\0" * DIGEST_BYTES
        here = endpoint(host, port)
        if tls.pinned_at is not None and tls.fingerprint is not None and tls.pinned_at != here:
            conn.close()
            pin = parse_fingerprint(tls.fingerprint)
            raise StreamMoved(tls.camera, tls.operation(port), tls.pinned_at, here, pin, got)
        try:
            expected = parse_fingerprint(_pin(tls, got))
        except BaseException:
            conn.close()
            raise
        if got != expected:
            conn.close()
            # Accepted for the rtsp port (its own pin), whichever pin it was checked against.
            raise CertificateChanged(tls.camera, tls.operation(port), expected, got, "rtsp")
    return conn


def _pin(tls: CameraTls, got: bytes) -> str:
    """The pin the connection is held to: the camera's, or the one its first use stored
    (``got``, the certificate met now, unless another was stored meanwhile)."""
    if tls.fingerprint is not None:
        return tls.fingerprint
    assert tls.first_use is not None  # CameraTls: a pin, a CA bundle or a first use
    pinned = tls.first_use(format_fingerprint(got))
    if pinned == format_fingerprint(got):
        log.info("camera %s: rtsps certificate %s pinned on first use", tls.camera, pinned)
    return pinned


def _proc_net_address(host_port: tuple[str, int]) -> str:
    """``127.0.0.1:5000`` as /proc/net/tcp writes it (``0100007F:1388``)."""
    host, port = host_port
    packed = socket.inet_aton(host)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def connected_from_this_process(conn: socket.socket) -> bool | None:
    """Whether the loopback client at the other end of ``conn`` is a socket this process
    holds (Linux: its /proc/net/tcp row's inode among /proc/self/fd). None where /proc
    cannot tell (not Linux)."""
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            rows = table.read().splitlines()[1:]
    except OSError:
        return None
    client = _proc_net_address(conn.getpeername())
    server = _proc_net_address(conn.getsockname())
    inode = ""
    for row in rows:
        cells = row.split()
        if len(cells) > 9 and cells[1] == client and cells[2] == server:
            inode = cells[9]
            break
    if not inode or inode == "0":
        return False
    wanted = f"socket:[{inode}]"
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == wanted:
                return True
    return False


class Relay:
    """Plain bytes on ``127.0.0.1:port`` relayed both ways to ``upstream`` (the checked
    TLS connection), for one client of this process: a connection from another process
    (a local user who found the port) is closed unanswered, and nothing of the camera
    reaches it. The relay ends with either side, or :meth:`close`."""

    def __init__(self, upstream: ssl.SSLSocket, *, label: str, accept_timeout: float) -> None:
        self.label = label
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._accept_timeout = accept_timeout
        self._stop = threading.Event()
        # Connections refused as not this process's (tests read it).
        self.refused = 0
        self._thread = threading.Thread(target=self._run, name=f"rtsps-{label}", daemon=True)
        self._thread.start()

    def url_for(self, url: str) -> str:
        """``url`` (``rtsps://user:pw@camera/path``) pointed at the relay: ``rtsp``, the
        same credentials, path and query, host ``127.0.0.1:port``."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(("rtsp", netloc, parts.path, parts.query, ""))

    def _run(self) -> None:
        try:
            client = self._accept()
            if client is not None:
                with client:
                    self._pump(client)
        except Exception:  # a relay thread must not die silently
            log.exception("%s: the rtsps relay failed", self.label)
        finally:
            self._listener.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                self._upstream.close()

    def _accept(self) -> socket.socket | None:
        waited = 0.0
        while not self._stop.is_set() and waited < self._accept_timeout:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                waited += 0.2
                continue
            except OSError:  # closed by close()
                return None
            ours = connected_from_this_process(client)
            if ours is False:
                self.refused += 1
                log.warning("%s: refused a relay connection from another process", self.label)
                client.close()
                continue
            self._listener.close()  # one connection only
            return client
        return None

    def _pump(self, client: socket.socket) -> None:
        """Bytes both ways until either side ends (then what the other is owed is
        flushed) or :meth:`close`. One thread touches the TLS socket (OpenSSL's objects
        are not for two threads at once)."""
        upstream = self._upstream
        client.setblocking(False)
        upstream.setblocking(False)
        # Bytes read from one side for the other: per side, (what it sent, what it is owed).
        to_camera, to_client = bytearray(), bytearray()
        boxes = {client: (to_camera, to_client), upstream: (to_client, to_camera)}
        wanted = {client: 0, upstream: 0}
        with selectors.DefaultSelector() as selector:

            def want(sock: socket.socket, events: int) -> None:
                if events == wanted[sock]:
                    return
                if not wanted[sock]:
                    selector.register(sock, events)
                elif not events:
                    selector.unregister(sock)
                else:
                    selector.modify(sock, events)
                wanted[sock] = events

            while not self._stop.is_set():
                for sock, (inbox, outbox) in boxes.items():
                    room = len(inbox) < _BUFFER_LIMIT
                    want(sock, (room and _READ) | (bool(outbox) and _WRITE))
                # TLS bytes already decrypted wait in the SSL object, not the socket:
                # no waiting on the socket for them.
                decrypted = upstream.pending() > 0 and len(to_client) < _BUFFER_LIMIT
                ready = [
                    (cast(socket.socket, key.fileobj), mask)
                    for key, mask in selector.select(0 if decrypted else 0.2)
                ]
                if decrypted:
                    ready.append((upstream, _READ))
                for sock, mask in ready:
                    inbox, outbox = boxes[sock]
                    if mask & _WRITE and outbox and not self._send(sock, outbox):
                        return
                    if mask & _READ:
                        data = self._recv(sock)
                        if data == b"":
                            self._flush(client, to_client)
                            self._flush(upstream, to_camera)
                            return
                        if data:
                            inbox += data

    @staticmethod
    def _flush(sock: socket.socket, out: bytearray) -> None:
        """What ``sock`` is owed, within a second (a TEARDOWN after FFmpeg closed)."""
        if not out:
            return
        with contextlib.suppress(OSError, ssl.SSLError):
            sock.settimeout(1.0)
            sock.sendall(out)

    @staticmethod
    def _recv(sock: socket.socket) -> bytes | None:
        """Bytes read, b"" at the end (or a broken connection), None: none yet."""
        try:
            return sock.recv(_CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except (OSError, ssl.SSLError):
            return b""

    @staticmethod
    def _send(sock: socket.socket, out: bytearray) -> bool:
        """Writes what ``sock`` takes of ``out`` (removed from it); False when it broke."""
        try:
            sent = sock.send(out[:_CHUNK])
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return True
        except (OSError, ssl.SSLError):
            return False
        del out[:sent]
        return True

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        if self._thread is not threading.current_thread():
            self._thread.join(5.0)


def relay_for(url: str, tls: CameraTls, timeout: float) -> Relay:
    """The checked connection to the camera of ``url`` (``rtsps://``) behind a
    :class:`Relay` (see :func:`open_checked` for the errors)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or RTSPS_DEFAULT_PORT
    upstream = open_checked(host, port, tls, timeout)
    return Relay(upstream, label=f"camera {tls.camera} ({redact(url)})", accept_timeout=timeout)
