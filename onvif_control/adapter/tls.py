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

from vms.tls_pins import (
    CertificateChanged,
    CertificateUntrusted,
    fingerprint_of,
    unverified_context,
)

__all__ = [
    "CertificateChanged",
    "CertificateUntrusted",
    "TlsCheck",
    "peer_fingerprint",
    "pinned",
]


# What a request to an https camera passes as ``ssl``: the pin, or the context of the
# camera's CA bundle (docs/design/security.md, "Camera certificates").
TlsCheck = aiohttp.Fingerprint | ssl.SSLContext


def pinned(pin: bytes) -> aiohttp.Fingerprint:
    """What a request to an https camera passes as ``ssl``: the peer's certificate must
    have this SHA-256 digest (checked before the request is written)."""
    return aiohttp.Fingerprint(pin)


async def peer_fingerprint(host: str, port: int, timeout: float) -> bytes:
    """The SHA-256 digest of the certificate the TLS server at ``host:port`` presents.
    Only the handshake is made: nothing is written, so no credential leaves. Errors as
    the connection raised them (OSError, ssl.SSLError, TimeoutError)."""
    async with asyncio.timeout(timeout):
        _, writer = await asyncio.open_connection(host, port, ssl=unverified_context())
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
