"""Device markers and the pre-event buffer of an uploaded recording (OPS-2, OPS-3).

A body-worn camera keeps a pre-event buffer (30 s at Denver, 001 2.2; 60 s at Hartford,
004): when the officer starts an event the buffered seconds are saved at the head of the
file (OPS-2). When the officer mutes the audio or switches back to buffering, and again
when recording resumes, the device records a marker with the reason the officer gave
(000 D.3.b.2, 001 3.4.9: OPS-3). Uploads and dock sidecars carry both in their metadata;
they are checked here (each refusal names the field and the value), stored with the item
(``media_items.pre_event_buffer_seconds``, ``media_markers``), shown on the media page
and searchable (``has_marker``). docs/design/recording.md, "Device markers".
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vms.bounded import shown
from vms.clock import isoformat
from vms.errors import InvalidArgument
from vms.recorded_time import parse_recorded_at

# A device's buffer is seconds to a couple of minutes; more is a wrong value, not a buffer.
MAX_BUFFER_SECONDS = 600
# More markers than this on one file is a broken device or a hostile upload.
MAX_MARKERS = 200
MAX_REASON = 500
# A marker may sit this far outside the recorded span (device clock rounding).
SLACK = dt.timedelta(seconds=2)
# Before the duration is known (an upload's create), a marker more than this after the
# stated start is refused at once; the ingest checks the exact span.
MAX_RECORDING = dt.timedelta(hours=24)


class MarkerKind(enum.StrEnum):
    """What the officer did to the device (OPS-3)."""

    DEACTIVATION = "deactivation"  # back to buffering: no event recording
    MUTE = "mute"  # audio off
    REACTIVATION = "reactivation"  # event recording again
    UNMUTE = "unmute"  # audio on again


@dataclass(frozen=True)
class DeviceMarker:
    """One device marker (OPS-3): when, what, and the reason the officer gave."""

    kind: MarkerKind
    at: dt.datetime
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "at": isoformat(self.at), "reason": self.reason}


def check_buffer(seconds: object, name: str = "pre_event_buffer_seconds") -> int | None:
    """A pre-event buffer length in whole seconds 0..MAX_BUFFER_SECONDS (OPS-2)."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise InvalidArgument(
            f"{name} {shown(seconds)} must be a whole number of seconds", field=name
        )
    if not 0 <= seconds <= MAX_BUFFER_SECONDS:
        raise InvalidArgument(
            f"{name} {seconds} must be 0..{MAX_BUFFER_SECONDS} seconds (OPS-2)", field=name
        )
    return seconds


def parse_markers(raw: object, name: str = "markers") -> tuple[DeviceMarker, ...]:
    """Markers from JSON (an upload's stored metadata, a dock sidecar): a list of
    ``{"kind", "at", "reason"}``; each refusal names the field and the value (OPS-3)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidArgument(f"{name} must be a list, not {shown(raw)}", field=name)
    if len(raw) > MAX_MARKERS:
        raise InvalidArgument(
            f"{name} has {len(raw)} markers: at most {MAX_MARKERS} (OPS-3)", field=name
        )
    markers = []
    for i, entry in enumerate(raw):
        where = f"{name}[{i}]"
        if not isinstance(entry, Mapping):
            raise InvalidArgument(f"{where} must be an object, not {shown(entry)}", field=where)
        unknown = set(entry) - {"kind", "at", "reason"}
        if unknown:
            raise InvalidArgument(
                f"{where}.{sorted(unknown)[0]} is not a marker field (kind, at, reason)",
                field=where,
            )
        when = parse_recorded_at(entry.get("at"), field=f"{where}.at")
        markers.append(_marker(entry.get("kind"), when, entry.get("reason"), where))
    return check_markers(markers, name)


def _marker(kind: object, at: dt.datetime, reason: object, where: str) -> DeviceMarker:
    try:
        marker_kind = MarkerKind(str(kind)) if isinstance(kind, str) else None
    except ValueError:
        marker_kind = None
    if marker_kind is None:
        raise InvalidArgument(
            f"{where}.kind {shown(kind)} is not one of "
            f"{', '.join(k.value for k in MarkerKind)} (OPS-3)",
            field=f"{where}.kind",
        )
    if reason is not None and not isinstance(reason, str):
        raise InvalidArgument(
            f"{where}.reason {shown(reason)} must be a text", field=f"{where}.reason"
        )
    text = (reason or "").strip() or None
    if text is not None and (len(text) > MAX_REASON or not text.isprintable()):
        raise InvalidArgument(
            f"{where}.reason must be at most {MAX_REASON} printable characters",
            field=f"{where}.reason",
        )
    return DeviceMarker(marker_kind, at, text)


def check_markers(
    markers: Sequence[DeviceMarker], name: str = "markers"
) -> tuple[DeviceMarker, ...]:
    """The count, kinds and reasons of already-typed markers, in the order given (OPS-3)."""
    if len(markers) > MAX_MARKERS:
        raise InvalidArgument(
            f"{name} has {len(markers)} markers: at most {MAX_MARKERS} (OPS-3)", field=name
        )
    return tuple(
        _marker(m.kind.value, m.at, m.reason, f"{name}[{i}]") for i, m in enumerate(markers)
    )


def check_span(
    markers: Sequence[DeviceMarker],
    buffer_seconds: int | None,
    start: dt.datetime,
    end: dt.datetime | None,
) -> None:
    """Markers inside the recording ``start..end`` (the file, its buffer included), and a
    buffer no longer than the recording; ``end`` None: not known yet (an upload's create),
    so only what is absurd whatever the duration (before the start, a day after) is refused."""
    if buffer_seconds is not None and end is not None:
        length = (end - start).total_seconds()
        if buffer_seconds > length + SLACK.total_seconds():
            raise InvalidArgument(
                f"pre_event_buffer_seconds {buffer_seconds} is longer than the recording "
                f"({length:g} s, OPS-2)",
                field="pre_event_buffer_seconds",
            )
    last = end if end is not None else start + MAX_RECORDING
    for i, marker in enumerate(markers):
        if not start - SLACK <= marker.at <= last + SLACK:
            span = f"{isoformat(start)}..{isoformat(end)}" if end else f"from {isoformat(start)}"
            raise InvalidArgument(
                f"markers[{i}].at {isoformat(marker.at)} is outside the recording ({span}, OPS-3)",
                field=f"markers[{i}].at",
            )


def check_recording_span(
    markers: Sequence[DeviceMarker],
    buffer_seconds: int | None,
    label: str,
    start: dt.datetime,
    end: dt.datetime | None,
) -> None:
    """The buffer and markers inside the recording as probed (OPS-2, OPS-3): a file
    without a duration (a document, a still) has no span for them."""
    if not markers and buffer_seconds is None:
        return
    if end is None:
        raise InvalidArgument(
            f"{label} has no duration: pre_event_buffer_seconds and markers are for recordings",
            field="markers" if markers else "pre_event_buffer_seconds",
        )
    check_span(markers, buffer_seconds, start, end)


def marker_details(
    markers: Sequence[DeviceMarker], buffer_seconds: int | None
) -> dict[str, object]:
    """What the ingest's audit entry says of the buffer and markers (OPS-2, OPS-3)."""
    details: dict[str, object] = {}
    if buffer_seconds is not None:
        details["pre_event_buffer_seconds"] = buffer_seconds
    if markers:
        details["markers"] = len(markers)
    return details
