"""A camera whose stream timestamps misbehave (a broken or hostile camera; a camera
whose RTP clock restarts): the footage already recorded is kept and catalogued, and
the recording goes on (INV-1, OPS-4)."""

from __future__ import annotations

import datetime as dt
import time

import av
import numpy as np
import pytest

from recorder.fanout import EncodedPacket, PacketHub
from recorder.recording import RecordingLog
from recorder.segments import SegmentWriter
from tests.recorder.conftest import wait_for
from tests.recorder.test_reliability import assert_complete, ended, gaps
from tests.recorder.test_salvage import FPS, T0, publish_frames, spool_dir
from tests.recorder.test_salvage import writer_for as salvage_writer_for
from vms.media.codec import Encoder
from vms.services import Services

TICKS = 90000 // FPS  # one frame in the encoder's 90 kHz time base


def record_with_a_jump(services: Services, camera: str, jump_ticks: int) -> None:
    """5 s of video (a keyframe each second) into 30 s segments; from 3 s in, the
    camera's timestamps move by ``jump_ticks`` while its frames keep coming in time."""
    hub = PacketHub(camera)
    writer = salvage_writer_for(services, camera, hub, segment_seconds=30.0)
    writer.start()
    encoder = Encoder(160, 120, FPS, keyint=FPS)
    base = np.random.default_rng(13).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    frame_time = dt.timedelta(seconds=1 / FPS)
    for i in range(5 * FPS):
        image = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
        for packet in encoder.encode(image.reformat(format="yuv420p"), i * TICKS):
            assert packet.pts is not None and packet.dts is not None
            n = packet.pts // TICKS
            shift = jump_ticks if n >= 3 * FPS else 0
            hub.publish(
                EncodedPacket(
                    packet,
                    packet.pts + shift,
                    packet.dts + shift,
                    T0 + n * frame_time,
                    encoder.info,
                    False,
                    0,
                )
            )
    writer.stop()


@pytest.mark.parametrize(
    "jump_ticks",
    [-3 * FPS * TICKS, -3 * FPS * TICKS - 7 * TICKS, -TICKS],
    ids=["restart-at-zero", "before-zero", "one-frame-back"],
)
def test_timestamps_going_back_keep_the_footage_before_them_INV_1_OPS_4(
    services: Services, jump_ticks: int
) -> None:
    """Before: the muxer refused the first packet whose DTS went back, and the writer
    dropped the whole segment in progress (up to ``segment_seconds`` of good footage,
    its file deleted) as 'segment writer failed'. Now the segment ends before that
    packet and is catalogued; a new one starts at the next keyframe."""
    camera = "cam-back"
    record_with_a_jump(services, camera, jump_ticks)
    rows = assert_complete(services, camera)
    assert rows, (
        f"nothing catalogued; gaps: {[(g.cause, g.detail) for g in gaps(services, camera)]}"
    )
    assert rows[0].recorded_start == T0
    assert rows[0].recorded_end is not None and rows[0].recorded_end >= T0 + dt.timedelta(
        seconds=2.9
    ), [(r.recorded_start, r.recorded_end) for r in rows]
    assert "stream_error" in [g.cause for g in gaps(services, camera)]  # OPS-4
    # The recording goes on after the jump (the next keyframe: at 4 s at the latest).
    assert rows[-1].recorded_end is not None
    assert rows[-1].recorded_end >= T0 + dt.timedelta(seconds=4.9)


@pytest.mark.parametrize(
    "jump_ticks",
    [3600 * 90000, 10 * 365 * 86400 * 90000, -3600 * 90000],
    ids=["an-hour-ahead", "ten-years-ahead", "an-hour-back"],
)
def test_timestamps_jumping_do_not_move_the_recording_in_time_INV_7_OPS_4(
    services: Services, jump_ticks: int
) -> None:
    """The camera's timestamps jump (its frames keep coming in time: the capture times
    do not). Before: the writer took the jump for a step of the server's clock and moved
    the segment's time line by it: 5 s of footage was catalogued as 12:00:00 to
    13:00:05, and every later segment started an hour ahead (the floor), as far ahead
    as the camera liked (evidence dated years away). Now the segment ends before the
    jump, a gap opens, and the next keyframe starts a segment at its capture time."""
    camera = "cam-jump"
    record_with_a_jump(services, camera, jump_ticks)
    rows = assert_complete(services, camera)
    spans = [(r.recorded_start, r.recorded_end) for r in rows]
    assert rows and rows[0].recorded_start == T0, spans
    assert all(end is not None and end <= T0 + dt.timedelta(seconds=5.2) for _, end in spans), spans
    assert spans[0][1] is not None and spans[0][1] >= T0 + dt.timedelta(seconds=2.9), spans
    assert "stream_error" in [g.cause for g in gaps(services, camera)]  # OPS-4


