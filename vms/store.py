"""The media store: content-addressed, read-only originals on local disk (INV-1, INV-2).

Layout under the store root (docs/design/storage.md):

- ``objects/ab/cd/<sha256>``: stored originals, mode 0444, named by their SHA-256.
- ``tmp/``: files being ingested (``*.part``), each locked by its writer with ``flock``.
- ``locks/<xx>.lock``: 256 lock files by the first byte of a SHA-256; an ingest holds the
  lock of its hash from rename until its catalog row commits, and the orphan check takes
  the same lock, so a file between rename and commit is never mistaken for an orphan.
- ``orphans/``: files found with no catalog row are moved here, never deleted.
- ``quarantine/<group>/``: files the VMS could not read, set aside for a person to look
  at (e.g. the recorder's crash leftovers it could not salvage); never deleted, listed by
  ``vms catalog check``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

from vms.errors import InsufficientStorage
from vms.faults import crash_point
from vms.file_modes import OBJECT_MODE, PRIVATE_DIR_MODE


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None  # not Linux
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], function)


SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing these bytes of ``fd`` to disk, without waiting.

    Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` (what PostgreSQL uses to spread its
    checkpoint writes; the standard library has no wrapper). It is no durability
    promise, only a hint that keeps the disk busy while a large file is still being
    written, so that the fsync that follows has little left to do. Errors of the
    writeback itself are reported by that fsync. Elsewhere it does nothing.
    """
    function = _sync_file_range()
    if function is not None and function(fd, offset, length, SYNC_FILE_RANGE_WRITE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.locks = root / "locks"
        self.orphans = root / "orphans"
        self.quarantined = root / "quarantine"

    def create_dirs(self) -> None:
        for path in (self.root, self.objects, self.tmp, self.locks, self.orphans):
            path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)

    def relative_path(self, sha256: str) -> str:
        return f"objects/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def path_for(self, sha256: str) -> Path:
        return self.root / self.relative_path(sha256)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def require_free(self, needed: int, reserve: int) -> None:
        """Refuse early when ``needed`` bytes would eat into the ``reserve``."""
        free = self.free_bytes()
        if free - needed < reserve:
            raise InsufficientStorage(
                f"media store {self.root} has {free} bytes free; storing {needed} bytes "
                f"would leave less than the {reserve}-byte reserve",
                free_bytes=free,
                needed_bytes=needed,
            )

    @contextlib.contextmanager
    def hash_lock(self, sha256: str) -> Iterator[None]:
        """Exclusive lock on everything with this hash prefix (blocks)."""
        self.locks.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        fd = os.open(self.locks / f"{sha256[:2]}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def try_hash_lock(self, sha256: str) -> Iterator[bool]:
        """Like :meth:`hash_lock` without waiting: yields False if another holds it."""
        self.locks.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        fd = os.open(self.locks / f"{sha256[:2]}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def place(self, tmp_path: Path, sha256: str) -> bool:
        """Make ``tmp_path`` the stored original for ``sha256`` (INV-1 steps 4-6).

        fsync the file, make it read-only, rename it to its content-addressed name, fsync
        the directory. Returns False (and removes ``tmp_path``) when an identical original
        is already stored. The caller holds :meth:`hash_lock`.
        """
        final = self.path_for(sha256)
        if final.exists():
            tmp_path.unlink()
            return False
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp_path, OBJECT_MODE)  # INV-2: originals never change
        crash_point("ingest.after-fsync")
        parent = final.parent
        if not parent.is_dir():
            parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
            fsync_dir(parent.parent)
            fsync_dir(parent.parent.parent)
        os.rename(tmp_path, final)
        fsync_dir(parent)
        return True

    def quarantine(self, path: Path) -> Path:
        """Move an orphaned original out of ``objects/`` (nothing is deleted)."""
        self.orphans.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        target = self.orphans / path.name
        os.rename(path, target)
        fsync_dir(self.orphans)
        fsync_dir(path.parent)
        return target

    def set_aside(self, path: Path, group: str) -> Path:
        """Move an unreadable file to ``quarantine/<group>/`` (renamed when the name is
        taken; copied then removed when it lives on another file system). Nothing is
        deleted: the bytes end in quarantine before the source name goes away."""
        folder = self.quarantined / group
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        n = 1
        while target.exists():
            target = folder / f"{path.stem}.{n}{path.suffix}"
            n += 1
        try:
            os.rename(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.copyfile(path, target)
            with open(target, "rb") as f:
                os.fsync(f.fileno())
            fsync_dir(folder)
            path.unlink()
        fsync_dir(folder)
        fsync_dir(path.parent)
        return target

    def iter_quarantined(self) -> Iterator[Path]:
        if self.quarantined.is_dir():
            yield from sorted(p for p in self.quarantined.rglob("*") if p.is_file())

    def iter_objects(self) -> Iterator[Path]:
        if not self.objects.is_dir():
            return
        for first in sorted(self.objects.iterdir()):
            for second in sorted(first.iterdir()):
                yield from sorted(second.iterdir())

    def iter_temp_files(self) -> Iterator[Path]:
        if self.tmp.is_dir():
            yield from sorted(self.tmp.glob("*.part"))
