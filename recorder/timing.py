"""Capture times of received frames (pure; the caller passes arrival times).

A camera stamps frames with RTP timestamps on its own clock; we need UTC capture times on
*our* clock, the one pose samples are stamped with. :class:`CaptureClock` keeps the
smallest ``arrival - media_time`` seen (the transport delay can only add to arrival),
so ``capture = media_time + offset`` tracks the earliest plausible capture, and it
forgets the minimum slowly (``drift_per_second``) to follow clock drift.

"Arrival" is when the demuxer hands the frame over, and FFmpeg's RTSP demuxer hands an
H.264 frame over only once its parser has seen the *next* frame begin (it finds where a
frame ends by where the next one starts). By then the next frame's first packet had
arrived, so the read before a frame is itself a bound on that frame's arrival, one frame
interval tighter than the frame's own read: without it every estimate was late by one
frame interval (100 ms at 10 fps, 200 ms at 5 fps: more than the masks' 0.15 s timestamp
allowance). Both bounds are kept; the smaller wins. The first packet timed has no read
before it, or one of the same burst (the packets the demuxer read while opening the
stream come out together): its own read less one frame interval of the declared rate stands in
(so the first frame is timed like the rest and a recording has no step of a frame
interval after its first packet; a declared rate lower than the real one makes estimates
early by the difference of the intervals, a higher one late). Errors are then in the
direction of *later* capture estimates only as far as the first packets arrived late; the
mask margin (speed x (age + latency allowance)) absorbs the rest (INV-5).
"""

from __future__ import annotations

import datetime as dt


class CaptureClock:
    """Maps stream timestamps (seconds) to estimated UTC capture times."""

    def __init__(self, frame_interval: float = 0.0, drift_per_second: float = 1e-4) -> None:
        """``frame_interval``: seconds between frames at the stream's declared rate, which
        stands in for the demuxer's lag for the first packet timed (module doc)."""
        self._offset: float | None = None  # seconds: arrival (POSIX) - media time
        self._last_arrival = 0.0
        self._interval = frame_interval
        self._drift = drift_per_second

    def reset(self) -> None:
        self._offset = None

    def capture(
        self,
        media_seconds: float,
        arrival: dt.datetime,
        previous_read: dt.datetime | None = None,
    ) -> dt.datetime:
        """Estimated capture time of a packet with media time ``media_seconds`` that was
        read at ``arrival`` (aware UTC). ``previous_read``: when the read before it (of
        the same demuxer session, whatever packet it gave) returned, which the demuxer
        did only once this packet's data had arrived (see the module doc)."""
        now = arrival.timestamp()
        offset = now - media_seconds
        if previous_read is not None:
            offset = min(offset, previous_read.timestamp() - media_seconds)
        if self._offset is None:
            # The first packet timed (after construction or reset): no read before it, or
            # one of the same burst (packets the demuxer read while opening the stream
            # come out together); one frame interval stands in for the lag.
            self._offset = min(offset, now - self._interval - media_seconds)
        else:
            # Let the minimum creep up slowly so a drifting camera clock is followed.
            self._offset += self._drift * max(0.0, now - self._last_arrival)
            self._offset = min(self._offset, offset)
        self._last_arrival = now
        return dt.datetime.fromtimestamp(media_seconds + self._offset, dt.UTC)


# A wall clock that moved this much more or less than the monotonic one between two
# reads was set (NTP stepping it, an operator): not the readings' own jitter.
WALL_STEP = dt.timedelta(seconds=0.1)


def wall_step(
    previous_wall: dt.datetime, wall: dt.datetime, previous_monotonic: float, monotonic: float
) -> dt.timedelta:
    """How far the wall clock was set between two readings of it and of the monotonic
    clock (zero when it only ran). :class:`CaptureClock` follows a step back at once
    (arrivals get earlier, and it keeps the smallest offset) but not a step forward: it
    keeps the old, smaller offset, so the caller resets it (INV-5, INV-7)."""
    return (wall - previous_wall) - dt.timedelta(seconds=monotonic - previous_monotonic)
