"""The export signing key: Ed25519, kept outside the database with the other
installation secrets (``<data_dir>/secrets/export-signing.pem``, mode 0600; see
:mod:`vms.secrets` and docs/design/exports.md, "The key").

The public key and its fingerprint (SHA-256 of the raw 32-byte key, hex) go into every
package; recipients compare the fingerprint with the one the agency publishes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "export-signing.pem"


@dataclass(frozen=True)
class PublicKey:
    """What the agency publishes: the export public key and its fingerprint."""

    algorithm: str
    pem: str
    fingerprint: str


@dataclass(frozen=True)
class ExportSigner:
    """Signs manifests with the installation's export key."""

    key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self.key.sign(data)

    def public_key_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public(self) -> PublicKey:
        return PublicKey("Ed25519", self.public_key_pem().decode(), self.fingerprint)

    @property
    def fingerprint(self) -> str:
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return hashlib.sha256(raw).hexdigest()


def load_or_create_signer(directory: Path) -> ExportSigner:
    """The key in ``directory/export-signing.pem``, created (mode 0600, atomically: the
    first writer wins, as :func:`vms.secrets.load_or_create_key`) if absent."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = directory / f".{KEY_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return ExportSigner(key)
