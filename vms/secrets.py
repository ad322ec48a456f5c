"""Installation secrets kept outside the database, in ``<data_dir>/secrets`` (mode 0600).

- ``audit.key``: HMAC key of the audit chain (INV-4).
- ``session.key``: signs browser sessions and CSRF tokens.
- ``credentials.key``: encrypts camera credentials at rest.

A site can move the folder to other storage; losing ``audit.key`` makes the existing
chain unverifiable, so it belongs in the backup plan (docs/design/audit-chain.md).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_BYTES = 32


def load_or_create_key(directory: Path, name: str) -> bytes:
    """Read the key ``name`` from ``directory``, creating it atomically if absent."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES).hex().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if another process created the key first: theirs wins.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        data = path.read_bytes()
    return bytes.fromhex(data.decode().strip())
