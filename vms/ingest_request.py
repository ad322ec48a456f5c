"""What an ingest is asked to do (INV-1): the request a caller hands
:meth:`vms.ingest.Ingestor.ingest` with the bytes, its checks, and what comes back.

Apart from the ingest procedure (:mod:`vms.ingest`, which re-exports these names): the
recorder, the upload and dock paths and the derived-item writers build requests
without the store or the catalog transaction being any of their concern.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session

from vms.categories import CategoryList
from vms.clock import ensure_utc
from vms.db.models import MediaItem, SourceKind
from vms.errors import InvalidArgument
from vms.filenames import MAX_RAW_FILENAME_CHARS, safe_filename
from vms.leases import LeaseLost
from vms.markers import DeviceMarker, check_buffer, check_markers

MAX_TEXT = 500


class Origin(enum.StrEnum):
    """Who vouches for an ingest request's source, device and times."""

    # The VMS itself: the recorder's segments of its cameras, derived items.
    SYSTEM = "system"
    # A person: an upload, a dock-folder file, a CLI import (issue #10.1, #10.2).
    USER = "user"


@dataclass(frozen=True)
class IngestRequest:
    """What the caller knows about the file besides its bytes."""

    source: SourceKind
    device_id: str
    officer_badge: str | None = None
    recorded_at: dt.datetime | None = None
    recorded_end: dt.datetime | None = None
    title: str | None = None
    categories: tuple[str, ...] = ()
    case_number: str | None = None
    incident_number: str | None = None
    original_filename: str | None = None
    derived_from: str | None = None
    expected_size: int | None = None
    expected_sha256: str | None = None
    # Free-form facts recorded on the first custody event (e.g. upload id, dock path).
    custody_details: dict[str, str] = field(default_factory=dict)
    # Paths where a person is the origin say so: only the recorder creates fixed items.
    origin: Origin = Origin.SYSTEM
    # OPS-2: the seconds of pre-event buffer at the head of the file; OPS-3: the
    # device's deactivation/mute markers with their reasons (vms/markers.py).
    pre_event_buffer_seconds: int | None = None
    markers: tuple[DeviceMarker, ...] = ()
    # A recorded segment's camera lease token (issue 13.1): catalogued only while it is
    # still the camera's lease (vms.leases.check_camera_fence); None: not fenced.
    fence: int | None = None
    # When ``fence`` has passed on: what may let the segment in all the same, by proving
    # that no other holder recorded its span (a crash leftover, recorder/salvage.py 5f);
    # None: refused (LeaseLost).
    superseded: SupersededFence | None = None
    # Called in the catalog transaction with the new row (after ``fence`` is checked):
    # the caller's own bookkeeping of this item, committed with it or not at all (a
    # recorder segment kept for retry takes its gap back out of the timeline, OPS-4).
    catalogued: CatalogueHook | None = None
    # A recorder segment that continues the one before it without a keyframe (a camera
    # with an endless GOP, recorder/segments.py): its frames decode fully only after that
    # one's, so the probe proves they decode with FFmpeg's ``showall`` (shown against grey
    # references) instead of requiring a keyframe. Set by the recorder only.
    continues_without_keyframe: bool = False


# Called in the catalog transaction, the camera's lease row locked, when an ingest
# request's ``fence`` has passed on (the LeaseLost given): it raises LeaseLost unless the
# segment (device, start, end) may be catalogued all the same, and returns facts for
# its custody event. Its writes commit with the row.
SupersededFence = Callable[
    [Session, str, LeaseLost, dt.datetime, dt.datetime | None], Mapping[str, str]
]


# Called inside the ingest transaction with the new row (e.g. retention pins the item
# when an active preservation request covers it, INV-3): its writes commit with the row.
CatalogueHook = Callable[[Session, MediaItem, dt.datetime], None]


@dataclass(frozen=True)
class IngestResult:
    media_id: str
    sha256: str
    size: int
    duplicate: bool


def validate_request(request: IngestRequest, categories: CategoryList) -> IngestRequest:
    """Check and normalise the caller's fields; say exactly what is wrong."""
    if not isinstance(request.source, SourceKind):
        raise InvalidArgument(f"unknown source {request.source!r}")
    device = (request.device_id or "").strip()
    if not device or len(device) > 64 or not device.isprintable() or "/" in device:
        raise InvalidArgument(
            f"device_id {request.device_id!r} must be 1-64 printable characters without '/'"
        )
    badge = (request.officer_badge or "").strip() or None
    if badge is not None and (len(badge) > 32 or not badge.isprintable()):
        raise InvalidArgument(f"officer_badge {badge!r} must be 1-32 printable characters")
    for name, value in (
        ("title", request.title),
        ("case_number", request.case_number),
        ("incident_number", request.incident_number),
    ):
        if value is not None and (len(value) > MAX_TEXT or not value.isprintable()):
            raise InvalidArgument(f"{name} must be at most {MAX_TEXT} printable characters")
    if request.expected_sha256 is not None:
        digest = request.expected_sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidArgument(f"sha256 {request.expected_sha256!r} is not 64 hex digits")
    if request.recorded_at is not None:
        ensure_utc(request.recorded_at)
    # Names are cleaned at ingest (control, bidi, separators, length); the name as sent
    # stays in the custody record of the ingest (issue 10, item 5).
    filename = safe_filename(request.original_filename)
    custody = dict(request.custody_details)
    if request.original_filename and filename != request.original_filename:
        custody.setdefault("filename_as_sent", request.original_filename[:MAX_RAW_FILENAME_CHARS])
    # Only what is checked or normalised is replaced: a field added to the request
    # passes through unchanged (tests/vms/test_ingest_request.py).
    return replace(
        request,
        device_id=device,
        officer_badge=badge,
        title=request.title.strip() if request.title else None,
        categories=categories.normalise(request.categories),
        case_number=(request.case_number or "").strip() or None,
        incident_number=(request.incident_number or "").strip() or None,
        original_filename=filename,
        expected_sha256=request.expected_sha256.lower() if request.expected_sha256 else None,
        custody_details=custody,
        pre_event_buffer_seconds=check_buffer(request.pre_event_buffer_seconds),  # OPS-2
        markers=check_markers(request.markers),  # OPS-3
    )
