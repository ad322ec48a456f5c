"""The single ingest path (INV-1): every file enters the catalog through :meth:`Ingestor.ingest`.

Recorder segments, BWC/dash uploads, CLI imports and dock-folder imports all call it.
The procedure, numbered as in docs/design/storage.md:

1. refuse early when the store lacks room for the file plus the reserve;
2. stream the bytes to ``tmp/<id>.part`` while hashing (SHA-256), holding an flock on it;
3. check the expected size/hash when the caller knows them (uploads);
4. probe the media (PyAV) or recognise a document; refuse anything else;
5. take the hash lock; if the device already has these bytes: report a duplicate;
6. fsync the file, make it read-only, rename it to ``objects/..../<sha256>``, fsync the dir;
7. in one transaction insert the catalog row, its categories, its first custody event and
   the audit entry; then release the hash lock.

A crash before 6 leaves only a ``.part`` file (removed by the startup check); a crash
between 6 and 7 leaves an original with no row, which the startup check moves to
``orphans/``; an error in 7 removes the original it placed. Either way: nothing, or a
complete item.

What a person brings in (``origin=Origin.USER``: uploads, dock and CLI imports) is
checked before any byte is stored: its device claim (:func:`vms.devices.resolve_claim`,
issue #10.1) and its recorded time (:class:`vms.recorded_time.RecordedWindow`, #10.2).

The request, its field checks and the result are :mod:`vms.ingest_request` (imported
from here as before).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vms import ids
from vms.audit.log import AuditLog, Who
from vms.auth.users import ensure_officer
from vms.categories import CategoryList
from vms.clock import Clock, ensure_utc
from vms.db.engine import Database, insert_missing
from vms.db.models import (
    CAPTURE_SOURCES,
    CustodyEvent,
    Device,
    MediaCategory,
    MediaItem,
    MediaMarker,
    SourceKind,
)
from vms.devices import Claim, resolve_claim
from vms.errors import (
    FailedPrecondition,
    InsufficientStorage,
    InvalidArgument,
    PermissionDenied,
)
from vms.events import EventBus
from vms.faults import crash_point
from vms.ingest_copy import Background, PipelinedHash, require_unchanged
from vms.ingest_request import MAX_TEXT as MAX_TEXT
from vms.ingest_request import CatalogueHook as CatalogueHook
from vms.ingest_request import IngestRequest as IngestRequest
from vms.ingest_request import IngestResult as IngestResult
from vms.ingest_request import Origin as Origin
from vms.ingest_request import SupersededFence as SupersededFence
from vms.ingest_request import validate_request as validate_request
from vms.leases import LeaseLost, check_camera_fence
from vms.markers import check_recording_span, marker_details
from vms.media.probe import MAX_FRAME_PIXELS, ZIP, ProbeResult, probe
from vms.metrics import INGEST_SECONDS
from vms.recorded_time import RecordedWindow
from vms.store import MediaStore, is_disk_full, start_writeback
from vms.store_guard import StoreGuard

log = logging.getLogger(__name__)

# Ask the kernel to start writing a temp file out every this many bytes (see _copy).
WRITEBACK_BYTES = 32 * 1024**2


class Ingestor:
    def __init__(
        self,
        db: Database,
        store: MediaStore,
        audit: AuditLog,
        clock: Clock,
        events: EventBus,
        categories: CategoryList,
        *,
        reserve_bytes: int = 0,
        buffer_bytes: int = 256 * 1024,
        window: RecordedWindow | None = None,
        enforce_assignment: bool = False,
        max_frame_pixels: int = MAX_FRAME_PIXELS,
        guard: StoreGuard | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.clock = clock
        self.events = events
        self.categories = categories
        self.reserve_bytes = reserve_bytes
        self.buffer_bytes = buffer_bytes
        self.window = window or RecordedWindow()
        self.enforce_assignment = enforce_assignment
        self.max_frame_pixels = max_frame_pixels
        # The media folder is the catalog's store, not a bare mount point (RET-1, INV-1).
        self.guard = guard
        self.hooks: list[CatalogueHook] = []

    def check_claim(
        self, request: IngestRequest, who: Who, *, action: str = "media.ingest"
    ) -> IngestRequest:
        """``request`` with the officer it is recorded for, when a person may bring it in
        (issue #10.1, :func:`vms.devices.resolve_claim`); else PermissionDenied, audited
        as ``action`` denied. Requests of the VMS itself pass unchanged."""
        if request.origin is not Origin.USER:
            return request
        claim = Claim(request.source, request.device_id, request.officer_badge)
        try:
            with self.db.session() as s:
                badge = resolve_claim(s, claim, enforce_assignment=self.enforce_assignment)
        except PermissionDenied as exc:
            self.audit.record(
                self.db,
                who,
                action,
                f"device:{request.device_id}",
                outcome="denied",
                details={
                    "reason": exc.message,
                    "source": request.source.value,
                    "device_id": request.device_id,
                    "officer_badge": request.officer_badge,
                    "filename": request.original_filename,
                },
            )
            raise
        return dataclasses.replace(request, officer_badge=badge)

    def check_recorded_at(self, request: IngestRequest, now: dt.datetime) -> None:
        """A person's stated recorded time must be plausible (issue #10.2). The
        recorder's own times are not second-guessed: a segment is never refused for
        its clock (recording must not stop)."""
        if request.origin is Origin.USER and request.recorded_at is not None:
            self.window.check(ensure_utc(request.recorded_at), now)

    def ingest(
        self,
        source: BinaryIO | Path,
        request: IngestRequest,
        who: Who,
        *,
        adopt: bool = False,
    ) -> IngestResult:
        """Store ``source`` and catalogue it (INV-1). See the module doc for the steps.

        ``adopt=True`` (``source`` a file on the store's file system that the caller
        owns and no longer writes, such as a completed upload): step 2 hard-links it into
        ``tmp/`` and hashes it by reading, instead of copying it; the caller's name for
        it stays valid until it removes it. Elsewhere (another file system) it is copied.
        """
        started = self.clock.monotonic()
        request = validate_request(request, self.categories)
        if request.source not in CAPTURE_SOURCES and request.derived_from is None:
            raise InvalidArgument(
                f"source {request.source.value!r} is for derived items: name the original"
            )
        if adopt and not isinstance(source, Path):
            raise TypeError("adopt=True takes a path")
        request = self.check_claim(request, who)  # before a byte is stored (#10.1)
        ingest_time = self.clock.now()
        self.check_recorded_at(request, ingest_time)  # #10.2
        if self.guard is not None:
            # Never write originals under an unmounted volume's mount point (INV-1).
            self.guard.require("store an original")
        self.store.tmp.mkdir(parents=True, exist_ok=True)
        # With the S3 backend the local temp file is only a staging copy, so a file at rest
        # is linked and hashed where it is instead of copied (as an adopted file is): its
        # bytes are read twice (hash, upload) but written to local disk never.
        stage_by_link = adopt or self.store.remote is not None
        linked = self._link_temp(source) if stage_by_link and isinstance(source, Path) else None
        # 1. room for it? (a linked file takes none)
        size_hint = request.expected_size
        if size_hint is None and isinstance(source, Path):
            size_hint = source.stat().st_size
        self.store.require_free(0 if linked else size_hint or 0, self.reserve_bytes)

        with self._temp_file(linked) as (tmp_path, fd):
            # A file at rest is probed (step 4) while it is copied: the probe reads the
            # source, and the source must not change until both are done (checked below),
            # so what was probed is what was stored. Streams are probed after the copy.
            early: Background[ProbeResult] | None = None
            before = source.stat() if isinstance(source, Path) else None
            if isinstance(source, Path):
                probed = linked or source
                early = Background(
                    "ingest-probe",
                    lambda: probe(
                        probed,
                        filename=request.original_filename,
                        max_frame_pixels=self.max_frame_pixels,
                        before_keyframe=request.continues_without_keyframe,
                    ),
                )
            # 2. copy while hashing (or, for an adopted file, hash it where it is)
            try:
                if linked is None:
                    sha256, size, parts = self._copy(source, fd, tmp_path, size_hint)
                else:
                    sha256, size, parts = self._hash_file(tmp_path)
            finally:
                if early is not None:
                    early.join()
            if isinstance(source, Path) and before is not None:
                require_unchanged(source, before, size, request.original_filename)
            crash_point("ingest.after-copy")
            # 3. the caller's expectations
            if request.expected_size is not None and size != request.expected_size:
                raise FailedPrecondition(
                    f"size mismatch: expected {request.expected_size} bytes, received {size}"
                )
            if request.expected_sha256 is not None and sha256 != request.expected_sha256:
                raise FailedPrecondition(
                    f"sha256 mismatch: expected {request.expected_sha256}, received {sha256}"
                )
            # 4. what is it?
            if early is not None:
                facts = early.result()
            else:
                facts = probe(
                    tmp_path,
                    filename=request.original_filename,
                    max_frame_pixels=self.max_frame_pixels,
                    before_keyframe=request.continues_without_keyframe,
                )
            if facts.content_type == ZIP and request.source is not SourceKind.EXPORT:
                raise InvalidArgument(
                    f"{request.original_filename or 'the file'}: a ZIP archive is catalogued "
                    "only as an export package"
                )
            start, origin = self._recorded_start(request, facts, ingest_time)
            end = self._recorded_end(request, facts, start, ingest_time)
            # OPS-2, OPS-3: before it is placed
            check_recording_span(
                request.markers,
                request.pre_event_buffer_seconds,
                request.original_filename or "the file",
                start,
                end,
            )
            crash_point("ingest.after-probe")
            # 5.-7. place and catalogue under the hash lock
            with self.store.hash_lock(sha256), self._shared_hash_lock(sha256):
                existing = self._existing(request.device_id, sha256)
                if existing is not None:
                    self._audit_duplicate(who, request, existing, sha256)
                    return IngestResult(existing, sha256, size, duplicate=True)
                placed = self.store.place(tmp_path, sha256, parts=parts)
                crash_point("ingest.after-rename")
                try:
                    media_id = self._catalogue(
                        request, facts, sha256, size, who, start=start, end=end, origin=origin
                    )
                except IntegrityError:
                    # Another process catalogued the same bytes for this device first.
                    existing = self._existing(request.device_id, sha256)
                    if existing is None:
                        self._drop_unreferenced(sha256, placed)
                        raise
                    return IngestResult(existing, sha256, size, duplicate=True)
                except BaseException:
                    # Step 7 failed: nothing was catalogued, so the original placed in
                    # step 6 would be an orphan (issue #10.4). A crash leaves it to the
                    # startup check instead.
                    self._drop_unreferenced(sha256, placed)
                    raise
        crash_point("ingest.after-commit")
        log.info("ingested %s from %s (%d bytes, %s)", media_id, request.device_id, size, sha256)
        INGEST_SECONDS.labels(request.source.value).observe(self.clock.monotonic() - started)
        self.events.publish(
            "media.new",
            {
                "id": media_id,
                "source": request.source.value,
                "device_id": request.device_id,
                "officer_badge": request.officer_badge,
            },
        )
        return IngestResult(media_id, sha256, size, duplicate=False)

    def _recorded_start(
        self, request: IngestRequest, facts: ProbeResult, now: dt.datetime
    ) -> tuple[dt.datetime, str]:
        """The recorded start and where it came from. A container's ``creation_time``
        must be plausible like a stated one (#10.2, #10.4): a device clock set to 9999
        is refused with the reason, and a recorded_at given with the file overrides it."""
        if request.recorded_at is not None:
            return ensure_utc(request.recorded_at), "uploader"
        if facts.recorded_start is not None:
            if request.derived_from is None:
                self.window.check(
                    facts.recorded_start,
                    now,
                    what="creation_time",
                    note="the container's creation_time; give recorded_at to say when it "
                    "was recorded",
                )
            return facts.recorded_start, "container"
        return now, "ingest"

    def _shared_hash_lock(self, sha256: str) -> contextlib.AbstractContextManager[object]:
        """With a store that several hosts share (S3), the database's hash lock too: the
        purge of another host must not delete the object this ingest finds and relies on
        before its row commits (INV-1, INV-3). A local store is one host's: its file
        lock is enough."""
        if self.store.remote is None:
            return contextlib.nullcontext()
        return self.db.hash_lock(sha256)

    def _recorded_end(
        self, request: IngestRequest, facts: ProbeResult, start: dt.datetime, now: dt.datetime
    ) -> dt.datetime | None:
        """The recorded end: the caller's, else the start plus the probed duration. A
        person's file must have ended by the plausible window's end like its start
        (#10.2): a container whose packets span years, or 31,000 years (past the
        calendar), is refused with the reason."""
        end = request.recorded_end
        if end is None and facts.duration_seconds is not None:
            try:
                end = start + dt.timedelta(seconds=facts.duration_seconds)
            except OverflowError:
                raise InvalidArgument(
                    f"{request.original_filename or 'the file'}: recorded end out of range: "
                    f"a duration of {facts.duration_seconds} s from {start.isoformat()}",
                    field="duration",
                ) from None
        if end is not None and request.origin is Origin.USER:
            self.window.check(
                end,
                now,
                what="recorded end",
                note=f"a duration of {facts.duration_seconds} s from {start.isoformat()}",
            )
        return end

    def _drop_unreferenced(self, sha256: str, placed: bool) -> None:
        """Remove the original this ingest placed when no catalog row refers to it
        (the caller holds the hash lock, so no other ingest can be cataloguing it)."""
        if not placed:
            return
        with self.db.session() as s:
            used = s.execute(
                select(MediaItem.id).where(MediaItem.sha256 == sha256).limit(1)
            ).first()
        if used is None:
            self.store.remove(sha256)
            log.warning("ingest failed after storing %s: the stored original was removed", sha256)

    def _link_temp(self, source: Path) -> Path | None:
        """Hard-link ``source`` into ``tmp/``; None when it is on another file system."""
        path = self.store.tmp / f"{ids.new_id()}.part"
        try:
            os.link(source, path)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                return None
            raise
        return path

    @contextlib.contextmanager
    def _temp_file(self, linked: Path | None = None) -> Iterator[tuple[Path, int]]:
        if linked is not None:
            path = linked
            fd = os.open(path, os.O_RDONLY)
        else:
            path = self.store.tmp / f"{ids.new_id()}.part"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            # The startup check removes .part files nobody holds a lock on.
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield path, fd
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # still there only when we did not place it

    def _part_bytes(self, size: int | None) -> int | None:
        """The object store's part size when a file of ``size`` bytes (None: unknown)
        will be a multipart upload, so its parts are hashed in the same pass."""
        part = self.store.upload_part_bytes
        return part if part is not None and (size is None or size > part) else None

    def _copy(
        self, source: BinaryIO | Path, fd: int, tmp_path: Path, size_hint: int | None = None
    ) -> tuple[str, int, tuple[bytes, ...] | None]:
        """Write ``source`` to ``fd`` while hashing it: one pass over the bytes (step 2).

        SHA-256 runs in a second thread on the same buffers (hashlib and os.write release
        the GIL), so on two cores the copy, not the hash, sets the pace. Every
        WRITEBACK_BYTES the kernel is asked to start writing the file out, so the disk
        works during the copy instead of all in step 6's fsync; left alone, Linux holds
        the whole file dirty in memory and the fsync waits for all of it.
        """
        hasher = PipelinedHash(self.buffer_bytes, self._part_bytes(size_hint))
        size = 0
        flushed = 0
        try:
            with contextlib.ExitStack() as stack:
                stream: BinaryIO = (
                    stack.enter_context(source.open("rb")) if isinstance(source, Path) else source
                )
                readinto = getattr(stream, "readinto", None)
                while True:
                    buf = hasher.free_buffer()
                    if readinto is not None:
                        n = readinto(buf)
                        chunk: bytes | memoryview = memoryview(buf)[:n]
                    else:
                        chunk = stream.read(self.buffer_bytes)
                        n = len(chunk)
                    if not n:
                        hasher.give_back(buf)
                        break
                    try:
                        written = 0
                        while written < n:
                            written += os.write(fd, chunk[written:])
                        if size + n - flushed >= WRITEBACK_BYTES:
                            start_writeback(fd, flushed, size + n - flushed)
                            flushed = size + n
                    except OSError as exc:
                        hasher.give_back(buf)
                        if is_disk_full(exc):
                            raise InsufficientStorage(
                                f"media store {self.store.root} is full after {size} bytes "
                                f"of this file; nothing was stored"
                            ) from None
                        raise
                    hasher.submit(buf if readinto is not None else bytes(chunk), n)
                    size += n
        finally:
            digest = hasher.finish()
        return digest, size, hasher.parts

    def _hash_file(self, path: Path) -> tuple[str, int, tuple[bytes, ...] | None]:
        """SHA-256 and size of a file read in place (adopted files, step 2), and with
        the S3 backend the SHA-256 of each upload part, from the same buffers."""
        size = 0
        with path.open("rb", buffering=0) as f:
            parts = self._part_bytes(os.fstat(f.fileno()).st_size)
            hasher = PipelinedHash(self.buffer_bytes, parts)
            try:
                while True:
                    buf = hasher.free_buffer()
                    n = f.readinto(buf)
                    if not n:
                        hasher.give_back(buf)
                        break
                    hasher.submit(buf, n)
                    size += n
            finally:
                digest = hasher.finish()
        return digest, size, hasher.parts

    def _existing(self, device_id: str, sha256: str) -> str | None:
        with self.db.session() as s:
            return s.execute(
                select(MediaItem.id).where(
                    MediaItem.device_id == device_id, MediaItem.sha256 == sha256
                )
            ).scalar_one_or_none()

    def _audit_duplicate(self, who: Who, request: IngestRequest, media_id: str, sha: str) -> None:
        self.audit.record(
            self.db,
            who,
            "media.ingest",
            f"media:{media_id}",
            outcome="duplicate",
            details={
                "device_id": request.device_id,
                "sha256": sha,
                "filename": request.original_filename,
            },
        )

    def _catalogue(
        self,
        request: IngestRequest,
        facts: ProbeResult,
        sha256: str,
        size: int,
        who: Who,
        *,
        start: dt.datetime,
        end: dt.datetime | None,
        origin: str,
    ) -> str:
        now = self.clock.now()
        media_id = ids.new_id()
        with self.db.transaction() as s:
            fenced: Mapping[str, str] = {}
            if request.fence is not None:
                try:
                    check_camera_fence(s, request.device_id, request.fence)
                except LeaseLost as lost:
                    if request.superseded is None:
                        raise
                    fenced = request.superseded(s, request.device_id, lost, start, end)
            if s.get(Device, request.device_id) is None:
                insert_missing(  # a new device's first files may come at once
                    s,
                    Device,
                    id=request.device_id,
                    kind=request.source.value,
                    name=request.device_id,
                    created_at=now,
                )
            if request.officer_badge:
                ensure_officer(s, request.officer_badge, now)
            item = MediaItem(
                id=media_id,
                source=request.source.value,
                media_type=facts.media_type.value,
                content_type=facts.content_type,
                device_id=request.device_id,
                officer_badge=request.officer_badge,
                recorded_start=start,
                recorded_end=end,
                duration_seconds=facts.duration_seconds,
                codec=facts.codec,
                width=facts.width,
                height=facts.height,
                size_bytes=size,
                sha256=sha256,
                original_filename=request.original_filename,
                title=request.title,
                case_number=request.case_number,
                incident_number=request.incident_number,
                evidence=any(
                    (c := self.categories.get(name)) is not None and c.evidence
                    for name in request.categories
                ),
                restricted=False,
                derived_from_id=request.derived_from,
                ingested_at=now,
                ingested_by=who.name,
                recorded_start_origin=origin,
                pre_event_buffer_seconds=request.pre_event_buffer_seconds,  # OPS-2
            )
            item.categories = [
                MediaCategory(category=c, recorded_start=start) for c in request.categories
            ]
            s.add(item)
            s.flush()  # the custody event refers to the row
            s.add_all(  # OPS-3, in time order
                MediaMarker(media_id=media_id, kind=m.kind.value, at=m.at, reason=m.reason)
                for m in sorted(request.markers, key=lambda m: m.at)
            )
            for hook in self.hooks:
                hook(s, item, now)
            if request.catalogued is not None:
                request.catalogued(s, item, now)
            s.add(
                CustodyEvent(
                    media_id=media_id,
                    at=now,
                    actor=who.name,
                    action="ingested",
                    details={
                        "sha256": sha256,
                        "size": size,
                        **request.custody_details,
                        **fenced,
                    },
                )
            )
            self.audit.append(
                s,
                who,
                "media.ingest",
                f"media:{media_id}",
                details={
                    "source": request.source.value,
                    "device_id": request.device_id,
                    "sha256": sha256,
                    "size": size,
                    "filename": request.original_filename,
                    **marker_details(request.markers, request.pre_event_buffer_seconds),
                },
            )
        return media_id
