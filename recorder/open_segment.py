"""The segment a writer has open: its spool file, and its place on the catalog's time
line while the clock is set or the camera's timestamps jump (INV-7, OPS-4).

Used only by :class:`recorder.segments.SegmentWriter`, on its own thread; see
docs/design/recording.md for why a segment's capture times are shifted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from recorder.fanout import EncodedPacket
from recorder.spool import SpoolName
from vms.media.mp4 import Mp4Writer
from vms.media.stream import StreamInfo

# Capture times of an open segment that move this much further than the media time are
# a step of the clock (NTP correcting it, an operator setting it), not the estimates'
# jitter (INV-7).
CLOCK_STEP = dt.timedelta(seconds=5)


@dataclass
class OpenSegment:
    path: Path
    writer: Mp4Writer
    name: SpoolName
    last: dt.datetime
    frame: dt.timedelta
    info: StreamInfo
    # Where the segment is cut even without a keyframe (SegmentWriter: start +
    # SEGMENT_LIMIT_FACTOR x segment_seconds, on the catalog's time line like ``last``).
    limit: dt.datetime
    # The keyframe the segment's MP4 takes its codec parameters from: its own first
    # packet, or, for a segment continued without a keyframe, the one before it's.
    template: bytes
    # Its first packet is no keyframe: it continues the segment before it, cut at its
    # limit, and decodes after it (custody ``continues_without_keyframe``).
    continued: bool = False
    packets: int = 0
    # How far the start was moved up to the floor from the first packet's capture time;
    # every capture time of the segment is moved as far, so it keeps the span it holds
    # and closes after ``segment_seconds`` of video even when its capture times all lie
    # before the floor (the clock stepped back: INV-7, OPS-4).
    shift: dt.timedelta = dt.timedelta(0)
    # The last packet written: its capture time and pts (for follow_step).
    last_capture: dt.datetime | None = None
    last_pts: int | None = None
    # The last DTS written, relative to the segment's first: the muxer refuses one that
    # does not increase.
    last_dts: int | None = None
    # A keyframe was asked for, the segment being due to end (SegmentWriter._overdue).
    keyframe_asked: bool = False

    @property
    def start(self) -> dt.datetime:
        return self.name.start

    def placed(self, capture: dt.datetime) -> dt.datetime:
        """``capture`` (of this segment's packets) on the catalog's time line."""
        return capture + self.shift

    def follow_step(self, capture: dt.datetime, pts: int) -> dt.timedelta | None:
        """When the capture time since the last packet written moved more than
        :data:`CLOCK_STEP` away from the media time between them, the clock was set (back,
        or forward): the segment's time line follows the media time over the step (the
        shift takes the step, which is returned) instead of jumping with the clock, so the
        segment spans the video it holds."""
        if self.last_capture is None or self.last_pts is None:
            return None
        media = dt.timedelta(seconds=float((pts - self.last_pts) * self.info.time_base))
        step = capture - self.last_capture - media
        if abs(step) <= CLOCK_STEP:
            return None
        self.shift -= step
        return step

    def media_jump(self, packet: EncodedPacket) -> bool:
        """Whether the media time since the last packet written moved more than
        :data:`CLOCK_STEP` while its capture time did not: the camera's timestamps
        jumped, not the server's clock (whose step moves the capture times)."""
        if self.last_capture is None or self.last_pts is None:
            return False
        media = float((packet.pts - self.last_pts) * self.info.time_base)
        captured = packet.capture - self.last_capture
        return abs(media) > CLOCK_STEP.total_seconds() and abs(captured) <= CLOCK_STEP

    @property
    def mask_version(self) -> int:
        return self.name.mask_version
