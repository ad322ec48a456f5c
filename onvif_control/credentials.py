"""Camera passwords encrypted at rest (issue 4): AES-256-GCM with a key kept outside the
database, in ``<data_dir>/secrets/credentials.key`` (see ``vms/secrets.py``).

The camera id is the associated data, so a ciphertext copied onto another camera's row
does not decrypt. Stored form: ``v1:`` + base64(nonce || ciphertext+tag).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vms.errors import DataLoss

PREFIX = "v1:"
NONCE_BYTES = 12


class CredentialBox:
    """Encrypts and decrypts camera passwords with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"credentials key must be 32 bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def encrypt(self, camera_id: str, password: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, password.encode("utf-8"), camera_id.encode("utf-8"))
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, camera_id: str, stored: str) -> str:
        if not stored.startswith(PREFIX):
            raise DataLoss(f"camera {camera_id}: stored password has an unknown format")
        try:
            raw = base64.b64decode(stored[len(PREFIX) :], validate=True)
            plain = self._aead.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], camera_id.encode("utf-8")
            )
        except (InvalidTag, binascii.Error, ValueError):
            raise DataLoss(
                f"camera {camera_id}: the stored password does not decrypt with "
                "secrets/credentials.key (wrong key or tampered row)"
            ) from None
        return plain.decode("utf-8")
