"""Resumable uploads for BWC/dash/handheld files (TAG-5).

An upload is created with what the uploader knows (size, SHA-256, device, officer...),
filled with ``Content-Range`` chunks in order (any interruption resumes at the recorded
offset), and completed: the server checks size and SHA-256 and hands the file to the
single ingest path (INV-1). Received bytes are fsynced before the offset that counts them
is committed, so the recorded offset never runs ahead of the data on disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import select

from vms import ids
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor, Scope, scope_of
from vms.bounded import parse_int, shown
from vms.catalog import Catalog
from vms.catalog_values import MediaDetail, MediaRef
from vms.clock import Clock, isoformat
from vms.db.engine import Database
from vms.db.models import CAPTURE_SOURCES, MediaItem, PurgeIntent, SourceKind, Upload
from vms.errors import (
    Conflict,
    FailedPrecondition,
    InsufficientStorage,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from vms.ingest import Ingestor, IngestRequest, IngestResult, Origin, validate_request
from vms.markers import DeviceMarker, check_buffer, check_span, parse_markers
from vms.recorded_time import parse_recorded_at
from vms.store import is_disk_full
from vms.upload_destroyed import item_or_destroyed, purged
from vms.upload_space import RECEIVING, UploadSpace
from vms.upload_values import CompletedUpload as CompletedUpload
from vms.upload_values import UploadRecord as UploadRecord

log = logging.getLogger(__name__)

COMPLETE = "complete"
FAILED = "failed"

READ_BYTES = 1024 * 1024
# A completion ingests once more when the item its bytes duplicate was purged meanwhile
# (RET-13); a second ingest meeting that again is a race a repeat of complete settles.
INGEST_ATTEMPTS = 2


@dataclass(frozen=True)
class ContentRange:
    start: int
    end: int  # inclusive
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_content_range(header: str | None) -> ContentRange:
    """Parse ``bytes START-END/TOTAL``."""
    if not header:
        raise InvalidArgument("Content-Range header is required: bytes START-END/TOTAL")
    unit, _, spec = header.strip().partition(" ")
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    try:  # bounded whole numbers (#10.10)
        parsed = ContentRange(
            *(parse_int(v, "Content-Range", minimum=0) for v in (first, last, total))
        )
    except InvalidArgument:
        raise InvalidArgument(
            f"Content-Range {shown(header)} is not of the form bytes START-END/TOTAL"
        ) from None
    if unit != "bytes" or parsed.end < parsed.start:
        raise InvalidArgument(f"Content-Range {shown(header)} is not a valid byte range")
    return parsed


@dataclass(frozen=True)
class NewUpload:
    """What the uploader knows of a file before sending it (the create command).

    Texts come stripped and printable from the web layer; what needs the database, the
    clock or the configuration (size limit, device claim, plausible recorded time,
    categories, hex digest) is checked by :meth:`UploadService.create`."""

    filename: str
    size: int
    sha256: str
    source: SourceKind
    device_id: str
    officer_badge: str | None = None
    recorded_at: dt.datetime | None = None
    title: str | None = None
    categories: tuple[str, ...] = ()
    case_number: str | None = None
    incident_number: str | None = None
    # OPS-2: seconds of pre-event buffer at the head of the file; OPS-3: device markers.
    pre_event_buffer_seconds: int | None = None
    markers: tuple[DeviceMarker, ...] = ()


class UploadService:
    def __init__(
        self,
        db: Database,
        directory: Path,
        ingestor: Ingestor,
        catalog: Catalog,
        authoriser: Authoriser,
        audit: AuditLog,
        clock: Clock,
        *,
        max_upload_bytes: int,
        max_chunk_bytes: int,
        reserve_bytes: int = 0,
        user_open_bytes: int = 0,
        user_open_uploads: int = 0,
    ) -> None:
        self.db = db
        self.directory = directory
        self.ingestor = ingestor
        self.catalog = catalog
        self.authoriser = authoriser
        self.audit = audit
        self.clock = clock
        self.max_upload_bytes = max_upload_bytes
        self.max_chunk_bytes = max_chunk_bytes
        self.space = UploadSpace(
            db,
            directory,
            ingestor.store,
            reserve_bytes=reserve_bytes,
            recorder_reserve_bytes=ingestor.reserve_bytes,
            user_open_bytes=user_open_bytes,
            user_open_uploads=user_open_uploads,
        )

    def part_path(self, upload_id: str) -> Path:
        return self.directory / f"{upload_id}.part"

    # -- create ----------------------------------------------------------------------

    def create(self, actor: Actor, new: NewUpload) -> UploadRecord:
        """Open an upload of ``new`` (TAG-5) for ``actor``, refused before a byte is sent
        when the ingest at completion would refuse it; audited."""
        self.authoriser.require(actor, Action.MEDIA_UPLOAD, "uploads")
        size = new.size
        if size <= 0:
            raise InvalidArgument(f"size must be a positive whole number of bytes, not {size!r}")
        if size > self.max_upload_bytes:
            raise InvalidArgument(f"size {size} exceeds the {self.max_upload_bytes}-byte limit")
        source = new.source
        if source not in CAPTURE_SOURCES:
            raise InvalidArgument(
                f"source {source.value!r} must be one of "
                f"{', '.join(sorted(s.value for s in CAPTURE_SOURCES))}"
            )
        badge = self._badge_for(actor, new.officer_badge)
        request = validate_request(
            IngestRequest(
                source=source,
                device_id=new.device_id,
                officer_badge=badge,
                recorded_at=new.recorded_at,
                title=new.title,
                categories=new.categories,
                case_number=new.case_number,
                incident_number=new.incident_number,
                original_filename=new.filename,
                expected_size=size,
                expected_sha256=new.sha256,
                origin=Origin.USER,
                pre_event_buffer_seconds=new.pre_event_buffer_seconds,
                markers=new.markers,
            ),
            self.ingestor.categories,
        )
        if request.recorded_at is not None:
            # OPS-3: absurd marker times refused before a byte is sent; the ingest checks
            # them against the probed duration.
            check_span(request.markers, None, request.recorded_at, None)
        now = self.clock.now()
        # Refused before a byte is sent; the ingest at completion checks again (INV-1).
        self.ingestor.check_recorded_at(request, now)  # #10.2
        request = self.ingestor.check_claim(request, who(actor), action="upload.create")  # #10.1
        if request.officer_badge != badge:
            # The device's officer was filled in from its assignment: the uploader must
            # still be allowed to upload for that officer (ACC-2, ACC-8).
            self._badge_for(actor, request.officer_badge)
        self.ingestor.store.require_free(size, self.ingestor.reserve_bytes)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        upload = Upload(
            id=ids.new_id(),
            user_id=actor.user_id,
            filename=request.original_filename or "upload",
            size=size,
            sha256=request.expected_sha256 or "",
            received=0,
            state=RECEIVING,
            metadata_json={
                "source": source.value,
                "device_id": request.device_id,
                "officer_badge": request.officer_badge,
                "recorded_at": isoformat(new.recorded_at),
                "title": request.title,
                "categories": list(request.categories),
                "case_number": request.case_number,
                "incident_number": request.incident_number,
                "pre_event_buffer_seconds": request.pre_event_buffer_seconds,  # OPS-2
                "markers": [m.as_json() for m in request.markers],  # OPS-3
                # The name as sent when it had to be cleaned (issue 10, item 5).
                **{k: v for k, v in request.custody_details.items() if k == "filename_as_sent"},
            },
            created_at=now,
            updated_at=now,
        )
        # The declared bytes are reserved from here on: admission and the insert under
        # one lock, so concurrent creates cannot promise the same room twice (#10.9).
        with self.space.reserving():
            self.space.admit(actor.user_id, actor.username, size)
            part = self.part_path(upload.id)
            part.touch(mode=0o600)
            try:
                with self.db.transaction() as s:
                    s.add(upload)
                    self.audit.append(
                        s,
                        who(actor),
                        "upload.create",
                        f"upload:{upload.id}",
                        details={
                            "filename": upload.filename,
                            "size": size,
                            "device_id": request.device_id,
                        },
                    )
            except BaseException:
                # No row names the file (e.g. the database's disk is full): nothing
                # would ever remove it, the expiry job walks rows.
                part.unlink(missing_ok=True)
                raise
        return UploadRecord.of(upload)

    def _badge_for(self, actor: Actor, badge: str | None) -> str | None:
        """Officers upload as themselves (ACC-2); supervisors for their officers (ACC-8)."""
        scope = scope_of(actor.role, Action.MEDIA_UPLOAD)
        if scope is Scope.OWN:
            if badge and badge != actor.badge:
                raise PermissionDenied("officers may only upload their own recordings (ACC-2)")
            return actor.badge
        if scope is Scope.SUPERVISED and badge and badge not in actor.reachable_badges:
            raise PermissionDenied(
                "supervisors may only upload for officers they supervise (ACC-8)"
            )
        return badge

    # -- status ----------------------------------------------------------------------

    def _owned(self, actor: Actor, upload_id: str) -> Upload:
        """``actor``'s upload ``upload_id``. The role is checked first, as at its start
        (ACC-1): a user whose role no longer uploads (made auditor mid-upload) neither
        sends, reads nor completes one (403, audited), and a role that never uploads is
        refused before any lookup, as everywhere else."""
        self.authoriser.require(actor, Action.MEDIA_UPLOAD, f"upload:{upload_id}")
        upload = None
        if "\x00" not in upload_id:  # no stored id has one (PostgreSQL text cannot hold it)
            with self.db.session() as s:
                upload = s.get(Upload, upload_id)
        if upload is None:
            raise NotFound(f"upload {upload_id!r} does not exist")
        if upload.user_id != actor.user_id:
            self.audit.record(
                self.db,
                who(actor),
                "upload.access",
                f"upload:{upload_id}",
                outcome="denied",
                details={"reason": "not the uploader"},
            )
            raise PermissionDenied("only the user who started an upload may continue it")
        return upload

    def status(self, actor: Actor, upload_id: str) -> UploadRecord:
        """The upload as read; complete, and its item destroyed by the retention purge
        since, it cites the destruction record (``destruction``, RET-13)."""
        upload = self._owned(actor, upload_id)
        return UploadRecord.of(
            upload, purged(self.db, upload) if upload.state == COMPLETE else None
        )

    # -- chunks ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked_part(self, upload_id: str) -> Iterator[int]:
        try:
            fd = os.open(self.part_path(upload_id), os.O_RDWR)
        except FileNotFoundError:
            raise self._file_gone(upload_id) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)

    def put_chunk(
        self,
        actor: Actor,
        upload_id: str,
        content_range: ContentRange,
        stream: IO[bytes],
        *,
        chunk_sha256: str | None = None,
    ) -> UploadRecord:
        """Write one chunk at its offset. The chunk must start at the received offset
        (else 409 with the current offset); it may come in short (a dropped connection),
        in which case what arrived is kept and the offset says where to resume."""
        upload = self._owned(actor, upload_id)
        if upload.state != RECEIVING:
            raise Conflict(f"upload {upload_id} is {upload.state}", state=upload.state)
        if content_range.total != upload.size:
            raise InvalidArgument(
                f"Content-Range total {content_range.total} differs from the upload size "
                f"{upload.size}"
            )
        if content_range.end >= upload.size:
            raise InvalidArgument(
                f"Content-Range end {content_range.end} is past the last byte {upload.size - 1}"
            )
        if content_range.length > self.max_chunk_bytes:
            raise InvalidArgument(
                f"chunk of {content_range.length} bytes exceeds the "
                f"{self.max_chunk_bytes}-byte chunk limit"
            )
        with self._locked_part(upload_id) as fd:
            with self.db.session() as s:
                current = s.get(Upload, upload_id)
                assert current is not None
                received, state = current.received, current.state
            if state != RECEIVING:  # expired (or failed) while this request waited
                raise Conflict(f"upload {upload_id} is {state}", state=state)
            if content_range.start != received:
                raise Conflict(
                    f"chunk starts at byte {content_range.start} but the upload has "
                    f"{received} bytes: send from offset {received}",
                    offset=received,
                )
            # Every chunk keeps the upload reserve, counting what recording used meanwhile
            # and what the other open uploads were promised (#10.9).
            self.space.admit_chunk(upload_id, received, content_range.length)
            written, digest = self._write(
                fd, received, content_range.length, stream, hashing=chunk_sha256 is not None
            )
            if (
                chunk_sha256 is not None
                and written == content_range.length
                and (digest != chunk_sha256.lower())
            ):
                os.ftruncate(fd, received)
                raise FailedPrecondition(
                    f"chunk at offset {received} is corrupt: its SHA-256 is {digest}, "
                    f"the header says {chunk_sha256}; the chunk was discarded",
                    offset=received,
                )
            os.fsync(fd)
            with self.db.transaction() as s:
                row = s.get(Upload, upload_id)
                assert row is not None
                row.received = received + written
                row.updated_at = self.clock.now()
                result = UploadRecord.of(row)
        if written < content_range.length:
            raise InvalidArgument(
                f"chunk ended after {written} of {content_range.length} bytes; "
                f"resume from offset {received + written}",
                offset=received + written,
            )
        return result

    def _write(
        self, fd: int, offset: int, length: int, stream: IO[bytes], *, hashing: bool
    ) -> tuple[int, str | None]:
        """Append up to ``length`` bytes of ``stream`` at ``offset``; the chunk's SHA-256
        only when ``hashing`` (the client sent one to check: complete verifies the whole
        file anyway, and hashing every chunk costs a core for ~0.8 s per GiB)."""
        os.ftruncate(fd, offset)  # drop bytes past the committed offset (a crashed PUT)
        os.lseek(fd, offset, os.SEEK_SET)
        digest = hashlib.sha256() if hashing else None
        written = 0
        while written < length:
            try:
                data = stream.read(min(READ_BYTES, length - written))
            except Exception as exc:  # the web server's "client disconnected" error
                # The client went away: keep what arrived, the offset says where to resume.
                log.info("upload stream ended after %d of %d bytes: %s", written, length, exc)
                break
            if not data:
                break
            if digest is not None:
                digest.update(data)
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            except OSError as exc:
                os.ftruncate(fd, offset + written)
                if is_disk_full(exc):
                    raise InsufficientStorage(
                        f"upload storage is full at offset {offset + written}; "
                        "free space and resume",
                        offset=offset + written,
                    ) from None
                raise
            written += len(data)
        return written, digest.hexdigest() if digest is not None else None

    # -- complete --------------------------------------------------------------------

    def complete(self, actor: Actor, upload_id: str) -> CompletedUpload:
        """Verify size and SHA-256 and ingest (INV-1). Repeating it is harmless: it
        answers the item, or the destruction record of an item purged since (RET-13)."""
        upload = self._owned(actor, upload_id)
        if upload.state == COMPLETE:
            return self._completed_before(actor, upload)
        if upload.state == FAILED:
            raise Conflict(f"upload {upload_id} failed: {upload.error}")
        if upload.received != upload.size:
            raise FailedPrecondition(
                f"upload {upload_id} is incomplete: {upload.received} of {upload.size} bytes",
                offset=upload.received,
            )
        meta = upload.metadata_json
        request = IngestRequest(
            source=SourceKind(meta["source"]),
            device_id=meta["device_id"],
            officer_badge=meta.get("officer_badge"),
            recorded_at=parse_recorded_at(meta["recorded_at"]) if meta.get("recorded_at") else None,
            title=meta.get("title"),
            categories=tuple(meta.get("categories") or ()),
            case_number=meta.get("case_number"),
            incident_number=meta.get("incident_number"),
            original_filename=upload.filename,
            expected_size=upload.size,
            expected_sha256=upload.sha256,
            custody_details={
                "upload_id": upload_id,
                **(
                    {"filename_as_sent": meta["filename_as_sent"]}
                    if "filename_as_sent" in meta
                    else {}
                ),
            },
            origin=Origin.USER,
            pre_event_buffer_seconds=check_buffer(meta.get("pre_event_buffer_seconds")),
            markers=parse_markers(meta.get("markers")),
        )
        part = self.part_path(upload_id)
        for _attempt in range(INGEST_ATTEMPTS):
            try:
                # The upload file is complete and ours: adopted, not copied again. No
                # chunk can change it now (every offset is taken), and ingest locks its
                # own link to the file, so the upload lock is not held here (it would be
                # the same inode's lock, and block ingest).
                result = self.ingestor.ingest(part, request, who(actor), adopt=True)
            except (FailedPrecondition, InvalidArgument, PermissionDenied) as exc:
                # Refused for good (a bad file, an implausible recorded time, a device
                # the uploader may not claim): the upload fails with the reason, not stuck.
                self._fail(actor, upload_id, exc.message)
                raise
            except FileNotFoundError:
                if part.exists():
                    raise
                # Another complete of this upload (a client's repeat) finished since this
                # one read it, or it expired: the upload file went with it.
                return self._ended_meanwhile(actor, upload_id)
            record = self._completed(upload_id, result)
            if record is not None:
                break
        else:
            raise Conflict(
                f"upload {upload_id}: the items its bytes matched were purged while it "
                "completed; complete it again",
                state=RECEIVING,
            )
        part.unlink(missing_ok=True)  # verified and catalogued: the upload copy can go
        return CompletedUpload(record, self._media(actor, result.media_id), result.duplicate)

    def _completed(self, upload_id: str, result: IngestResult) -> UploadRecord | None:
        """Mark the upload complete with ``result``'s item, in a transaction holding that
        item's row (``FOR SHARE`` on PostgreSQL: a purge's deletion waits for it).

        A duplicate names an item catalogued before; the purge (RET-13) may have
        destroyed it since the ingest found it. The upload must not be completed with
        it: the device would be told its footage is kept (TAG-5: it may erase its copy)
        and every repeat would find no item. None then: ingested again, the bytes are
        filed as a new item, as the same upload a moment later would be, its retention
        counted from this ingest (RET-4). An item the purge has decided to destroy
        (its intent recorded, INV-3) cannot be replaced yet (one item per device and
        bytes): :class:`Conflict`, the upload left receiving with its bytes, to be
        completed again."""
        with self.db.transaction() as s:
            if result.duplicate:
                held = s.execute(
                    select(MediaItem.id)
                    .where(MediaItem.id == result.media_id)
                    .with_for_update(read=True)
                ).first()
                if held is None:
                    log.info(
                        "upload %s: item %s it duplicates was purged meanwhile; ingesting again",
                        upload_id,
                        result.media_id,
                    )
                    return None
                if s.get(PurgeIntent, result.media_id) is not None:
                    raise Conflict(
                        f"upload {upload_id}: item {result.media_id}, which has the same "
                        "bytes, is being purged (RET-13); complete the upload again to "
                        "file them as a new item",
                        state=RECEIVING,
                    )
            row = s.get(Upload, upload_id)
            assert row is not None
            row.state = COMPLETE
            row.media_id = result.media_id
            row.updated_at = self.clock.now()
            return UploadRecord.of(row)

    def _ended_meanwhile(self, actor: Actor, upload_id: str) -> CompletedUpload:
        """What a complete answers when the upload ended while it ran: the item another
        complete catalogued (TAG-5: the device may be told), else :meth:`_file_gone`."""
        upload = self._owned(actor, upload_id)
        if upload.state == COMPLETE:
            return self._completed_before(actor, upload)
        raise self._file_gone(upload_id)

    def _completed_before(self, actor: Actor, upload: Upload) -> CompletedUpload:
        """The item the complete ``upload`` catalogued, or :class:`Conflict` citing the
        destruction record of an item purged since (RET-13, vms/upload_destroyed.py)."""
        media = item_or_destroyed(self.db, upload, lambda m: self._media(actor, m))
        return CompletedUpload(UploadRecord.of(upload), media)

    def _file_gone(self, upload_id: str) -> Conflict | Unavailable:
        """Why this server has no file of ``upload_id``: it ended meanwhile (Conflict
        naming its state), or, still receiving, its bytes are in the upload folder of
        another web server of the site, the one that took its first request (web servers
        share no folder, ARCHITECTURE.md 1): Unavailable, send it again."""
        with self.db.session() as s:
            row = s.get(Upload, upload_id)
            state = row.state if row is not None else FAILED
        if state != RECEIVING:
            return Conflict(f"upload {upload_id} is {state}: its file is gone", state=state)
        return Unavailable(
            f"upload {upload_id} is being received by another web server of this site: its "
            "bytes are not on this one; send the request again (the balancer must keep an "
            "upload on one server)"
        )

    def _media(self, actor: Actor, media_id: str) -> MediaDetail | MediaRef:
        try:
            return self.catalog.get(actor, media_id)
        except PermissionDenied:
            return MediaRef(media_id)

    def _fail(self, actor: Actor, upload_id: str, reason: str) -> None:
        with self.db.transaction() as s:
            row = s.get(Upload, upload_id)
            assert row is not None
            row.state = FAILED
            row.error = reason
            row.updated_at = self.clock.now()
            self.audit.append(
                s,
                who(actor),
                "upload.complete",
                f"upload:{upload_id}",
                outcome="failed",
                details={"reason": reason},
            )
        self.part_path(upload_id).unlink(missing_ok=True)

    def expire_stale(self, older_than: dt.timedelta) -> int:
        """Forget unfinished uploads untouched for ``older_than``: their bytes go and
        their reservation is given back (#10.9). Each is audited (``upload.expire``) in
        the transaction that marks it; one with a chunk being written is left for the
        next run, and so is one whose file cannot be reached (logged with the reason),
        without keeping the others from expiring. Returns how many expired."""
        cutoff = self.clock.now() - older_than
        with self.db.session() as s:
            candidates = list(
                s.execute(
                    select(Upload.id).where(Upload.state == RECEIVING, Upload.updated_at < cutoff)
                ).scalars()
            )
        expired = 0
        for upload_id in candidates:
            try:
                if self._expire(upload_id, cutoff):
                    expired += 1
            except OSError as exc:
                # One upload's file must not keep the others from ever expiring.
                log.warning("upload %s: not expired this run: %s", upload_id, exc)
        if expired:
            log.info("expired %d abandoned uploads (idle over %s)", expired, older_than)
        return expired

    def _expire(self, upload_id: str, cutoff: dt.datetime) -> bool:
        """Expire one upload idle since before ``cutoff``; False when it is busy or no
        longer stale. Only its name in the upload folder is removed: after a crash
        between the ingest and the completion it is a link to the stored original."""
        with self._try_locked_part(upload_id) as locked:
            if not locked:
                return False  # a chunk is being written right now: not abandoned
            with self.db.transaction() as s:
                row = s.get(Upload, upload_id)
                if row is None or row.state != RECEIVING or row.updated_at >= cutoff:
                    return False
                idle_since = row.updated_at
                row.state = FAILED
                row.error = "abandoned"
                row.updated_at = self.clock.now()
                self.audit.append(
                    s,
                    Who("upload-expiry", SYSTEM_ROLE),
                    "upload.expire",
                    f"upload:{upload_id}",
                    details={
                        "user_id": row.user_id,
                        "size": row.size,
                        "received": row.received,
                        "idle_since": isoformat(idle_since),
                    },
                )
            self.part_path(upload_id).unlink(missing_ok=True)
            return True

    @contextlib.contextmanager
    def _try_locked_part(self, upload_id: str) -> Iterator[bool]:
        """The part file's lock if nobody holds it (True), else False; True as well
        when the part file is already gone. Opened read-only (a lock needs no more): a
        completed upload's file may share its inode with the stored original, which
        the service user may not open for writing (INV-2, mode 0400)."""
        try:
            fd = os.open(self.part_path(upload_id), os.O_RDONLY)
        except FileNotFoundError:
            yield True
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
