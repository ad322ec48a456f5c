"""The export signing key: Ed25519, kept outside the database with the other
installation secrets (``<data_dir>/secrets/export-signing.pem``, mode 0600; see
:mod:`vms.secrets` and docs/design/exports.md, "The key").

The public key and its fingerprint (SHA-256 of the raw 32-byte key, hex) go into every
package; recipients compare the fingerprint with the one the agency publishes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vms.errors import DataLoss
from vms.secrets import load_or_create_signing_key

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
    first writer wins) if absent."""
    return ExportSigner(load_or_create_signing_key(directory, KEY_FILE))


def installed_fingerprint(directory: Path) -> str | None:
    """The fingerprint of the export key in ``directory``, or None when there is none yet
    (read only: unlike :func:`load_or_create_signer`, no key is made)."""
    try:
        pem = (directory / KEY_FILE).read_bytes()
    except FileNotFoundError:
        return None
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise DataLoss(f"{directory / KEY_FILE} does not hold an Ed25519 private key")
    return ExportSigner(key).fingerprint
