"""Redactions API models (issue 16, item 3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from privacy_masks.redaction import (
    EditRedaction,
    ManualTrack,
    NewRedaction,
    TrackToggle,
)
from web.contract import OutTime, Printable, QueryModel, Range, RequestModel, ResponseModel

Id = Annotated[str, Printable(64, required=True, multiline=False)]
Detect = Literal["faces", "persons", "plates", "vehicles", "screens"]
MethodName = Literal["blur", "pixelate", "solid"]
Seconds = Annotated[float, Range(0, 366 * 24 * 3600)]

# -- requests ---------------------------------------------------------------------------


class NewRedactionIn(RequestModel):
    """A redaction job: the source (``media_id`` an item, or ``export_id`` a done
    export's clip: exactly one; ``clip`` the clip's index, 0-based, required when the
    export has several), what to detect, how to paint it (``[redaction] method`` when
    left out), and the audio ranges ``[start, end]`` (seconds from the item's start) to
    silence."""

    media_id: Id | None = None
    export_id: Id | None = None
    clip: Annotated[int, Range(0, 10_000)] | None = None
    detect: Annotated[list[Detect], Field(min_length=1, max_length=5)]
    method: MethodName | None = None
    audio_mute: Annotated[
        list[Annotated[list[Seconds], Field(min_length=2, max_length=2)]], Field(max_length=100)
    ] = []

    def command(self) -> NewRedaction:
        return NewRedaction(
            media_id=self.media_id,
            detect=tuple(self.detect),
            method=self.method,
            audio_mute=tuple((r[0], r[1]) for r in self.audio_mute),
            export_id=self.export_id,
            clip=self.clip,
        )


class TrackToggleIn(RequestModel):
    id: Annotated[int, Range(1, 1_000_000)]
    enabled: bool


class ManualTrackIn(RequestModel):
    """A box drawn by hand: keyframes ``[t, x, y, w, h]`` (seconds; the picture's
    pixels), interpolated linearly between them on every frame."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)

    cls: Literal["person", "face", "plate", "vehicle", "screen", "other"] = Field(alias="class")
    keyframes: Annotated[
        list[Annotated[list[float], Field(min_length=5, max_length=5)]],
        Field(min_length=1, max_length=1000),
    ]

    def command(self) -> ManualTrack:
        return ManualTrack(
            self.cls,
            tuple((k[0], k[1], k[2], k[3], k[4]) for k in self.keyframes),
        )


class EditRedactionIn(RequestModel):
    """Edits of a job under review: ``tracks`` enable or disable tracks by id; ``add``
    manual tracks; ``remove`` manual tracks by id; ``method``."""

    tracks: Annotated[list[TrackToggleIn], Field(max_length=10_000)] = []
    add: Annotated[list[ManualTrackIn], Field(max_length=100)] = []
    remove: Annotated[list[Annotated[int, Range(1, 1_000_000)]], Field(max_length=100)] = []
    method: MethodName | None = None

    def command(self) -> EditRedaction:
        return EditRedaction(
            tracks=tuple(TrackToggle(t.id, t.enabled) for t in self.tracks),
            add=tuple(a.command() for a in self.add),
            remove=tuple(self.remove),
            method=self.method,
        )


class RedactionListQuery(QueryModel):
    """The jobs of one item (the media page's list)."""

    media_id: Id


# -- responses --------------------------------------------------------------------------


class RedactionCreatedOut(ResponseModel):
    id: str
    state: str


class TrackOut(ResponseModel):
    """A track: a box ``[t, x, y, w, h]`` per frame (seconds from the start; pixels)."""

    model_config = ConfigDict(from_attributes=True, frozen=True, serialize_by_alias=True)

    id: int
    cls: str = Field(serialization_alias="class")
    enabled: bool
    manual: bool
    frames: list[list[float]]
    keyframes: list[list[float]]


class VideoOut(ResponseModel):
    """The original's video as the analysis found it."""

    width: int
    height: int
    fps: float
    """The review page's steps per second (step n at ``n / fps``, n < ``frames``; the
    last at the last frame's time): the frame rate when it is constant."""
    frames: int
    duration: float
    has_audio: bool
    start: float
    """The first frame's time on the player's clock, seconds: frame n plays at
    ``start + n / fps`` (a file with a camera's running timestamps starts late); the
    tracks' and keyframes' ``t`` count from the first frame."""


class RedactionSummaryOut(ResponseModel):
    """A job in a list: no tracks (``GET /redactions/{id}`` has them). ``media_id`` is
    the item redacted: for a job made from an export (``export_id``), its clip number
    ``clip``."""

    id: str
    media_id: str
    export_id: str | None
    clip: int | None
    state: str
    progress: float
    error: str | None
    method: str
    detect: list[str]
    created_by: str
    created_at: OutTime
    rendered: str | None = Field(validation_alias="rendered_media_id")


class RedactionOut(RedactionSummaryOut):
    """A redaction job. ``state``: queued, analysing, review, render_queued, rendering,
    done, failed; ``progress`` 0..1 of the current step; ``rendered`` the derived item
    once done; ``audio_mute`` is applied only when ``video.has_audio``."""

    audio_mute: list[list[float]]
    tracks: list[TrackOut]
    updated_at: OutTime
    video: VideoOut | None


class RedactionListOut(ResponseModel):
    """An item's redaction jobs, newest first (at most 200)."""

    redactions: list[RedactionSummaryOut]
