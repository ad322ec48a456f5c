"""Commands and values of redaction jobs (issue 16; :mod:`privacy_masks.redaction`,
which re-exports them, runs the jobs)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vms.audit.log import Who
from vms.auth.permissions import ItemFacts, facts_of
from vms.db.models import MediaItem, Redaction


@dataclass(frozen=True)
class NewRedaction:
    """``POST /api/v1/redactions``: the source is ``media_id`` or ``export_id`` (exactly
    one; an export's clip, ``clip`` its index when the export has several). ``method``
    None: ``[redaction] method``."""

    media_id: str | None
    detect: tuple[str, ...]
    method: str | None = None
    audio_mute: tuple[tuple[float, float], ...] = ()
    export_id: str | None = None
    clip: int | None = None


@dataclass(frozen=True)
class TrackToggle:
    id: int
    enabled: bool


@dataclass(frozen=True)
class ManualTrack:
    """A box drawn by hand: keyframes ``(t seconds, x, y, w, h)`` in the picture's
    pixels, interpolated linearly between them on every frame."""

    cls: str
    keyframes: tuple[tuple[float, float, float, float, float], ...]


@dataclass(frozen=True)
class EditRedaction:
    """``PATCH /api/v1/redactions/{id}``: enable/disable tracks, add manual tracks,
    remove manual tracks, change the method."""

    tracks: tuple[TrackToggle, ...] = ()
    add: tuple[ManualTrack, ...] = ()
    remove: tuple[int, ...] = ()
    method: str | None = None


@dataclass(frozen=True)
class TrackRecord:
    id: int
    cls: str
    enabled: bool
    manual: bool
    frames: tuple[tuple[float, float, float, float, float], ...]
    keyframes: tuple[tuple[float, float, float, float, float], ...] = ()

    @classmethod
    def of(cls, data: dict[str, Any]) -> TrackRecord:
        return cls(
            id=int(data["id"]),
            cls=str(data["class"]),
            enabled=bool(data["enabled"]),
            manual=bool(data.get("manual", False)),
            frames=tuple(tuple(r) for r in data["frames"]),
            keyframes=tuple(tuple(r) for r in data.get("keyframes", [])),
        )


@dataclass(frozen=True)
class VideoFacts:
    """The original's video as the analysis found it."""

    width: int
    height: int
    fps: float
    frames: int
    duration: float
    has_audio: bool
    # The first frame's time on the player's clock (the review page's frame n is at
    # start + n / fps); 0 for jobs analysed before it was kept.
    start: float = 0.0
    # Detected rows are at their frames' presentation times; False for jobs analysed
    # before, whose rows are at index / fps (the render places those by index).
    timed: bool = False

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> VideoFacts | None:
        if not data:
            return None
        return cls(
            int(data["width"]),
            int(data["height"]),
            float(data["fps"]),
            int(data["frames"]),
            float(data["duration"]),
            bool(data["has_audio"]),
            float(data.get("start", 0.0)),
            bool(data.get("timed", False)),
        )


@dataclass(frozen=True)
class RedactionRecord:
    id: str
    media_id: str  # the source redacted: the item named, or the export's clip
    state: str
    progress: float
    error: str | None
    method: str
    detect: tuple[str, ...]
    classes: tuple[str, ...]
    audio_mute: tuple[tuple[float, float], ...]
    tracks: tuple[TrackRecord, ...]
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    rendered_media_id: str | None
    video: VideoFacts | None
    render_by: Who | None  # who asked for the render
    export_id: str | None = None  # the export whose clip is the source
    clip: int | None = None  # which of its clips (0-based)

    @classmethod
    def of(cls, row: Redaction) -> RedactionRecord:
        request = row.request
        return cls(
            id=row.id,
            media_id=row.media_id,
            state=row.state,
            progress=row.progress,
            error=row.error,
            method=row.method,
            detect=tuple(request.get("detect", [])),
            classes=tuple(request.get("classes", [])),
            audio_mute=tuple((float(a), float(b)) for a, b in request.get("audio_mute", [])),
            tracks=tuple(TrackRecord.of(t) for t in row.tracks),
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            rendered_media_id=row.rendered_media_id,
            video=VideoFacts.of(request.get("video")),
            render_by=Who(*request["render_by"]) if request.get("render_by") else None,
            export_id=request.get("export", {}).get("id"),
            clip=request.get("export", {}).get("clip"),
        )


@dataclass
class Progress:
    """Writes progress to the row and publishes it, at most every 2 %."""

    report: Callable[[float], None]
    last: float = -1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self, value: float) -> None:
        value = min(1.0, max(0.0, value))
        if value >= 1.0 or value - self.last >= 0.02:
            self.last = value
            self.report(value)


def stamped_after(previous: dt.datetime, now: dt.datetime) -> dt.datetime:
    """A job's ``updated_at`` for a change to it: ``now``, but always after the last one
    (a clock stepped back, another node's clock a little behind). The review page orders
    the answers it gets by it: a read served before an edit was stored and answered
    after the edit's own answer is older, and is not drawn over it."""
    return max(now, previous + dt.timedelta(microseconds=1))


def item_facts(item: MediaItem) -> ItemFacts:
    return facts_of(item)


def interpolate(
    keyframes: Sequence[tuple[float, float, float, float, float]], fps: float, frames: int
) -> list[list[float]]:
    """A manual track's box on every frame from its first keyframe to its last (clipped
    to the video's ``frames``), linear between consecutive keyframes."""
    out: list[list[float]] = []
    keys = [(round(k[0] * fps), k[1:]) for k in keyframes]
    if len(keys) == 1:
        index, box = keys[0]
        return [[round(index / fps, 4), *box]] if index < frames else []
    for (f0, b0), (f1, b1) in itertools.pairwise(keys):
        last = f1 == keys[-1][0]
        for index in range(f0, f1 + 1 if last else f1):
            if index >= frames:
                break
            t = (index - f0) / (f1 - f0) if f1 > f0 else 0.0
            lerped = [round(a + (b - a) * t, 2) for a, b in zip(b0, b1, strict=True)]
            out.append([round(index / fps, 4), *lerped])
    return out
