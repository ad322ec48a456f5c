"""Room on disk for user uploads: declared bytes are reserved, a per-user quota caps what
one user's open uploads may hold, and uploads keep a larger free-space reserve than the
recorder, so an uploader can never fill the disk that recording needs (#10.9).

Two thresholds (docs/configuration.md):

- ``[ingest] min_free_bytes``: the recorder's and every ingest's reserve. A segment or an
  ingested file that would leave less free space is refused (recording records a
  ``disk_full`` gap).
- ``[ingest] upload_user_open_bytes`` and ``upload_user_open_uploads``: what one user's
  open uploads may declare in all, and how many they may be.
- ``[ingest] upload_min_free_bytes`` (never less than the former): user uploads must leave
  this much free *after* every open upload has received the bytes it declared. It is
  checked when an upload is created (its declared size plus the undelivered bytes of all
  open uploads) and again before every chunk is written (the chunk plus the undelivered
  bytes of the other open uploads: space used meanwhile by recording counts too).

Uploads therefore stop with a 507 while recording still has the difference between the
two reserves, and abandoned uploads give their reservation back when the upload-expiry
job (``[ingest] upload_stale_hours``) removes them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from vms.db.engine import Database
from vms.db.models import Upload
from vms.errors import InsufficientStorage, RateLimited
from vms.store import MediaStore

# The state of an upload still receiving bytes: its undelivered bytes are reserved.
RECEIVING = "receiving"


@dataclass(frozen=True)
class Promised:
    """Bytes open uploads declared but have not delivered yet."""

    bytes: int
    uploads: int


class UploadSpace:
    def __init__(
        self,
        db: Database,
        directory: Path,
        store: MediaStore,
        *,
        reserve_bytes: int,
        recorder_reserve_bytes: int,
        user_open_bytes: int,
        user_open_uploads: int = 0,
    ) -> None:
        self.db = db
        self.directory = directory
        self.store = store
        # Uploads are refused before recording is: never a smaller reserve than its.
        self.reserve_bytes = max(reserve_bytes, recorder_reserve_bytes)
        self.user_open_bytes = user_open_bytes
        self.user_open_uploads = user_open_uploads

    def free_bytes(self) -> int:
        """Free bytes where uploads land and where completed ones are stored (the
        smaller, when the upload folder and the media store are on different disks)."""
        free = self.store.free_bytes()
        if self.directory.is_dir():
            free = min(free, shutil.disk_usage(self.directory).free)
        return free

    @contextlib.contextmanager
    def reserving(self) -> Iterator[None]:
        """Serialise admission (the check and the insert of a new upload) across the
        processes that share the upload folder, so two creates cannot both take the
        last room."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".reserve.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def promised(self, *, excluding: str | None = None) -> Promised:
        """Undelivered declared bytes of open uploads (all, or all but ``excluding``)."""
        stmt = select(
            func.coalesce(func.sum(Upload.size - Upload.received), 0), func.count()
        ).where(Upload.state == RECEIVING)
        if excluding is not None:
            stmt = stmt.where(Upload.id != excluding)
        with self.db.session() as s:
            total, count = s.execute(stmt).one()
        return Promised(int(total), int(count))

    def _open_bytes(self, user_id: int) -> Promised:
        """Declared bytes (delivered or not) of ``user_id``'s open uploads."""
        with self.db.session() as s:
            total, count = s.execute(
                select(func.coalesce(func.sum(Upload.size), 0), func.count()).where(
                    Upload.state == RECEIVING, Upload.user_id == user_id
                )
            ).one()
        return Promised(int(total), int(count))

    def admit(self, user_id: int, username: str, size: int) -> None:
        """Refuse (507) a new upload of ``size`` bytes over ``username``'s quota or
        without room for it beside what open uploads were promised. Call it inside
        :meth:`reserving`, with the insert of the upload. RateLimited (429) when the
        user has ``user_open_uploads`` open uploads already, whatever their sizes: each
        is a row, a file and an audit entry, and every admission (anyone's upload, each
        chunk) sums the promised bytes of all open uploads."""
        if self.user_open_bytes > 0 or self.user_open_uploads > 0:
            held = self._open_bytes(user_id)
            if 0 < self.user_open_uploads <= held.uploads:
                raise RateLimited(
                    f"{username} has {held.uploads} open uploads, the most one user may "
                    f"have at once ([ingest] upload_user_open_uploads = "
                    f"{self.user_open_uploads}); finish those first (unfinished ones are "
                    "removed after [ingest] upload_stale_hours)",
                    open_uploads=held.uploads,
                    limit=self.user_open_uploads,
                )
            if 0 < self.user_open_bytes < held.bytes + size:
                raise InsufficientStorage(
                    f"{username}'s open uploads would hold {held.bytes + size} bytes, over "
                    f"the per-user limit of {self.user_open_bytes} bytes "
                    f"([ingest] upload_user_open_bytes): {held.bytes} bytes in "
                    f"{held.uploads} open uploads plus {size} declared; finish or abandon "
                    "those first",
                    open_bytes=held.bytes,
                    size_bytes=size,
                    limit_bytes=self.user_open_bytes,
                )
        free = self.free_bytes()
        promised = self.promised()
        if free - promised.bytes - size < self.reserve_bytes:
            raise InsufficientStorage(
                f"no room for an upload of {size} bytes: {free} bytes are free, "
                f"{promised.bytes} of them promised to {promised.uploads} open uploads, and "
                f"uploads must leave {self.reserve_bytes} bytes free "
                "([ingest] upload_min_free_bytes, kept for recording)",
                free_bytes=free,
                promised_bytes=promised.bytes,
                size_bytes=size,
                reserve_bytes=self.reserve_bytes,
            )

    def admit_chunk(self, upload_id: str, offset: int, length: int) -> None:
        """Refuse (507, with the offset to resume from) a chunk of ``length`` bytes that
        would eat into the other open uploads' promised bytes or the upload reserve."""
        free = self.free_bytes()
        others = self.promised(excluding=upload_id)
        if free - others.bytes - length < self.reserve_bytes:
            raise InsufficientStorage(
                f"no room for a chunk of {length} bytes: {free} bytes are free, "
                f"{others.bytes} of them promised to {others.uploads} other open uploads, "
                f"and uploads must leave {self.reserve_bytes} bytes free "
                f"([ingest] upload_min_free_bytes, kept for recording); resume from offset "
                f"{offset} when there is room",
                offset=offset,
                free_bytes=free,
                promised_bytes=others.bytes,
                size_bytes=length,
                reserve_bytes=self.reserve_bytes,
            )