def test_a_stream_stopping_mid_segment_ends_it_with_a_stalled_gap_OPS_4(
    services: Services,
) -> None:
    """A camera trickling a byte every half second keeps FFmpeg's read waiting for a
    whole packet without its socket timeout ever firing (PyAV's per-read timeout was
    removed in session 13 for its cost), so no Interruption ever came: the segment in
    progress stayed open, not catalogued, and no gap was recorded (only the video-lost
    alarm told). Now the segment writer, which drains on a timer, ends a segment that
    got no packet for ``stall_seconds``: catalogued up to its last packet, a ``stalled``
    gap opened there (OPS-4). No packet is published after the first 3 s here."""
    camera = "cam-trickle"
    hub = PacketHub(camera)
    writer = SegmentWriter(
        camera,
        hub,
        spool_dir(services, camera),
        services.ingestor,
        services.store,
        services.ports.get(RecordingLog),
        services.events,
        services.clock,
        segment_seconds=60.0,
        stall_seconds=1.0,
    )
    writer.start()
    try:
        rng = np.random.default_rng(7)
        publish_frames(hub, T0, [rng.integers(0, 255, (120, 160, 3), np.uint8)] * (3 * FPS))
        wait_for(lambda: ended(services, camera), 20, "a gap while no packet comes")
        [gap] = gaps(services, camera)  # no "added" gap: the first packet came at once
        [row] = assert_complete(services, camera)
        assert (gap.cause, gap.end) == ("stalled", None)
        assert row.recorded_end == gap.start
        assert row.recorded_end is not None
        assert row.recorded_end >= T0 + dt.timedelta(seconds=2.9)
    finally:
        writer.stop()


def test_a_segment_past_its_length_without_a_keyframe_asks_for_one_OPS_4(
    services: Services,
) -> None:
    """A segment ends only at a keyframe. A camera that sends one keyframe and then P
    frames only (a broken or hostile camera, a "smart codec" with an endless GOP) kept
    one segment open without end: its spool file grew past the store's reserve checked
    at its start, and nothing of it was catalogued (not findable, not retained under its
    rules) until the camera sent a keyframe or the recorder stopped. Once the segment
    holds half again ``segment_seconds`` of video the writer asks for a keyframe (the engine's
    request_keyframe: the mask encoder, or ONVIF SetSynchronizationPoint), once per
    segment, checked per drain round (nothing per packet)."""
    camera = "cam-endless-gop"
    hub = PacketHub(camera)
    asked: list[int] = []
    writer = salvage_writer_for(
        services, camera, hub, segment_seconds=1.0, keyframe=lambda: asked.append(1)
    )
    writer.start()
    try:
        encoder = Encoder(160, 120, FPS, keyint=1000)  # one keyframe, then P frames only
        base = np.random.default_rng(5).integers(0, 255, (120, 160, 3), dtype=np.uint8)
        frame_time = dt.timedelta(seconds=1 / FPS)
        for i in range(4 * FPS):
            image = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
            for packet in encoder.encode(image.reformat(format="yuv420p"), i * TICKS):
                assert packet.pts is not None and packet.dts is not None
                n = packet.pts // TICKS
                capture = T0 + n * frame_time
                hub.publish(
                    EncodedPacket(packet, packet.pts, packet.dts, capture, encoder.info, False, 0)
                )
        wait_for(lambda: asked, 10, "a keyframe asked for the overdue segment")
        time.sleep(0.5)  # more drain rounds: still one request for this segment
        assert asked == [1]
    finally:
        writer.stop()
