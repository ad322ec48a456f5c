"""Installation secrets kept outside the database, in ``<data_dir>/secrets`` (mode 0600).

- ``audit.key``: HMAC key of the audit chain (INV-4).
- ``session.key``: signs browser sessions and CSRF tokens.
- ``credentials.key``: encrypts camera credentials at rest.
- ``audit-signing.pem``: Ed25519 key of the audit chain's signed checkpoints.
- ``export-signing.pem``: Ed25519 key of export manifests.

A site can move the folder to other storage; losing ``audit.key`` makes the existing
chain unverifiable, so it belongs in the backup plan (docs/design/audit-chain.md).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vms.errors import DataLoss

KEY_BYTES = 32


def _read_or_create(directory: Path, name: str, make: Callable[[], bytes]) -> bytes:
    """The bytes of secret file ``name`` in ``directory``, made with ``make()`` and
    written atomically (mode 0600, fsynced) if absent: when two processes race, the
    first link wins and both read the same bytes."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    # A temporary file of this caller's own (mkstemp: a random name, O_EXCL, 0600): named
    # by pid, callers at once (request threads, containers sharing the folder with the
    # same pid) truncated and unlinked each other's, failing or linking half a key.
    fd, name_tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    tmp = Path(name_tmp)
    try:
        try:
            data = make()
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        # link() fails if another caller created the key first: theirs wins.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
    return path.read_bytes()


def load_or_create_key(directory: Path, name: str) -> bytes:
    """Read the key ``name`` from ``directory``, creating it atomically if absent."""
    data = _read_or_create(directory, name, lambda: secrets.token_bytes(KEY_BYTES).hex().encode())
    # Never a shorter key than made here: an empty file taken as the key b"" left the
    # audit chain under an HMAC key anyone can recompute (INV-4). Kept as it is, since
    # the real key may be in a backup.
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise DataLoss(
            f"{directory / name} does not hold a key ({KEY_BYTES * 2} hexadecimal digits): "
            "restore it from the backup; removing it makes a new key"
        )
    return key


def load_or_create_signing_key(directory: Path, name: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``directory/name`` (PKCS#8 PEM), created atomically
    if absent: the audit checkpoint key and the export key."""

    def new_key() -> bytes:
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    try:
        key = serialization.load_pem_private_key(
            _read_or_create(directory, name, new_key), password=None
        )
    except (ValueError, TypeError) as exc:  # empty, damaged, or a passphrase-protected key
        raise DataLoss(
            f"{directory / name} is not a readable PEM private key ({exc}): restore it "
            "from the backup"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DataLoss(f"{directory / name} does not hold an Ed25519 private key")
    return key
