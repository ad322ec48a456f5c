"""Resumable upload models (TAG-5)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from vms.bounded import MAX_INT
from vms.db.models import SourceKind
from vms.markers import MAX_BUFFER_SECONDS, MAX_MARKERS, MAX_REASON, DeviceMarker, MarkerKind
from vms.uploads import NewUpload
from web.contract import OutTime, Printable, Range, RequestModel, ResponseModel, Time
from web.schemas.media import MediaDetailOut


def _line(max_len: int, *, required: bool = False) -> Printable:
    return Printable(max_len, required=required, multiline=False)


class MarkerIn(RequestModel):
    """A device marker (OPS-3): when the officer deactivated or muted the device, or
    resumed, and the reason given. Inside the recording (checked at ingest)."""

    kind: Literal["deactivation", "mute", "reactivation", "unmute"]
    at: Time
    reason: Annotated[str, _line(MAX_REASON)] | None = None

    def marker(self) -> DeviceMarker:
        return DeviceMarker(MarkerKind(self.kind), self.at, self.reason or None)


class NewUploadIn(RequestModel):
    """What the uploader knows of the file: its name, size and SHA-256, and what it
    records (the device, the officer, when)."""

    # As sent: the name is cleaned at ingest and the original kept in the custody record.
    filename: Annotated[str, Field(min_length=1)]
    size: Annotated[int, Range(1, MAX_INT)] = Field(description="Bytes")
    sha256: Annotated[str, _line(64, required=True)] = Field(description="64 hex digits")
    source: Literal["fixed", "bwc", "dash", "handheld"]
    device_id: Annotated[str, _line(64, required=True)]
    officer_badge: Annotated[str, _line(32)] | None = Field(
        None, description="Officers upload as themselves; default: the device's officer"
    )
    recorded_at: Time | None = None
    title: Annotated[str, _line(500)] | None = None
    categories: list[str] | None = None
    case_number: Annotated[str, _line(64)] | None = None
    incident_number: Annotated[str, _line(64)] | None = None
    pre_event_buffer_seconds: Annotated[int, Range(0, MAX_BUFFER_SECONDS)] | None = Field(
        None, description="Seconds of pre-event buffer at the head of the file (OPS-2)"
    )
    markers: Annotated[list[MarkerIn], Field(max_length=MAX_MARKERS)] | None = Field(
        None, description="Device markers: deactivation, mute and their ends (OPS-3)"
    )

    def command(self) -> NewUpload:
        return NewUpload(
            filename=self.filename,
            size=self.size,
            sha256=self.sha256,
            source=SourceKind(self.source),
            device_id=self.device_id,
            officer_badge=self.officer_badge or None,
            recorded_at=self.recorded_at,
            title=self.title or None,
            categories=tuple(self.categories or ()),
            case_number=self.case_number or None,
            incident_number=self.incident_number or None,
            pre_event_buffer_seconds=self.pre_event_buffer_seconds,
            markers=tuple(m.marker() for m in self.markers or ()),
        )


class DestructionOut(ResponseModel):
    """The destruction record of a completed upload's item (RET-13)."""

    id: int
    media_id: str
    sha256: str
    rule: str = Field(description="The retention rule the item expired under")
    expired_at: OutTime
    purged_at: OutTime


class UploadOut(ResponseModel):
    id: str
    filename: str
    size: int
    received: int = Field(description="Bytes received: the offset to send from")
    state: Literal["receiving", "complete", "failed"]
    media_id: str | None = Field(description="null once the item was purged (destruction)")
    error: str | None
    created_at: OutTime
    destruction: DestructionOut | None = Field(
        None,
        description="Complete, its item since destroyed by the retention purge: the "
        "destruction record (RET-13); null otherwise",
    )


class MediaRefOut(ResponseModel):
    """An item the uploader may not see: only its id."""

    id: str


class CompletedUploadOut(ResponseModel):
    upload: UploadOut
    duplicate: bool | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="The file was catalogued before; absent on a repeated complete",
    )
    media: MediaDetailOut | MediaRefOut = Field(union_mode="left_to_right")
