"""The catalog's values (:mod:`vms.catalog`): what its callers send (a search, a tag
change, a restriction) and what it answers (records, details, pages), each a frozen value
with no database session behind it, and the search cursor."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vms.bounded import ANY_TIME, parse_time, shown
from vms.db.models import CustodyEvent, MediaItem, MediaMarker, SourceKind
from vms.errors import InvalidArgument
from vms.markers import MarkerKind
from vms.names import ItemNames

MAX_PAGE = 500


@dataclass(frozen=True)
class MediaQuery:
    source: SourceKind | None = None
    device_id: str | None = None
    officer_badge: str | None = None
    case_number: str | None = None
    category: str | None = None
    # OPS-3: only items with a device marker of this kind (deactivation, mute...).
    has_marker: MarkerKind | None = None
    start: dt.datetime | None = None  # recorded_start >= start
    end: dt.datetime | None = None  # recorded_start < end
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class RestrictionChange:
    """Set (``restricted``) or clear the restricted mark of an item, and why (ACC-7).
    ``form_key``: the page form's one-time key or the API's ``request_id``; the same
    request sent again is answered as the first was (ACC-6)."""

    restricted: bool
    reason: str
    form_key: str | None = None


@dataclass(frozen=True)
class ContentAccess:
    """An authorised view or download of one item's file, not yet recorded."""

    item: MediaItem
    path: Path | None  # None: the original is in the object store (stream it by sha256)
    action: str  # the audit action: media.view or media.download
    download: bool
    continuation: bool
    # What the audit entry adds (ACC-2 approval id, ACC-3 grant id, ACC-4 purpose).
    details: dict[str, Any] = field(default_factory=dict)
    # The permission that allowed it (an Action's value), decided again when the view is
    # recorded: media.view, or redactions.manage for a redaction's original (ACC-1).
    allowed_by: str = "media.view"
    # A recorder segment continued without a keyframe: what it continues (said in the
    # response's headers; the bytes served are the stored ones).
    continues: Continuation | None = None


@dataclass(frozen=True)
class MediaRecord:
    """One catalogued item as read (a value: no database session behind it)."""

    id: str
    source: str
    media_type: str
    content_type: str
    device_id: str
    officer_badge: str | None
    recorded_start: dt.datetime
    recorded_end: dt.datetime | None
    recorded_start_origin: str
    duration_seconds: float | None
    codec: str | None
    width: int | None
    height: int | None
    size_bytes: int
    sha256: str
    original_filename: str | None
    title: str | None
    categories: tuple[str, ...]  # sorted
    case_number: str | None
    incident_number: str | None
    evidence: bool
    restricted: bool
    critical_incident: bool
    derived_from: str | None
    ingested_at: dt.datetime
    ingested_by: str
    # Which retention rule decided the expiry (RET-12); no expiry: kept while held.
    expires_at: dt.datetime | None
    retention_rule: str | None
    # OPS-2: seconds of pre-event buffer at the head of the file (None: not stated).
    pre_event_buffer_seconds: int | None
    # What people call it (issue 15.5; vms/names.py): a camera's name and location, the
    # officer's name, and a title (a person's, or camera name and time for segments).
    device_name: str | None
    device_location: str | None
    officer_label: str | None
    display_title: str
    # When the title is made up (camera or officer and the time): that time, for the pages
    # to show on the agency's clock (vms/names.py); not in the API.
    title_at: dt.datetime | None

    @classmethod
    def of(cls, item: MediaItem, names: ItemNames) -> MediaRecord:
        return MediaRecord(**record_fields(item, names))


def record_fields(item: MediaItem, names: ItemNames) -> dict[str, Any]:
    """The :class:`MediaRecord` fields of a row: the columns of the same name, the
    category names sorted, the original's id, and its names."""
    computed = {
        "categories": tuple(sorted(c.category for c in item.categories)),
        "derived_from": item.derived_from_id,
        **names.as_json(),
        "title_at": names.title_at,
    }
    return {
        f.name: computed[f.name] if f.name in computed else getattr(item, f.name)
        for f in fields(MediaRecord)
    }


@dataclass(frozen=True)
class CustodyRecord:
    """One chain-of-custody event of an item (ingested, viewed, tagged...)."""

    at: dt.datetime
    actor: str
    action: str
    details: dict[str, Any]

    @classmethod
    def of(cls, event: CustodyEvent) -> CustodyRecord:
        return cls(event.at, event.actor, event.action, event.details)


@dataclass(frozen=True)
class MarkerRecord:
    """A device marker of the item (OPS-3) and where it falls in the recording."""

    kind: str
    at: dt.datetime
    reason: str | None
    offset_seconds: float  # from the recorded start

    @classmethod
    def of(cls, marker: MediaMarker, start: dt.datetime) -> MarkerRecord:
        offset = (marker.at - start).total_seconds()
        return cls(marker.kind, marker.at, marker.reason, offset)


@dataclass(frozen=True)
class Continuation:
    """A recorder segment that continues the one before it without a keyframe (an
    endless GOP, :mod:`vms.continued`): its file alone does not decode. ``chain``: the
    segments before it its frames depend on, in time order, the keyframe's first;
    ``complete``: the chain was followed back to that keyframe (False: it is longer than
    ``vms.continued.MAX_CHAIN`` or broken by a gap, and its first frames do not decode
    even from it)."""

    previous_media_id: str
    chain: tuple[str, ...]
    complete: bool
    # The camera playback page for the segment's span (web/pages/playback.py), which
    # plays it decoded from the chain's keyframe.
    playback: str


@dataclass(frozen=True)
class MediaDetail(MediaRecord):
    """An item with its custody events (oldest first), the items derived from it, its
    device markers (time order, OPS-3) and, for a recorder segment continued without a
    keyframe, what it continues."""

    custody: tuple[CustodyRecord, ...]
    derived: tuple[str, ...]
    markers: tuple[MarkerRecord, ...] = ()
    continues: Continuation | None = None


@dataclass(frozen=True)
class MediaRef:
    """Only the id of an item the reader may not see in full."""

    id: str


@dataclass(frozen=True)
class Page:
    items: tuple[MediaRecord, ...]
    next_cursor: str | None


class Unchanged(enum.Enum):
    """A field of :class:`MediaChanges` that keeps its value."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class MediaChanges:
    """A tag change (TAG-1): each field is a new value, None to clear it, or
    ``UNCHANGED``. Texts come stripped and printable (the web layer's models)."""

    title: str | Unchanged | None = UNCHANGED
    categories: tuple[str, ...] | Unchanged = UNCHANGED
    case_number: str | Unchanged | None = UNCHANGED
    incident_number: str | Unchanged | None = UNCHANGED
    incident_type: str | Unchanged | None = UNCHANGED

    def changed(self) -> dict[str, Any]:
        """The fields that change, by name, in field order."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not UNCHANGED
        }


def encode_cursor(item: MediaRecord | MediaItem) -> str:
    raw = json.dumps([item.recorded_start.isoformat(), item.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        start, media_id = json.loads(base64.urlsafe_b64decode(padded))
        # Aware: a forged cursor with a naive time is refused here, not by the database
        # (#10.10, INV-7). Not bounded to the input years: it is a stored item's time.
        at = parse_time(start, "cursor", earliest=ANY_TIME[0], latest=ANY_TIME[1])
        return at, str(media_id)
    except (ValueError, TypeError, binascii.Error, InvalidArgument):
        raise InvalidArgument(
            f"cursor {shown(cursor)} is not one this server issued", field="cursor"
        ) from None
