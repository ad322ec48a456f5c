"""TLS peers for the certificate-pinning tests: self-signed certificates made here with
``cryptography``, server contexts for the simulator, and an impostor that presents
another certificate on the same address and records every byte a client sends it."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from onvif_control.simulator import SimulatedCamera
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER


@dataclass(frozen=True)
class SelfSigned:
    """A self-signed certificate and key, as a camera ships them."""

    cert_pem: bytes
    key_pem: bytes
    der: bytes

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, as ``AB:CD:...`` (what the admin is shown)."""
        return ":".join(f"{b:02X}" for b in hashlib.sha256(self.der).digest())

    def server_context(self, folder: Path) -> ssl.SSLContext:
        name = hashlib.sha256(self.der).hexdigest()[:12]
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx


def self_signed(common_name: str) -> SelfSigned:
    return _issue(common_name, None)


def ca_and_leaf(common_name: str) -> tuple[SelfSigned, SelfSigned]:
    """An agency CA and a camera certificate (for 127.0.0.1) it issued."""
    ca = _issue(f"{common_name} CA", None, ca=True)
    return ca, _issue(common_name, ca)


def _issue(common_name: str, issuer: SelfSigned | None, *, ca: bool = False) -> SelfSigned:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    signing_key: Any = key
    issuer_name = name
    if issuer is not None:
        issuer_name = x509.load_pem_x509_certificate(issuer.cert_pem).subject
        signing_key = serialization.load_pem_private_key(issuer.key_pem, None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(signing_key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SelfSigned(
        cert.public_bytes(serialization.Encoding.PEM),
        key_pem,
        cert.public_bytes(serialization.Encoding.DER),
    )


def tls_camera(cert: SelfSigned, folder: Path, port: int = 0) -> SimulatedCamera:
    """The simulator serving ONVIF over TLS with ``cert`` on ``port`` (0: ephemeral),
    started; the caller stops it."""
    cam = SimulatedCamera(
        "tls-sim",
        size=(160, 96),
        fps=5,
        username=SIM_USER,
        password=SIM_PASSWORD,
        onvif_port=port,
        tls=cert.server_context(folder),
    )
    cam.start()
    return cam


def port_of(url: str) -> int:
    """The port of ``https://host:port/...``."""
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


class Impostor:
    """A TLS server on ``127.0.0.1:port`` with its own certificate: it completes every
    handshake, records what each client then sends (decrypted) and answers anything with
    a 500. :attr:`received` is everything any client sent after its handshake."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.2)
        self._context = context
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._received = bytearray()
        self.handshakes = 0
        self._thread = threading.Thread(target=self._serve, name="tls-impostor", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(raw,), daemon=True).start()

    def _one(self, raw: socket.socket) -> None:
        raw.settimeout(3)
        try:
            with self._context.wrap_socket(raw, server_side=True) as conn:
                with self._lock:
                    self.handshakes += 1
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    with self._lock:
                        self._received += data
                    if b"\r\n\r\n" in data:
                        conn.sendall(
                            b"HTTP/1.1 500 Internal Server Error\r\n"
                            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        return
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)
