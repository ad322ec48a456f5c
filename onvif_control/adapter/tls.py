"""TLS to https cameras: the certificate pin checked on every connection.

onvif-zeep-async checks no camera certificate (most are self-signed), so whoever stood on
the path could present their own, take the camera's username and password digest (a
replayable WS-UsernameToken) and answer false PTZ poses to the mask planner (INV-5).
Here, every request to an https camera carries an :class:`aiohttp.Fingerprint` of the
pinned certificate: aiohttp compares the peer's certificate right after the handshake and
before it writes the request, so a mismatch sends nothing (no credential) and leaves as
:class:`CertificateChanged` (docs/design/security.md, "Camera certificates").

The pin is learned once, at onboarding, by :func:`peer_fingerprint`: a handshake whose
certificate is read and the connection closed, nothing written (trust on first use).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import aiohttp

from onvif_control.tls_pins import fingerprint_of, format_fingerprint
from vms.errors import FailedPrecondition


class CertificateChanged(FailedPrecondition):
    """An https camera presented another certificate than its pin: nothing was sent."""

    def __init__(self, camera: str, operation: str, expected: bytes, got: bytes) -> None:
        self.expected = format_fingerprint(expected)
        self.got = format_fingerprint(got)
        super().__init__(
            f"camera {camera}: {operation}: certificate changed: expected {self.expected}, "
            f"got {self.got}; nothing was sent to it (an admin who knows the camera's "
            "certificate was replaced can accept the new one)",
            camera=camera,
            expected=self.expected,
            got=self.got,
        )


# What a request to an https camera passes as ``ssl``: the pin, or the context of the
# camera's CA bundle (docs/design/security.md, "Camera certificates").
TlsCheck = aiohttp.Fingerprint | ssl.SSLContext


class CertificateUntrusted(FailedPrecondition):
    """An https camera verified by a CA bundle presented a certificate the bundle does
    not vouch for (or that names another host): nothing was sent."""

    def __init__(self, camera: str, operation: str, reason: str) -> None:
        super().__init__(
            f"camera {camera}: {operation}: certificate not trusted by the camera's CA "
            f"bundle ({reason}); nothing was sent to it",
            camera=camera,
        )


def pinned(pin: bytes) -> aiohttp.Fingerprint:
    """What a request to an https camera passes as ``ssl``: the peer's certificate must
    have this SHA-256 digest (checked before the request is written)."""
    return aiohttp.Fingerprint(pin)


def _unverified() -> ssl.SSLContext:
    # The chain of a self-signed camera certificate cannot verify: what is trusted is the
    # certificate itself, by its fingerprint.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def peer_fingerprint(host: str, port: int, timeout: float) -> bytes:
    """The SHA-256 digest of the certificate the TLS server at ``host:port`` presents.
    Only the handshake is made: nothing is written, so no credential leaves. Errors as
    the connection raised them (OSError, ssl.SSLError, TimeoutError)."""
    async with asyncio.timeout(timeout):
        _, writer = await asyncio.open_connection(host, port, ssl=_unverified())
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise ssl.SSLError(f"{host}:{port} presented no certificate")
        return fingerprint_of(der)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(timeout):
                await writer.wait_closed()
