"""Camera certificate pins: SHA-256 fingerprints of a camera's TLS certificate, written
and read the one way the admin sees them (``AB:CD:...``, 32 bytes), and the errors of a
camera that presents another certificate. Pure: no I/O. Used by the ONVIF side
(``onvif_control/adapter/tls.py``) and the ``rtsps`` video side (:mod:`vms.media.rtsps`).

Why a pin and not the usual chain check: most cameras ship a self-signed certificate,
which no CA vouches for. The VMS trusts the certificate it first meets when the camera
is onboarded (trust on first use), shows its fingerprint to the admin, and from then on
speaks to the camera only if it presents that same certificate (docs/design/security.md,
"Camera certificates").
"""

from __future__ import annotations

import hashlib
import ssl
import string

from vms.errors import FailedPrecondition, InvalidArgument

DIGEST_BYTES = 32  # SHA-256
# The stored form: 32 bytes as upper-case hex pairs joined by colons.
FINGERPRINT_CHARS = DIGEST_BYTES * 3 - 1


def fingerprint_of(der: bytes) -> bytes:
    """The SHA-256 digest of a DER-encoded certificate."""
    return hashlib.sha256(der).digest()


def format_fingerprint(digest: bytes) -> str:
    """``digest`` as ``AB:CD:...`` (what the admin is shown and what is stored)."""
    if len(digest) != DIGEST_BYTES:
        raise ValueError(f"a SHA-256 fingerprint has {DIGEST_BYTES} bytes, not {len(digest)}")
    return ":".join(f"{b:02X}" for b in digest)


def parse_fingerprint(text: str) -> bytes:
    """The digest written in ``text``: 64 hex digits, upper or lower case, with or without
    ``:`` or spaces between pairs, optionally after ``sha256:`` or ``SHA256=``.
    InvalidArgument naming the value otherwise."""
    raw = text.strip()
    for prefix in ("sha256:", "sha256=", "sha-256:", "sha-256="):
        if raw.lower().startswith(prefix):
            raw = raw[len(prefix) :]
            break
    digits = raw.replace(":", "").replace(" ", "")
    if len(digits) != DIGEST_BYTES * 2 or any(c not in string.hexdigits for c in digits):
        raise InvalidArgument(
            f"tls_fingerprint {text[:120]!r} is not a SHA-256 fingerprint "
            f"({DIGEST_BYTES * 2} hex digits, e.g. AB:CD:...)",
            field="tls_fingerprint",
        )
    return bytes.fromhex(digits)


def normalise_fingerprint(text: str) -> str:
    """``text`` (any form :func:`parse_fingerprint` reads) in the stored form."""
    return format_fingerprint(parse_fingerprint(text))


def unverified_context() -> ssl.SSLContext:
    """A client context that checks no chain: what is trusted is the certificate itself,
    by its fingerprint, compared after the handshake (a self-signed camera certificate's
    chain cannot verify)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# A CA bundle of an agency is a few certificates; far past that is not one.
MAX_CA_PEM_CHARS = 64 * 1024


def ca_context(pem: str) -> ssl.SSLContext:
    """A client context that trusts only the CA certificates in ``pem`` and checks that
    the camera's certificate names the address it is reached at. InvalidArgument naming
    ``tls_ca_pem`` when ``pem`` holds no certificate that loads."""
    if len(pem) > MAX_CA_PEM_CHARS or "-----BEGIN CERTIFICATE-----" not in pem:
        raise InvalidArgument(
            f"tls_ca_pem is not a PEM CA bundle of at most {MAX_CA_PEM_CHARS} characters "
            f"(it starts {pem[:40]!r})",
            field="tls_ca_pem",
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and host name
    try:
        context.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidArgument(
            f"tls_ca_pem does not load as CA certificates: {exc}", field="tls_ca_pem"
        ) from None
    return context


class CertificateChanged(FailedPrecondition):
    """A camera presented another certificate than its pin: nothing was sent."""

    def __init__(
        self, camera: str, operation: str, expected: bytes, got: bytes, port: str | None = None
    ) -> None:
        self.expected = format_fingerprint(expected)
        self.got = format_fingerprint(got)
        # Which of the camera's pins the admin would accept it for ("rtsp"); None: its
        # ONVIF side's (the only one before the stream had a pin of its own).
        self.port = port
        accept = f"the new one for its {port} port" if port is not None else "the new one"
        super().__init__(
            f"camera {camera}: {operation}: certificate changed: expected {self.expected}, "
            f"got {self.got}; nothing was sent to it (an admin who knows the camera's "
            f"certificate was replaced can accept {accept})",
            camera=camera,
            expected=self.expected,
            got=self.got,
            **({"port": port} if port is not None else {}),
        )


class StreamMoved(CertificateChanged):
    """A camera's ``rtsps`` stream is now at another host or port than the one its pin
    was taken or accepted at: whatever certificate it presents there (``got``, the same
    one too) was never accepted there, and nothing was sent. An admin who checked the
    camera accepts it for its rtsp port (docs/design/security.md, "Camera certificates",
    9): a readdressed or swapped camera, a changed DNS answer for a new name, or an
    impostor's port look alike from here."""

    def __init__(
        self, camera: str, operation: str, pinned_at: str, now_at: str, pin: bytes, got: bytes
    ) -> None:
        self.expected = format_fingerprint(pin)
        self.got = format_fingerprint(got)
        self.port = "rtsp"
        FailedPrecondition.__init__(
            self,
            f"camera {camera}: {operation}: the stream moved from {pinned_at} to {now_at}, "
            f"whose certificate {self.got} was never accepted (the pin {self.expected} "
            f"belongs to {pinned_at}); nothing was sent to it (an admin who checked the "
            "camera's certificate can accept it for its rtsp port)",
            camera=camera,
            expected=self.expected,
            got=self.got,
            port="rtsp",
            pinned_at=pinned_at,
            now_at=now_at,
        )


class CertificateUntrusted(FailedPrecondition):
    """A camera verified by a CA bundle presented a certificate the bundle does not vouch
    for (or that names another host): nothing was sent."""

    def __init__(self, camera: str, operation: str, reason: str) -> None:
        super().__init__(
            f"camera {camera}: {operation}: certificate not trusted by the camera's CA "
            f"bundle ({reason}); nothing was sent to it",
            camera=camera,
        )


def stream_certificate_problem(camera_id: str, error: FailedPrecondition) -> str | None:
    """What an operator is shown (the ``stream_certificate`` alarm, on the camera page
    and the wall) when ``error`` refused a camera's ``rtsps`` stream for its
    certificate: what happened and, for a pin, the action that resolves it, with the
    fingerprint to give (docs/design/security.md, "Camera certificates", 10); None when
    ``error`` is no certificate refusal. At most 500 characters for any endpoint."""
    if isinstance(error, CertificateChanged):
        camera = camera_id[:40]
        if isinstance(error, StreamMoved):
            moved_from = str(error.details.get("pinned_at", ""))[:40]
            moved_to = str(error.details.get("now_at", ""))[:40]
            what = f"rtsps stream moved from {moved_from} to {moved_to}: certificate never accepted"
        else:
            what = "rtsps stream certificate changed"
        return (
            f"{what}; nothing was sent to it. An admin who checked the camera's certificate "
            f"accepts it: vms camera accept-certificate {camera} --port rtsp --tls-fingerprint "
            f"{error.got} (or POST /api/v1/cameras/{camera}/certificate)"
        )
    if isinstance(error, CertificateUntrusted):
        return f"{error.message[:380]} An admin fixes the camera's certificate or its CA bundle."
    return None
