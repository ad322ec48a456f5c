"""A backup set's manifest (docs/design/backup.md): what the set holds, each file's size
and SHA-256, the catalog snapshot's audit head and revision, and the originals it lists.

``backup.json`` is written last, through a temporary file renamed over the old one, so a
folder holds either the previous complete set or the new one: never a manifest naming a
file that is not there yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vms.errors import DataLoss, InvalidArgument

FORMAT = "vms-backup/1"
MANIFEST = "backup.json"
SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1024 * 1024
# A relative path inside the set: plain names, no "..", no absolute paths.
_SAFE_PART = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class FileEntry:
    size: int
    sha256: str


@dataclass
class Manifest:
    created_at: str  # ISO 8601 UTC, the snapshot's time
    database_kind: str  # "sqlite" | "postgresql"
    database_file: str  # relative path of the snapshot
    revision: str  # the schema revision of the snapshot (Alembic)
    audit_seq: int  # the snapshot's audit head: its last entry
    audit_hash: str
    items: int  # catalog rows in the snapshot
    objects_file: str  # relative path: one "<sha256> <size>" line per original
    objects: int
    object_bytes: int
    store_kind: str  # "local" | "s3": where the originals were read from
    # Originals the snapshot names that the store did not have (catalog check's
    # "missing"): the set is complete except for these media ids.
    missing: list[str] = field(default_factory=list)
    # Originals whose stored bytes no longer hash to their name (catalog check's
    # "corrupted"): not copied.
    corrupted: list[str] = field(default_factory=list)
    files: dict[str, FileEntry] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> bytes:
        data = asdict(self)
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the set in ``folder``; :class:`InvalidArgument` naming what is
        wrong with it."""
        path = folder / MANIFEST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise InvalidArgument(f"{folder} is not a backup set: it has no {MANIFEST}") from None
        except OSError as exc:
            raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
            files = {
                safe_relative(name): FileEntry(int(v["size"]), _sha(v["sha256"]))
                for name, v in dict(data.pop("files")).items()
            }
            manifest = cls(**data, files=files)
            _check_types(manifest)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidArgument(f"{path} is malformed: {exc}") from None
        for name in (manifest.database_file, manifest.objects_file):
            if name not in manifest.files:
                raise InvalidArgument(f"{path} is malformed: {name} is not among its files")
        return manifest

    def digest(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()


def _check_types(m: Manifest) -> None:
    for name in ("created_at", "database_kind", "database_file", "revision", "audit_hash"):
        if not isinstance(getattr(m, name), str):
            raise TypeError(f"{name} is not a string")
    for name in ("audit_seq", "items", "objects", "object_bytes"):
        value = getattr(m, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TypeError(f"{name} is not a whole number")
    if m.database_kind not in ("sqlite", "postgresql"):
        raise ValueError(f"database_kind {m.database_kind!r}")
    safe_relative(m.database_file)
    safe_relative(m.objects_file)


def _sha(value: object) -> str:
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise ValueError(f"not a SHA-256: {value!r}")
    return value


def safe_relative(name: str) -> str:
    """``name`` when it is a relative path of plain parts (a manifest edited to name
    ``../../etc/passwd`` or an absolute path is refused, not followed)."""
    parts = name.split("/")
    if not parts or any(not _SAFE_PART.fullmatch(p) or p in (".", "..") for p in parts):
        raise ValueError(f"unsafe path in the set: {name!r}")
    return name


def object_path(sha256: str) -> str:
    """Where an original sits in the set (the store's own layout)."""
    return f"media/objects/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def hash_file(path: Path) -> FileEntry:
    """Size and SHA-256 of a regular file, opened without following a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise DataLoss(f"{path} is not a regular file")
        h = hashlib.sha256()
        size = 0
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return FileEntry(size, h.hexdigest())


def read_objects(path: Path) -> Iterator[tuple[str, int]]:
    """The ``(sha256, size)`` lines of an objects file."""
    with path.open("r", encoding="ascii") as f:
        for number, line in enumerate(f, 1):
            sha, _, size = line.strip().partition(" ")
            if not SHA256.fullmatch(sha) or not size.isdigit():
                raise InvalidArgument(f"{path}: line {number} is not '<sha256> <size>'")
            yield sha, int(size)
