"""What an export job reads (issue 15): the sources' stored items, local copies of their
files for the cut, their custody events, audit entries and mask lifts. A part of
:class:`vms.exports.service.ExportService` (its base class), kept apart from making,
listing and running exports.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vms.continued import chain_before, continued_ids
from vms.db.engine import Database
from vms.db.models import (
    AuditEntry,
    CustodyEvent,
    Device,
    MaskLiftRow,
    MediaItem,
    SourceKind,
)
from vms.errors import InvalidArgument, NotFound
from vms.exports.manifest import LiftRecord
from vms.exports.values import ExportListing as ExportListing
from vms.exports.values import ExportQuery as ExportQuery
from vms.exports.values import ExportRecord as ExportRecord
from vms.exports.values import ExportSource as ExportSource
from vms.exports.values import NewExport as NewExport
from vms.exports.values import PackageDownload as PackageDownload
from vms.exports.values import PackageInfo as PackageInfo
from vms.fixed_segments import fixed_segments_of, segments_from
from vms.ingest import IngestRequest
from vms.media.clip import Segment, needs_remux, remux_for_cut, streams_left_out
from vms.store import MediaStore


class ExportReads:
    """The export service's reads for the job (see the module's text)."""

    db: Database
    store: MediaStore

    def source_items(self, record: ExportRecord) -> list[tuple[ExportSource, list[MediaItem]]]:
        """Each source of ``record`` with its stored items in time order (read again when
        the job runs: detached rows)."""
        out = []
        with self.db.session() as s:
            for source in record.sources:
                assert source.start is not None and source.end is not None
                if source.camera_id is not None:
                    rows = camera_segments(s, source.camera_id, source.start, source.end)
                else:
                    item = s.get(MediaItem, source.media_id)
                    rows = [*item_chain(s, item), item] if item is not None else []
                s.expunge_all()
                out.append((source, rows))
        return out

    def segments_of(
        self,
        items: Iterable[MediaItem],
        copies: contextlib.ExitStack[Any],
        work: Path | None = None,
    ) -> list[Segment]:
        """The cut's input: each item's local file (``copies`` holds the object store's
        copies until the cut is done). An item whose H.264 has no avcC header (MPEG-TS,
        AVI: :func:`vms.media.clip.needs_remux`) is remuxed into an MP4 in ``work`` first,
        removed with the copies. Each segment names the streams of the stored file the
        clips do not carry (:func:`vms.media.clip.streams_left_out`) and whether it
        continues the one before it without a keyframe (:mod:`vms.continued`)."""
        items = list(items)
        with self.db.session() as s:
            continued = continued_ids(s, [item.id for item in items])
        segments = []
        for item in items:
            end = item.recorded_end
            if end is None:
                end = item.recorded_start + dt.timedelta(seconds=item.duration_seconds or 0.0)
            try:
                path = copies.enter_context(self.store.local_copy(item.sha256))
            except NotFound:
                raise NotFound(f"the file of media {item.id} is missing from the store") from None
            left_out = streams_left_out(path, f"media {item.id}")
            if needs_remux(item.content_type):
                if work is None:
                    raise InvalidArgument(f"media {item.id}: its file must be remuxed to be cut")
                work.mkdir(parents=True, exist_ok=True)
                remuxed = work / f"{item.id}.mp4"
                copies.callback(remuxed.unlink, missing_ok=True)
                remux_for_cut(path, remuxed, f"media {item.id}")
                path = remuxed
            segments.append(
                Segment(path, item.recorded_start, end, item.id, left_out, item.id in continued)
            )
        return segments

    def custody_of(self, media_ids: Sequence[str]) -> dict[str, list[CustodyEvent]]:
        with self.db.session() as s:
            rows = s.execute(
                select(CustodyEvent)
                .where(CustodyEvent.media_id.in_(media_ids))
                .order_by(CustodyEvent.media_id, CustodyEvent.id)
            ).scalars()
            out: dict[str, list[CustodyEvent]] = {}
            for row in rows:
                out.setdefault(row.media_id, []).append(row)
            s.expunge_all()
        return out

    def redactions_of(self, items: Iterable[MediaItem]) -> dict[str, dict[str, Any]]:
        """For each redacted copy among ``items`` (source ``redacted``), the redaction it
        came from: the custody event ``redacted`` the redaction job wrote on its original
        (job id, method, regions, muted audio, when, by whom) with the original's id.
        INV-8: an export of a redacted copy records every redaction."""
        copies = {
            i.id: i.derived_from_id
            for i in items
            if i.source == SourceKind.REDACTED.value and i.derived_from_id
        }
        if not copies:
            return {}
        out: dict[str, dict[str, Any]] = {}
        with self.db.session() as s:
            rows = s.execute(
                select(CustodyEvent)
                .where(
                    CustodyEvent.media_id.in_(set(copies.values())),
                    CustodyEvent.action == "redacted",
                )
                .order_by(CustodyEvent.id)
            ).scalars()
            for row in rows:
                made = str((row.details or {}).get("redacted_media_id"))
                if copies.get(made) == row.media_id:
                    out[made] = {
                        **dict(row.details),
                        "original_media_id": row.media_id,
                        "redacted_by": row.actor,
                    }
        return out

    def audit_of(self, media_ids: Sequence[str]) -> list[AuditEntry]:
        targets = [f"media:{m}" for m in media_ids]
        with self.db.session() as s:
            rows = list(
                s.execute(
                    select(AuditEntry)
                    .where(AuditEntry.target.in_(targets))
                    .order_by(AuditEntry.seq)
                ).scalars()
            )
            s.expunge_all()
        return rows

    def lifts_of(
        self, items: Sequence[tuple[str | None, int | None]]
    ) -> dict[tuple[str, int], list[LiftRecord]]:
        """The mask lifts (PSCS-1, issue 14.6) that began each (camera, mask version) of
        ``items``: footage recorded under such a version was captured with them unmasked."""
        wanted = {(c, v) for c, v in items if c is not None and v is not None}
        if not wanted:
            return {}
        out: dict[tuple[str, int], list[LiftRecord]] = {}
        with self.db.session() as s:
            rows = s.execute(
                select(MaskLiftRow)
                .where(MaskLiftRow.camera_id.in_({c for c, _ in wanted}))
                .order_by(MaskLiftRow.starts_at)
            ).scalars()
            for row in rows:
                if (row.camera_id, row.from_version) in wanted:
                    out.setdefault((row.camera_id, row.from_version), []).append(
                        LiftRecord(
                            row.mask_name,
                            row.reason,
                            row.granted_by,
                            row.starts_at,
                            min(row.ended_at or row.ends_at, row.ends_at),
                        )
                    )
        return out

    def device_of(self, device_id: str) -> str:
        with self.db.session() as s:
            device = s.get(Device, device_id)
            return device.name if device is not None else device_id

    def ingest_request(self, **fields: Any) -> IngestRequest:
        return IngestRequest(source=SourceKind.EXPORT, **fields)


def item_chain(s: Session, item: MediaItem) -> list[MediaItem]:
    """The segments before ``item`` that its frames depend on, when it is a recorder
    segment continued without a keyframe (:func:`vms.continued.chain_before`; none for
    anything else): an export naming it is cut from its chain's keyframe on."""
    if item.source != SourceKind.FIXED.value or item.device_id is None:
        return []
    return chain_before(s, item.device_id, item.id, item.recorded_start)


def camera_segments(
    s: Session, camera_id: str, start: dt.datetime, end: dt.datetime
) -> list[MediaItem]:
    """The camera's recorded segments overlapping ``start..end``, in time order (the
    last one starting at or before ``start`` first: segments do not overlap, INV-9).
    When the first continues the one before it without a keyframe, the segments back to
    the keyframe its frames depend on come first (:func:`vms.continued.chain_before`):
    a clip starting there is decoded from that keyframe (docs/design/exports.md)."""
    rows = s.execute(
        select(MediaItem)
        .where(
            fixed_segments_of(camera_id),
            MediaItem.recorded_start >= segments_from(s, camera_id, start),
            MediaItem.recorded_start < end,
        )
        .order_by(MediaItem.recorded_start, MediaItem.id)
    ).scalars()
    out = []
    for row in rows:
        finish = row.recorded_end or row.recorded_start + dt.timedelta(
            seconds=row.duration_seconds or 0.0
        )
        if finish > start:
            out.append(row)
    if out:
        out[:0] = chain_before(s, camera_id, out[0].id, out[0].recorded_start)
    return out
