"""Catalog API models: search, detail, tag changes (TAG-1), categories (TAG-4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from vms.catalog_values import MAX_PAGE, UNCHANGED, MediaChanges, MediaQuery, RestrictionChange
from vms.db.models import SourceKind
from vms.markers import MarkerKind
from web.contract import (
    OutTime,
    Printable,
    QueryModel,
    Range,
    RequestId,
    RequestModel,
    ResponseModel,
    Time,
)

Source = Literal["fixed", "bwc", "dash", "handheld", "export", "redacted"]
# A filter value (device id, badge, case number, category name): printable, one line.
Filter = Annotated[str, Printable(200, multiline=False)]


class MediaSearchQuery(QueryModel):
    """Filters of a catalog search, newest first by recorded time."""

    source: Source | None = None
    device_id: Filter | None = None
    device: Filter | None = Field(None, description="Another name for device_id")
    officer_badge: Filter | None = None
    officer: Filter | None = Field(None, description="Another name for officer_badge")
    case_number: Filter | None = None
    case: Filter | None = Field(None, description="Another name for case_number")
    category: Filter | None = None
    has_marker: Literal["deactivation", "mute", "reactivation", "unmute"] | None = Field(
        None, description="Only items with a device marker of this kind (OPS-3)"
    )
    start: Time | None = Field(None, description="Recorded at or after this time")
    end: Time | None = Field(None, description="Recorded before this time")
    cursor: Annotated[str, Printable(500, multiline=False)] | None = Field(
        None, description="next_cursor of the previous page"
    )
    limit: Annotated[int, Range(1, MAX_PAGE)] = 50

    def command(self) -> MediaQuery:
        return MediaQuery(
            source=SourceKind(self.source) if self.source else None,
            device_id=self.device_id or self.device or None,
            officer_badge=self.officer_badge or self.officer or None,
            case_number=self.case_number or self.case or None,
            category=self.category or None,
            has_marker=MarkerKind(self.has_marker) if self.has_marker else None,
            start=self.start,
            end=self.end,
            cursor=self.cursor or None,
            limit=self.limit,
        )


# One-line printable texts as long as their columns.
Title = Annotated[str, Printable(500, multiline=False)]
CaseNumber = Annotated[str, Printable(64, multiline=False)]
IncidentType = Annotated[str, Printable(100, multiline=False)]


class MediaChangesIn(RequestModel):
    """A tag change: the fields sent change (null or an empty text clears one)."""

    title: Title | None = None
    categories: list[str] = Field(default_factory=list, description="Replaces the categories")
    case_number: CaseNumber | None = None
    incident_number: CaseNumber | None = None
    incident_type: IncidentType | None = None

    def command(self) -> MediaChanges:
        sent = self.model_fields_set

        def text(name: str) -> Any:
            return (getattr(self, name) or None) if name in sent else UNCHANGED

        return MediaChanges(
            title=text("title"),
            categories=tuple(self.categories) if "categories" in sent else UNCHANGED,
            case_number=text("case_number"),
            incident_number=text("incident_number"),
            incident_type=text("incident_type"),
        )


class RestrictionIn(RequestModel):
    """Mark the item restricted (``true``) or clear the mark, with the reason (ACC-7).
    ``request_id``: a UUID of the client's; a retry with it (and the same reason) after a
    lost answer is answered as the first request was (ACC-6)."""

    restricted: bool
    reason: Annotated[str, Printable(500, required=True)]
    request_id: RequestId | None = None

    def command(self) -> RestrictionChange:
        return RestrictionChange(
            restricted=self.restricted, reason=self.reason, form_key=self.request_id
        )


class CustodyOut(ResponseModel):
    at: OutTime
    actor: str
    action: str
    details: dict[str, Any]


class MediaOut(ResponseModel):
    id: str
    source: str
    media_type: str
    content_type: str
    device_id: str
    officer_badge: str | None
    recorded_start: OutTime
    recorded_end: OutTime | None
    recorded_start_origin: str
    duration_seconds: float | None
    codec: str | None
    width: int | None
    height: int | None
    size_bytes: int
    sha256: str
    original_filename: str | None
    title: str | None
    categories: list[str]
    case_number: str | None
    incident_number: str | None
    evidence: bool
    restricted: bool
    critical_incident: bool
    derived_from: str | None
    ingested_at: OutTime
    ingested_by: str
    expires_at: OutTime | None = Field(description="null: kept while held (RET-12)")
    retention_rule: str | None = Field(description="Which retention rule decided the expiry")
    pre_event_buffer_seconds: int | None = Field(
        None, description="Seconds of pre-event buffer at the head of the file (OPS-2)"
    )
    device_name: str | None = Field(description="The camera's or device's name")
    device_location: str | None = Field(description="A fixed camera's location, when set")
    officer_label: str | None = Field(description="'Name (badge)' of the item's officer")
    display_title: str = Field(description="The title, or camera name and time (segments)")


class MarkerOut(ResponseModel):
    """A device marker (OPS-3): deactivation or mute and their ends, with the reason."""

    kind: Literal["deactivation", "mute", "reactivation", "unmute"]
    at: OutTime
    reason: str | None
    offset_seconds: float = Field(description="Seconds from the recorded start")


class ContinuationOut(ResponseModel):
    """A recorder segment that continues the one before it without a keyframe (an
    endless GOP): its file alone does not decode; camera playback (``playback``) shows
    it decoded from the chain's keyframe."""

    previous_media_id: str = Field(
        description="The segment it continues (empty: none recorded back to back before it)"
    )
    chain: list[str] = Field(
        description="The segments its frames depend on, in time order, the keyframe's first"
    )
    complete: bool = Field(
        description="The chain reaches its keyframe (false: longer than the recorder "
        "follows, or broken: the first frames do not decode)"
    )
    playback: str = Field(description="The camera playback page for the segment's span")


class MediaDetailOut(MediaOut):
    custody: list[CustodyOut]
    derived: list[str]
    markers: list[MarkerOut] = Field(default_factory=list, description="Time order (OPS-3)")
    continues: ContinuationOut | None = Field(
        None,
        description="Set when the item is a recorder segment continued without a keyframe: "
        "its file alone does not decode (the download is still the stored bytes)",
    )


class MediaPageOut(ResponseModel):
    items: list[MediaOut]
    next_cursor: str | None


class CategoryOut(ResponseModel):
    name: str
    evidence: bool
    retention_days: int | None
    retention_basis: str


class CategoriesOut(ResponseModel):
    categories: list[CategoryOut]
