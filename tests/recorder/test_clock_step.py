"""The server's clock stepped back (NTP correcting a clock that ran ahead, an operator
fixing a wrong date) while the camera's last segment is catalogued at the old, later
time (INV-7, OPS-4, RET-1).

The segment writer never starts a segment before where the camera's recording is known
to have got to (its floor, read from the catalog at start): capture times from the
stepped-back clock all lie before it. Segments must still close every
``segment_seconds`` of video and be catalogued with the span they hold.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from onvif_control.simulator import SimulatedCamera
from recorder.engine import get as get_recorder
from recorder.fanout import EncodedPacket, Item, PacketHub
from recorder.ownership import Ownership
from recorder.pipeline import CameraSpec
from recorder.recording import RecordingLog
from recorder.segments import SegmentWriter
from tests.conftest import make_config
from tests.recorder.conftest import PASSWORD, USERNAME, wait_for
from tests.recorder.test_reliability import assert_complete, gaps
from tests.recorder.test_salvage import (
    FPS,
    T0,
    assert_no_overlaps,
    ingest_segment,
    publish_frames,
    spool_dir,
)
from tests.recorder.test_salvage import writer_for as salvage_writer_for
from vms.clock import ManualClock, SystemClock
from vms.media.codec import Encoder
from vms.services import Services


def test_segments_still_close_after_the_clock_stepped_back_an_hour_INV_7_OPS_4(
    services: Services,
) -> None:
    """Before: the writer started the segment at the floor and rotated it when a packet's
    capture time was ``segment_seconds`` past that start, which no capture time from the
    stepped-back clock reached for an hour: nothing was catalogued until the recorder
    stopped (no playback, the spool file growing), and the one segment then was
    catalogued as a single frame (0.1 s) whatever it held."""
    camera = "cam-stepped"
    ahead = T0 + dt.timedelta(hours=1)  # recorded while the clock ran an hour ahead
    ingest_segment(services, camera, ahead - dt.timedelta(seconds=10), 10)
    hub = PacketHub(camera)
    writer = salvage_writer_for(services, camera, hub, segment_seconds=1.0)
    writer.start()
    base = np.random.default_rng(11).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    # 4.5 s of video (a keyframe each second), captured on the corrected clock.
    publish_frames(hub, T0, [np.roll(base, i, axis=1) for i in range(int(4.5 * FPS))])
    writer.stop()

    rows = assert_complete(services, camera)
    new = [r for r in rows if r.recorded_start >= ahead]
    assert len(new) == 5, [(r.recorded_start, r.recorded_end) for r in new]
    spans = [(r.recorded_end - r.recorded_start).total_seconds() for r in new]  # type: ignore[operator]
    assert spans[:4] == [1.0, 1.0, 1.0, 1.0], spans
    assert abs(spans[4] - 0.5) < 1e-6, spans
    assert new[0].recorded_start == ahead
    for before, after in itertools.pairwise(new):
        assert before.recorded_end == after.recorded_start
    assert_no_overlaps(services, camera)
    assert [g.cause for g in gaps(services, camera)][:1] == ["restart"]


def record_with_a_step(services: Services, camera: str, step: dt.timedelta) -> None:
    """5.5 s of video (a keyframe each second) into 1 s segments; 2.5 s in, the capture
    times step by ``step`` (the clock was set)."""
    hub = PacketHub(camera)
    writer = salvage_writer_for(services, camera, hub, segment_seconds=1.0)
    writer.start()
    encoder = Encoder(160, 120, FPS, keyint=FPS)
    base = np.random.default_rng(12).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    frame_time = dt.timedelta(seconds=1 / FPS)
    step_at = int(2.5 * FPS)
    for i in range(int(5.5 * FPS)):
        rgb = np.roll(base, i, axis=1)
        image = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        for packet in encoder.encode(image, i * 90000 // FPS):
            assert packet.pts is not None and packet.dts is not None
            n = packet.pts // (90000 // FPS)
            capture = T0 + n * frame_time + (step if n >= step_at else dt.timedelta(0))
            hub.publish(
                EncodedPacket(packet, packet.pts, packet.dts, capture, encoder.info, False, 0)
            )
    writer.stop()


def spans(services: Services, camera: str) -> list[float]:
    rows = assert_complete(services, camera)
    return [(r.recorded_end - r.recorded_start).total_seconds() for r in rows]  # type: ignore[operator]


def test_segments_still_close_when_the_clock_steps_back_while_recording_INV_7_OPS_4(
    services: Services,
) -> None:
    """The same step an hour back, while the stream runs (NTP correcting a clock that ran
    ahead since boot): the capture times of the open segment jump back an hour. Before,
    that segment never reached ``segment_seconds`` past its start again until the
    recorder stopped, and was then catalogued as a single frame."""
    camera = "cam-step-live"
    record_with_a_step(services, camera, -dt.timedelta(hours=1))
    rows = assert_complete(services, camera)
    assert len(rows) == 6, [(r.recorded_start, r.recorded_end) for r in rows]
    seconds = spans(services, camera)
    assert seconds[:5] == [1.0] * 5 and abs(seconds[5] - 0.5) < 1e-6, seconds
    assert rows[0].recorded_start == T0
    for before, after in itertools.pairwise(rows):
        assert before.recorded_end == after.recorded_start
    assert_no_overlaps(services, camera)


def test_no_segment_claims_the_hour_a_clock_stepped_forward_INV_7_OPS_4(
    services: Services,
) -> None:
    """The clock set forward an hour while the stream runs (a server that booted behind
    and then synchronised): before, the open segment ended at the first capture time
    after the step and was catalogued as an hour of video that held 1 s. Each segment now
    spans the video it holds; the next starts on the corrected clock."""
    camera = "cam-step-forward"
    record_with_a_step(services, camera, dt.timedelta(hours=1))
    rows = assert_complete(services, camera)
    seconds = spans(services, camera)
    assert max(seconds) <= 1.0 + 1e-6, [(r.recorded_start, r.recorded_end) for r in rows]
    assert abs(sum(seconds) - 5.5) < 1e-6, seconds
    assert rows[0].recorded_start == T0
    assert rows[-1].recorded_end == T0 + dt.timedelta(hours=1, seconds=5.5)
    assert_no_overlaps(services, camera)


class SettableClock(SystemClock):
    """The system's clock, whose wall time an operator (or NTP) can set: ``set_by``
    moves the wall reading and leaves the monotonic one alone, as on a real machine."""

    def __init__(self) -> None:
        self._offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return super().now() + self._offset

    def set_by(self, step: dt.timedelta) -> None:
        self._offset += step


@pytest.fixture
def settable_services(tmp_path: Path) -> Iterator[tuple[Services, SettableClock]]:
    clock = SettableClock()
    data = tmp_path / "var"
    services = Services.open(make_config(data, f"sqlite:///{data / 'vms.db'}"), clock=clock)
    services.migrate()
    try:
        yield services, clock
    finally:
        services.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("step_hours", [1, -1])
def test_capture_times_follow_the_clock_when_it_is_set_while_streaming_INV_5_INV_7(
    settable_services: tuple[Services, SettableClock], sim: SimulatedCamera, step_hours: int
) -> None:
    """A server that booted with its clock behind (an hour here; 1970 without a
    real-time clock) and is then set right while a camera streams. Before, the capture
    clock kept the smallest arrival - media time it had seen, so its estimates stayed
    on the old time line (creeping 0.1 ms a second) until the stream reconnected:
    segments dated an hour (or 56 years) early, which RET-1 counts from (a new camera's
    1970 segments expire at once); and frames an hour older than the pose samples
    stamped since, which the masks are planned from (INV-5)."""
    services, clock = settable_services
    recorder = get_recorder(services)
    scheme, rest = sim.rtsp_url.split("://", 1)
    recorder.add_camera(CameraSpec("set", f"{scheme}://{USERNAME}:{PASSWORD}@{rest}"))
    packets: list[EncodedPacket] = []
    lock = threading.Lock()

    def collect(item: Item) -> None:
        if isinstance(item, EncodedPacket):
            with lock:
                packets.append(item)

    recorder.hub("set").subscribe(collect)
    recorder.start()
    try:
        wait_for(lambda: len(packets) >= 10, 60, "10 packets")
        clock.set_by(dt.timedelta(hours=step_hours))
        with lock:
            seen = len(packets)
        wait_for(lambda: len(packets) >= seen + 20, 60, "20 packets after the step")
        with lock:
            after = [p.capture for p in packets[seen + 10 :]]
        now = clock.now()
    finally:
        recorder.stop()
    late = [(now - c).total_seconds() for c in after]
    assert all(-1 < s < 10 for s in late), late[:5]


@pytest.mark.parametrize("after", ["restart", "takeover"])
def test_cameras_are_recorded_again_when_the_clock_is_set_back_after_a_crash_INV_9_INV_7(
    services: Services, clock: ManualClock, after: str
) -> None:
    """A media node's camera leases and heartbeat were stamped by a clock that ran an hour
    ahead; the node was killed (no hand-back) and the clock set right. Before, the node
    restarted with the same id could not claim its own cameras again, nor could another
    node take them over, until the stale leases expired an hour later: nothing recorded
    them meanwhile. A lease (or heartbeat) later than two leases from now is stale."""
    lease = dt.timedelta(seconds=10)
    cameras = ["c1", "c2"]
    right = clock.now()
    clock.set(right + dt.timedelta(hours=1))
    assert set(Ownership(services.db, clock, "node-a", lease).round(cameras)) == set(cameras)
    clock.set(right + dt.timedelta(minutes=1))  # killed; the clock set right
    name = "node-a" if after == "restart" else "node-b"
    assert set(Ownership(services.db, clock, name, lease).round(cameras)) == set(cameras)


def test_recording_switched_off_is_honoured_after_the_clock_steps_back_INV_7_OPS_4(
    services: Services,
) -> None:
    """The writer re-reads the camera's recording switch every ``state_poll_seconds`` of
    capture time. Before, once capture times stepped back an hour, "since the last read"
    was negative for that hour: recording switched off (or on) by an operator was not
    noticed until the clock came round, and footage went on being recorded (or was not)."""
    camera = "cam-switch"
    state = {"on": True}
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
        segment_seconds=1.0,
        enabled=lambda _camera: state["on"],
    )
    writer.start()
    encoder = Encoder(160, 120, FPS, keyint=FPS)
    base = np.random.default_rng(13).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    frame_time = dt.timedelta(seconds=1 / FPS)
    step_at = int(2.5 * FPS)
    for i in range(int(5.5 * FPS)):
        rgb = np.roll(base, i, axis=1)
        image = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        for packet in encoder.encode(image, i * 90000 // FPS):
            assert packet.pts is not None and packet.dts is not None
            n = packet.pts // (90000 // FPS)
            capture = T0 + n * frame_time
            if n >= step_at:
                capture -= dt.timedelta(hours=1)
                state["on"] = False  # switched off just as the clock is set back
            hub.publish(
                EncodedPacket(packet, packet.pts, packet.dts, capture, encoder.info, False, 0)
            )
        writer._wake.set()
        wait_for(lambda: not writer._items, 10, "the writer to drain")
    writer.stop()

    seconds = spans(services, camera)
    assert sum(seconds) <= 3.0, seconds
    assert "recording_off" in [g.cause for g in gaps(services, camera)]
