"""Capture-time estimates (recorder/timing.py, INV-5): pure, on made-up read times."""

from __future__ import annotations

import datetime as dt

from recorder.timing import CaptureClock

T0 = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
PERIOD = 0.1  # 10 fps
WIRE = 0.002  # capture to arrival


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_demuxer_that_hands_a_frame_over_when_the_next_begins_is_not_a_frame_late() -> None:
    """FFmpeg's RTSP demuxer returns frame N once frame N+1's first data has been parsed:
    each read returns a frame interval after that frame arrived. Timed by its own read
    alone every frame was a frame interval late (as measured end to end by the leak
    test before the fix); with the read before it as a bound none is, and the session's
    first (no read before it) is timed by its read less the declared frame interval, so
    the first frame is not a step apart from the rest (a recording's first segment
    would start a frame interval late and overlap the next)."""
    lagging, own_read_only = CaptureClock(PERIOD), CaptureClock()
    previous: dt.datetime | None = None
    late, late_own = [], []
    for n in range(50):
        media = n * PERIOD
        read = at(media + PERIOD + WIRE)  # frame n + 1 has arrived
        estimate = lagging.capture(media, read, previous)
        late.append((estimate - at(media)).total_seconds())
        late_own.append((own_read_only.capture(media, read) - at(media)).total_seconds())
        previous = read
    assert all(abs(x - WIRE) < 1e-6 for x in late), late[:5]
    assert all(abs(x - (PERIOD + WIRE)) < 1e-6 for x in late_own)


def test_a_read_delayed_by_the_pipeline_does_not_make_later_frames_late() -> None:
    """A read held up (the pipeline busy) returns late; the earliest bound so far wins."""
    clock = CaptureClock()
    previous: dt.datetime | None = None
    errors = []
    for n in range(20):
        media = n * PERIOD
        read = at(media + PERIOD + WIRE + (0.4 if n == 10 else 0.0))
        errors.append((clock.capture(media, read, previous) - at(media)).total_seconds())
        previous = read
    assert max(errors[1:]) < WIRE + 1e-3, errors


def test_the_first_frame_read_in_a_burst_with_the_one_before_is_timed_like_the_rest() -> None:
    """The packets the demuxer read while opening the stream come out together: the read
    before the first frame timed (a packet dropped before the first keyframe) bounds
    nothing, and the declared frame interval stands in for the lag."""
    clock = CaptureClock(PERIOD)
    first_read = at(PERIOD + WIRE)
    errors = [(clock.capture(0.0, first_read, first_read) - at(0.0)).total_seconds()]
    previous = first_read
    for n in range(1, 10):
        read = at(n * PERIOD + PERIOD + WIRE)
        estimate = clock.capture(n * PERIOD, read, previous)
        errors.append((estimate - at(n * PERIOD)).total_seconds())
        previous = read
    assert all(abs(x - WIRE) < 1e-6 for x in errors), errors
