"""The media store: content-addressed, read-only originals on local disk (INV-1, INV-2).

Layout under the store root (docs/design/storage.md):

- ``objects/ab/cd/<sha256>``: stored originals, mode 0400, named by their SHA-256.
- ``tmp/``: files being ingested (``*.part``), each locked by its writer with ``flock``;
  with the S3 backend also the short-lived local copies of originals that a reader must
  seek in (``*.copy.part``, locked the same way; :meth:`MediaStore.local_copy`).
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
import datetime as dt
import errno
import fcntl
import functools
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from vms.errors import Conflict, DataLoss, InsufficientStorage, InvalidArgument, NotFound
from vms.faults import crash_point
from vms.file_modes import OBJECT_MODE, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE

if TYPE_CHECKING:
    from vms.config import Config
    from vms.s3 import S3Bucket

SECRET_KEY_FILE = "s3-secret-key"  # noqa: S105 (a file name, not a secret)

# Unfinished multipart uploads older than this are a dead writer's (recovery aborts them).
STALE_UPLOAD = dt.timedelta(minutes=15)
# An S3 object younger than this with no catalog row may be an ingest of another process
# between its upload and its commit (the hash lock is per machine): not judged an orphan.
ORPHAN_GRACE = STALE_UPLOAD


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def require_room(folders: Sequence[Path], needed: int, reserve: int, what: str) -> None:
    """InsufficientStorage when writing ``needed`` more bytes into ``folders`` would leave
    less than ``reserve`` free on the fullest of their file systems (folders not made
    yet are skipped). The jobs that do a person's work (exports, redactions) leave
    ``[ingest] upload_min_free_bytes`` free, as uploads do, so they never take the
    recorder's room (docs/design/storage.md, "Room for uploads")."""
    sizes = [shutil.disk_usage(folder).free for folder in folders if folder.is_dir()]
    free = min(sizes) if sizes else 0
    if free - needed < reserve:
        raise InsufficientStorage(
            f"{what}: {free} bytes are free"
            + (f" and it needs about {needed}" if needed else "")
            + f"; {reserve} bytes are kept free for recording ([ingest] "
            "upload_min_free_bytes): free space and try again",
            free_bytes=free,
            needed_bytes=needed,
        )


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


def open_bucket(config: Config) -> S3Bucket | None:
    """The configured S3 bucket (``[store] backend = "s3"``), or None for local disk.

    The secret key comes from ``[store] secret_access_key`` or, when empty, from
    ``<data_dir>/secrets/s3-secret-key``; it is handed to the client and never logged.
    """
    if config.store.backend != "s3":
        return None
    from vms.s3 import S3Bucket, S3Settings  # boto3 is loaded only when configured

    secret = config.store.secret_access_key
    if not secret:
        with contextlib.suppress(FileNotFoundError):
            secret = (config.secrets_dir / SECRET_KEY_FILE).read_text(encoding="utf-8").strip()
    if config.store.access_key_id and not secret:
        raise InvalidArgument(
            f"[store] access_key_id {config.store.access_key_id!r} has no secret: set "
            f"[store] secret_access_key or write it to {config.secrets_dir / SECRET_KEY_FILE}"
        )
    return S3Bucket(
        S3Settings(
            endpoint=config.store.endpoint,
            bucket=config.store.bucket,
            region=config.store.region,
            access_key_id=config.store.access_key_id,
            secret_access_key=secret,
            prefix=config.store.prefix,
            max_connections=config.store.max_connections,
            part_bytes=config.store.part_bytes,
            segment_timeout_seconds=config.store.segment_timeout_seconds,
            segment_attempts=config.store.segment_attempts,
        )
    )


@dataclass(frozen=True)
class StoredOriginal:
    """A stored original as a listing names it (:meth:`MediaStore.iter_listed`)."""

    sha256: str
    size: int
    settled: bool  # stored before the listing's settled_before (ORPHAN_GRACE)
    # Its key is the one its name is stored under (an object put there by hand may not
    # be, and then falls outside the name order of the listing).
    canonical: bool = True


