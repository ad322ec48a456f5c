"""Live view and recording API models: the MJPEG rate, the recording switch, the
timeline window and the playback moment, and what the recording state and timeline
answer (ACC-6, OPS-4)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from recorder.recording import SetRecording, TimelineWindow
from vms.bounded import parse_number
from vms.errors import InvalidArgument
from web.contract import OutTime, Printable, QueryModel, RequestModel, ResponseModel, Time

MAX_REASON = 200  # what the audit entry keeps
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _query_number(value: Any) -> float:
    """A finite decimal number written in a query string."""
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value.strip()):
        raise PydanticCustomError("vms_number", "is not a number")
    try:
        return parse_number(float(value), "value")
    except InvalidArgument:
        raise PydanticCustomError("vms_number", "is not a finite number") from None


QueryNumber = Annotated[float, BeforeValidator(_query_number), WithJsonSchema({"type": "number"})]


class MjpegQuery(QueryModel):
    fps: QueryNumber | None = Field(
        None, description="Frames per second, 0.5..15 (values outside are clamped; default 10)"
    )


class PlaybackQuery(QueryModel):
    at: Time = Field(
        description="The moment to play (ISO 8601 UTC); in a gap, the next segment from its start"
    )
    purpose: Annotated[str, Printable(100, multiline=False)] | None = Field(
        None, description="Why (ACC-4): one of [access] review_purposes; kept in the audit entry"
    )


class TimelineQuery(QueryModel):
    start: Time | None = Field(None, description="Default: an hour before end")
    end: Time | None = Field(None, description="Default: now")

    def command(self) -> TimelineWindow:
        return TimelineWindow(self.start, self.end)


class RecordingSwitchIn(RequestModel):
    """Recording on (``true``) or off, and why (kept in the audit entry)."""

    recording: bool
    reason: Annotated[str, Printable(MAX_REASON)] = ""

    def command(self) -> SetRecording:
        return SetRecording(self.recording, self.reason)


class EngineStatusOut(ResponseModel):
    camera_id: str
    state: str
    masked: bool
    mask_version: int
    recording: bool
    segments: int
    alarm: str | None
    gap_open: bool
    last_error: str | None
    reconnects: int
    packets: int
    blanked_frames: int
    mask_latency_p95_ms: float | None
    mask_latency_median_ms: float | None
    at: OutTime


class RecordingSettingOut(ResponseModel):
    camera_id: str
    recording: bool
    changed_at: OutTime | None
    changed_by: str | None


class RecordingStateOut(RecordingSettingOut):
    """The setting plus the media engine's reading (None: no engine records the camera
    in this process)."""

    engine: EngineStatusOut | None


class TimelineSegmentOut(ResponseModel):
    media_id: str
    start: OutTime
    end: OutTime | None
    size_bytes: int
    mask_version: int
    masked: bool


class TimelineGapOut(ResponseModel):
    start: OutTime
    end: OutTime | None
    cause: str
    detail: str | None


class TimelineOut(ResponseModel):
    camera_id: str
    start: OutTime
    end: OutTime
    segments: list[TimelineSegmentOut]
    gaps: list[TimelineGapOut]


class WallLayoutIn(RequestModel):
    layout: int = Field(description="Tiles of the live wall over WebRTC: 1, 4, 9 or 16")


class WallLayoutOut(ResponseModel):
    layout: int