class MediaStore:
    """Stored originals, on local disk or (``remote`` given) in an S3 bucket.

    With a bucket the local root still holds the temp files of ingests in progress, the
    hash locks and the quarantine; originals live at ``objects/ab/cd/<sha256>`` in the
    bucket (docs/design/storage.md, "S3 backend").
    """

    def __init__(self, root: Path, remote: S3Bucket | None = None) -> None:
        self.root = root
        self.remote = remote
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.locks = root / "locks"
        self.orphans = root / "orphans"
        self.quarantined = root / "quarantine"

    def create_dirs(self) -> None:
        for path in (self.root, self.objects, self.tmp, self.locks, self.orphans):
            path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)

    def close(self) -> None:
        """Close the bucket's connections (a local store holds none open)."""
        if self.remote is not None:
            self.remote.close()

    @property
    def upload_part_bytes(self) -> int | None:
        """The object store's multipart part size (None on local disk): the ingest hashes
        each part of a larger file while it hashes the file (INV-1 step 2)."""
        return None if self.remote is None else self.remote.settings.part_bytes

    def bounded_writes(self) -> contextlib.AbstractContextManager[None]:
        """Uploads to the object store by this thread meanwhile give up within ``[store]
        segment_timeout_seconds`` x ``segment_attempts`` (:meth:`S3Bucket.bounded`; a
        recorder segment's ingest). Nothing on local disk."""
        return self.remote.bounded() if self.remote is not None else contextlib.nullcontext()

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

    def place(self, tmp_path: Path, sha256: str, *, parts: Sequence[bytes] | None = None) -> bool:
        """Make ``tmp_path`` the stored original for ``sha256`` (INV-1 steps 4-6).

        fsync the file, make it read-only, rename it to its content-addressed name, fsync
        the directory. Returns False (and removes ``tmp_path``) when an identical original
        is already stored. The caller holds :meth:`hash_lock`. ``parts``: the SHA-256 of
        each :attr:`upload_part_bytes` slice, computed with ``sha256`` (S3 only).
        """
        if self.remote is not None:
            return self._place_remote(tmp_path, sha256, parts)
        final = self.path_for(sha256)
        if final.exists():
            tmp_path.unlink()
            return False
        try:
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
        except OSError as exc:
            # A file system may say it is full only when the bytes are flushed (delayed
            # allocation, quotas): the caller removes the temp file (INV-1).
            raise self._full(exc, sha256) or exc from None
        os.rename(tmp_path, final)
        try:
            fsync_dir(parent)
        except OSError as exc:
            # Not durably placed, and no row will refer to it: the caller sees the
            # failure before its step 7, so the original goes now (INV-1), not to the
            # orphan check.
            with contextlib.suppress(OSError):
                final.unlink()
            raise self._full(exc, sha256) or exc from None
        return True

    def _full(self, exc: OSError, sha256: str) -> InsufficientStorage | None:
        """The store's out-of-space answer (as a full disk met while writing the temp
        file is, vms/ingest.py) for ``exc`` met while placing ``sha256``, None for any
        other error."""
        if not is_disk_full(exc):
            return None
        return InsufficientStorage(
            f"media store {self.root} is full: flushing {sha256} to disk failed "
            f"({exc.strerror or exc}); nothing was stored"
        )

    def _place_remote(
        self, tmp_path: Path, sha256: str, parts: Sequence[bytes] | None = None
    ) -> bool:
        """INV-1 step 6 on S3: upload, the server verifying the SHA-256 of the body (one
        PUT: ``sha256`` itself, the object's name) or of every part (multipart: ``parts``,
        hashed from the same bytes as ``sha256``), never replacing an object (INV-2);
        then the server's size must be ours. The upload becomes visible only when
        complete, so the object appearing is the rename of the local procedure."""
        assert self.remote is not None
        before = tmp_path.stat()
        part = self.remote.settings.part_bytes
        if parts is not None and before.st_size > part and len(parts) != -(-before.st_size // part):
            raise Conflict(f"{sha256}: the file changed since it was hashed; try again")
        crash_point("ingest.after-fsync")
        name = self.relative_path(sha256)
        try:
            stored = self.remote.put_file(name, tmp_path, before.st_size, sha256, parts)
        except FileExistsError:
            tmp_path.unlink()
            return False
        except DataLoss:
            # The checksums were computed when the file was hashed: bytes refused now are
            # a file written again since (a device still writing), or a damaged transfer.
            if _changed(tmp_path, before):
                raise Conflict(
                    f"{sha256}: the file changed while it was being uploaded; try again "
                    "once it is complete"
                ) from None
            raise
        if _changed(tmp_path, before):
            # A linked file at rest written again during the upload (a device still
            # writing): what was hashed is not what was sent.
            self.remote.delete(name)
            raise Conflict(
                f"{sha256}: the file changed while it was being uploaded; try again once "
                "it is complete"
            )
        if stored.size != before.st_size:
            self.remote.delete(name)
            raise DataLoss(
                f"object store kept {stored.size} bytes of {sha256} instead of "
                f"{before.st_size}: removed"
            )
        tmp_path.unlink()
        return True

    # -- reading and removing originals, on either backend --------------------------------

    def stored_size(self, sha256: str) -> int | None:
        """The stored original's size, None when it is missing."""
        if self.remote is not None:
            try:
                return self.remote.head(self.relative_path(sha256)).size
            except NotFound:
                return None
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def exists(self, sha256: str) -> bool:
        return self.stored_size(sha256) is not None

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start..end`` (inclusive) of an original, streamed in chunks. On S3 the
        object is asked for by this call (its errors raise here, before a response
        starts: :meth:`vms.s3.S3Bucket.read`)."""
        if self.remote is not None:
            return self.remote.read(self.relative_path(sha256), start, end)
        return self._read_local(sha256, start, end)

    def _read_local(self, sha256: str, start: int, end: int | None) -> Iterator[bytes]:
        with self.path_for(sha256).open("rb") as f:
            f.seek(start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                chunk = f.read(1024 * 1024 if left is None else min(left, 1024 * 1024))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def servable(self, sha256: str, missing: str) -> Path | None:
        """Where to serve a stored original from: its path on local disk, or None when it
        lies in the object store (stream it with :meth:`read`, ranges included).
        NotFound(``missing``) when it is not stored."""
        if self.remote is None:
            path = self.path_for(sha256)
            if path.is_file():
                return path
        elif self.exists(sha256):
            return None
        raise NotFound(missing)

    @contextlib.contextmanager
    def local_copy(self, sha256: str) -> Iterator[Path]:
        """A local file of a stored original, for readers that seek or hand a path to a
        decoder (HLS playback, exports, redaction). Local disk: the original itself. S3:
        a copy fetched into ``tmp/`` and checked against its name (the SHA-256: a wrong
        byte is ``DataLoss``, never served), removed when the block ends; a reader that
        opened it inside the block keeps reading after (POSIX). The copy is locked like an
        ingest's temp file, so a crash leaves nothing that start-up recovery does not
        remove, and no copy outlives its use: a purged original cannot linger on a node
        (RET-1). NotFound when the original is missing."""
        if self.remote is None:
            path = self.path_for(sha256)
            if not path.is_file():
                raise NotFound(f"the original {sha256} is missing from the store")
            yield path
            return
        self.tmp.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        path = self.tmp / f"{sha256}.{os.urandom(6).hex()}.copy.part"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            digest = hashlib.sha256()
            with os.fdopen(os.dup(fd), "wb") as out:
                for chunk in self.remote.read(self.relative_path(sha256)):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise DataLoss(
                    f"the stored original {sha256} reads back as {digest.hexdigest()}: "
                    "not used (run vms catalog check --level hash)"
                )
            yield path
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)

    def hash_of(self, sha256: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.read(sha256):
            digest.update(chunk)
        return digest.hexdigest()

    def remove(self, sha256: str) -> None:
        """Remove a stored original (the purge, after its intent row; a failed ingest).
        On S3 a legal hold left on it makes this fail (PermissionDenied): release first."""
        if self.remote is not None:
            self.remote.delete(self.relative_path(sha256))
        else:
            self.path_for(sha256).unlink(missing_ok=True)

    def hold(self, sha256: str) -> bool:
        """Put the stored original under the object store's legal hold (S3 with Object
        Lock); False when the backend has none (local disk, or a bucket without it)."""
        if self.remote is None:
            return False
        return self.remote.set_legal_hold(self.relative_path(sha256), True) > 0

    def release_hold(self, sha256: str) -> None:
        if self.remote is not None:
            self.remote.set_legal_hold(self.relative_path(sha256), False)

    def is_held(self, sha256: str) -> bool:
        return self.remote is not None and self.remote.legal_hold(self.relative_path(sha256))

    def iter_stored(self, settled_before: dt.datetime | None = None) -> Iterator[str]:
        """The SHA-256 names of every stored original. With ``settled_before``, only
        those settled by then (:meth:`iter_stored_settled`)."""
        for sha256, settled in self.iter_stored_settled(settled_before):
            if settled:
                yield sha256

    def iter_stored_settled(
        self, settled_before: dt.datetime | None = None
    ) -> Iterator[tuple[str, bool]]:
        """Every stored original's SHA-256 name, and whether it was stored before
        ``settled_before`` (always, when None). On S3 a younger object may belong to an
        ingest of another node between upload and commit, which no local lock shows; on
        local disk the hash lock does, so every file counts as settled."""
        if self.remote is not None:
            for obj in self.remote.list_objects("objects/"):
                settled = (
                    settled_before is None or obj.modified is None or obj.modified < settled_before
                )
                yield obj.key.rsplit("/", 1)[-1], settled
            return
        for path in self.iter_objects():
            yield path.name, True

    def iter_listed(self, settled_before: dt.datetime | None = None) -> Iterator[StoredOriginal]:
        """S3: every stored original with its size, in the order of their names (the
        bucket's key order), a thousand a request: what the catalog check compares with
        the catalog walked in the same order, instead of a HEAD request per row."""
        assert self.remote is not None, "the listing with sizes is the object store's"
        for obj in self.remote.list_objects("objects/"):
            name = obj.key.rsplit("/", 1)[-1]
            yield StoredOriginal(
                name,
                obj.size,
                settled_before is None or obj.modified is None or obj.modified < settled_before,
                obj.key == self.remote.key(self.relative_path(name)),
            )

    def where(self, sha256: str) -> str:
        """How a report names a stored original."""
        if self.remote is not None:
            return f"s3://{self.remote.bucket}/{self.remote.key(self.relative_path(sha256))}"
        return self.relative_path(sha256)

    def set_aside_original(self, sha256: str) -> str:
        """Move an orphaned original out of ``objects/`` (nothing is deleted)."""
        if self.remote is not None:
            name = f"orphans/{sha256}"
            self.remote.copy(self.relative_path(sha256), name)
            self.remote.delete(self.relative_path(sha256))
            return self.remote.key(name)
        return str(self.quarantine(self.path_for(sha256)))

    def stale_uploads(self, now: dt.datetime) -> list[str]:
        """Unfinished multipart uploads of originals older than STALE_UPLOAD (S3 only)."""
        if self.remote is None:
            return []
        return [
            f"{u.key} (upload {u.upload_id})"
            for u in self.remote.uploads("objects/")
            if now - u.initiated > STALE_UPLOAD
        ]

    def abort_stale_uploads(
        self,
        now: dt.datetime,
        idle: Callable[[str], contextlib.AbstractContextManager[bool]] | None = None,
    ) -> list[str]:
        """Abort the uploads :meth:`stale_uploads` lists (a dead writer's); returns them
        as it names them. With ``idle``, only those for whose SHA-256 it yields True
        (held through the abort): an upload that long may be a live writer's on
        another host, which holds the hash prefix's lock while it sends."""
        if self.remote is None:
            return []
        aborted = []
        for u in self.remote.uploads("objects/"):
            if now - u.initiated <= STALE_UPLOAD:
                continue
            with idle(u.key.rsplit("/", 1)[-1]) if idle else contextlib.nullcontext(True) as ok:
                if ok:
                    self.remote.abort(u)
                    aborted.append(f"{u.key} (upload {u.upload_id})")
        return aborted

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


def _changed(path: Path, before: os.stat_result) -> bool:
    after = path.stat()
    return (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
