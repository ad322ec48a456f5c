"""The frame masking stage (privacy_masks/stage.py) on the simulator's own pictures: pose
-> plan -> raster -> paint, and fail closed (INV-5) on every path that cannot mask.

The pose source here is a fixed list of samples (the pose tracker is not under test; it
has its own tests in tests/onvif_control/test_pose.py). End to end through the recorder
the stage is checked by tests/recorder/test_leak.py.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import av

from onvif_control.simulator import SimulatedCamera, signature_mask
from privacy_masks.geometry import SpherePolygon
from privacy_masks.model import MaskSet
from privacy_masks.paint import BLACK_YUV, frame_planes, paint
from privacy_masks.planning import MaskSettings
from privacy_masks.stage import MaskStage
from tests.privacy_masks.conftest import SIZE, frame_from_i420, rgb_of, sim_pose, vms_calibration
from vms.camera_model import Calibration, Pose, PoseSample
from vms.media.codec import Decoder, Encoder
from vms.media.stream import RawPacket, StreamInfo

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
# The simulator's window zone is in view at home.
HOME = Pose(0.0, -10.0, 0.0)


class FixedPoses:
    """A PoseSource that knows the given samples (oldest first) for every camera."""

    def __init__(self, *samples: PoseSample) -> None:
        self.samples = list(samples)

    def latest(self, camera_id: str) -> PoseSample | None:
        return self.samples[-1] if self.samples else None

    def history(self, camera_id: str, since: dt.datetime) -> list[PoseSample]:
        return [s for s in self.samples if s.at >= since]


class BrokenPoses(FixedPoses):
    """A PoseSource whose every read fails (a bug or a dead dependency)."""

    def latest(self, camera_id: str) -> PoseSample | None:
        raise RuntimeError("pose store unreachable")


def sim_frame(camera: SimulatedCamera, pose: Pose) -> av.VideoFrame:
    """The simulator's picture at ``pose`` as a writable yuv420p PyAV frame."""
    i420 = camera._renderer_ready().render_i420(sim_pose(pose))
    return frame_from_i420(i420, *SIZE)


def leaked(frame: av.VideoFrame) -> int:
    return int(signature_mask(rgb_of(frame)).sum())


def all_black(frame: av.VideoFrame) -> bool:
    planes = frame_planes(frame)
    return bool(
        (planes.y == BLACK_YUV[0]).all()
        and (planes.u == BLACK_YUV[1]).all()
        and (planes.v == BLACK_YUV[2]).all()
    )


def masks_of(camera: SimulatedCamera) -> MaskSet:
    zones = [SpherePolygon(z.name, z.polygon) for z in camera.scene.private_zones]
    return MaskSet("cam", 1, tuple(zones))


def stage_for(camera: SimulatedCamera, poses: FixedPoses | None) -> MaskStage:
    return MaskStage("cam", poses, vms_calibration(camera), MaskSettings())


def test_fresh_still_pose_masks_the_zone_and_keeps_the_picture_PSCS_1(
    sim_camera: SimulatedCamera,
) -> None:
    frame = sim_frame(sim_camera, HOME)
    assert leaked(frame) > 0, "the pose should show a zone"
    still = PoseSample(HOME, T0 - dt.timedelta(seconds=0.5), moving=False)
    stage = stage_for(sim_camera, FixedPoses(still))
    assert stage.apply(frame, masks_of(sim_camera), T0) is False
    assert leaked(frame) == 0
    assert not all_black(frame)
    assert stage.stats.frames == 1 and stage.stats.blanked == 0 and stage.stats.errors == 0
    assert stage.stats.masked_pixels > 0


def test_no_pose_source_or_no_pose_blanks_the_frame_INV_5(sim_camera: SimulatedCamera) -> None:
    for poses, reason in (
        (None, "no pose source (INV-5)"),
        (FixedPoses(), "no pose (INV-5)"),
    ):
        frame = sim_frame(sim_camera, HOME)
        stage = stage_for(sim_camera, poses)
        assert stage.apply(frame, masks_of(sim_camera), T0) is True
        assert all_black(frame)
        assert stage.stats.blanked == 1 and stage.stats.reasons == {reason: 1}


def test_stale_pose_blanks_the_frame_INV_5(sim_camera: SimulatedCamera) -> None:
    old = PoseSample(HOME, T0 - dt.timedelta(seconds=2.5), moving=False)
    frame = sim_frame(sim_camera, HOME)
    stage = stage_for(sim_camera, FixedPoses(old))
    assert stage.apply(frame, masks_of(sim_camera), T0) is True
    assert all_black(frame)
    assert stage.stats.reasons == {"pose older than 2.0 s (INV-5)": 1}
    # The last frame's reason, for the recorder's blanking alarm (issue 12.3).
    assert stage.blanking == "pose older than 2.0 s (INV-5)"
    fresh = PoseSample(HOME, T0 - dt.timedelta(seconds=0.5), moving=False)
    stage.pose_source = FixedPoses(fresh)
    assert stage.apply(sim_frame(sim_camera, HOME), masks_of(sim_camera), T0) is False
    assert stage.blanking is None


def test_a_failure_in_the_stage_blanks_the_frame_and_is_counted_INV_5(
    sim_camera: SimulatedCamera,
) -> None:
    frame = sim_frame(sim_camera, HOME)
    stage = stage_for(sim_camera, BrokenPoses())
    assert stage.apply(frame, masks_of(sim_camera), T0) is True
    assert all_black(frame)
    assert stage.stats.errors == 1 and stage.stats.reasons == {"mask stage error": 1}


def test_overlapping_masks_leave_no_private_pixel_in_their_overlap_INV_5(
    sim_camera: SimulatedCamera,
) -> None:
    """An operator draws a second mask over part of a first (a wider window, a
    correction): the stage paints the union, their overlap included. Before, one
    even-odd fill of all of a camera's polygons left the overlap of two masks open."""
    zones = masks_of(sim_camera).polygons
    overlapping = []
    for zone in zones:
        pans = [p for p, _ in zone.vertices]
        shift = 0.4 * (max(pans) - min(pans))
        overlapping.append(
            SpherePolygon(f"{zone.name}-wider", tuple((p + shift, t) for p, t in zone.vertices))
        )
    masks = MaskSet("cam", 1, (*zones, *overlapping))
    frame = sim_frame(sim_camera, HOME)
    assert leaked(frame) > 0, "the pose should show a zone"
    still = PoseSample(HOME, T0 - dt.timedelta(seconds=0.5), moving=False)
    stage = stage_for(sim_camera, FixedPoses(still))
    assert stage.apply(frame, masks, T0) is False
    assert leaked(frame) == 0


def test_a_moving_cameras_frame_waits_for_the_pose_read_after_it() -> None:
    """Item 5: while the camera may move, a frame waits (at most ``pose_wait_seconds``
    after its capture) for a reading after it, so its plan is bounded between two
    readings; at rest, or without a clock, it does not wait."""
    import threading
    import time

    from vms.clock import SystemClock

    clock = SystemClock()
    settings = MaskSettings(capture_error_seconds=0.01, pose_wait_seconds=0.3)
    captured = clock.now()
    moving = PoseSample(
        Pose(0, 0, 0), captured - dt.timedelta(seconds=0.05), True, uncertainty=0.005
    )
    poses = FixedPoses(moving)
    stage = MaskStage("cam", poses, Calibration(), settings, clock=clock)

    def reply() -> None:
        time.sleep(0.08)
        poses.samples.append(
            PoseSample(
                Pose(1, 0, 0), captured + dt.timedelta(seconds=0.02), True, uncertainty=0.005
            )
        )

    threading.Thread(target=reply).start()
    waited = stage.await_pose(captured)
    # Until the reading after the frame arrived (0.08 s), not the whole 0.3 s.
    assert 0.07 <= waited < 0.25, waited
    assert stage.stats.waited == 1
    # No reading after it comes: it waits until pose_wait_seconds after the capture.
    late = clock.now()
    poses.samples[:] = [
        PoseSample(Pose(0, 0, 0), late - dt.timedelta(seconds=0.05), True, uncertainty=0.005)
    ]
    assert 0.25 <= stage.await_pose(late) < 0.6
    # At rest: no wait.
    still = clock.now()
    poses.samples[:] = [
        PoseSample(Pose(0, 0, 0), still - dt.timedelta(seconds=s), False, uncertainty=0.005)
        for s in (0.5, 0.05)
    ]
    assert stage.await_pose(still) == 0.0
    # A frame already older than the wait (a backlog): no wait either.
    old = captured - dt.timedelta(seconds=1)
    poses.samples[:] = [PoseSample(Pose(0, 0, 0), old - dt.timedelta(seconds=0.05), True)]
    assert stage.await_pose(old) < 0.01
    # A failing pose source: no wait, and apply() blanks the frame (INV-5).
    broken = MaskStage("cam", BrokenPoses(moving), Calibration(), settings, clock=clock)
    assert broken.await_pose(captured) == 0.0
    # Without a clock the stage never waits.
    assert MaskStage("cam", FixedPoses(moving), Calibration(), settings).await_pose(captured) == 0.0


def _h264(camera: SimulatedCamera, frames: int = 24) -> tuple[StreamInfo, list[RawPacket]]:
    """The simulator panning across its window zone, encoded (an IDR every 8 frames):
    the P-frames between are decoded from the pictures before them."""
    encoder = Encoder(*SIZE, 10.0, 8)
    packets = []
    for i in range(frames):
        picture = sim_frame(camera, _panned(i))
        packets += encoder.encode(picture, i * 9000)
    info = StreamInfo("h264", *SIZE, Fraction(1, 90000), b"", 10.0)
    return info, packets


def _panned(i: int) -> Pose:
    return Pose(-3.0 + 0.25 * i, -10.0, 0.0)


def _pixels(frame: av.VideoFrame) -> tuple[bytes, bytes, bytes]:
    planes = frame_planes(frame)
    return planes.y.tobytes(), planes.u.tobytes(), planes.v.tobytes()


def test_painting_the_decoders_own_pictures_puts_them_back_after_the_encode_INV_5(
    sim_camera: SimulatedCamera,
) -> None:
    """painted_on() paints the decoder's reference pictures (no whole-frame copy) and puts
    the masked pixels back when the block ends: every picture decoded after a painted one
    is bit-identical to a plain decode of the same stream, while the picture to encode in
    the block showed no private pixel. A fresh still pose masks in place; no pose blanks
    a copy, leaving the decoder's picture as it was."""
    info, packets = _h264(sim_camera)
    plain = Decoder(info)
    expected = [_pixels(f) for p in packets for f in plain.decode(p)]
    assert len(expected) == len(packets)

    # The premise: without the restore, the pictures after a painted one come out wrong.
    careless = Decoder(info, writable=False)
    spoilt = []
    for packet in packets:
        for frame in careless.decode(packet):
            spoilt.append(_pixels(frame))
            frame_planes(frame).y[:] = 0
    assert sum(a != b for a, b in zip(spoilt, expected, strict=True)) >= len(packets) // 2

    masks = masks_of(sim_camera)
    for masked in (True, False):
        stage = stage_for(sim_camera, FixedPoses())
        shared = Decoder(info, writable=False)
        got = []
        for i, packet in enumerate(packets):
            if masked:  # each frame's own pose, read while still
                still = PoseSample(_panned(i), T0 - dt.timedelta(seconds=0.5), moving=False)
                stage.pose_source = FixedPoses(still)
            for frame in shared.decode(packet):
                # As decoded: from reference pictures painted (and put back) before.
                got.append(_pixels(frame))
                with stage.painted_on(frame, masks, T0) as picture:
                    assert leaked(picture) == 0
                    assert all_black(picture) is not masked
                if masked:  # painted in place, and put back
                    assert _pixels(frame) == got[-1]
        assert stage.stats.frames == len(packets) and stage.stats.errors == 0
        assert stage.stats.blanked == (0 if masked else len(packets))
        assert got == expected


def test_a_held_plan_paints_in_reused_box_buffers_and_puts_every_picture_back_INV_5(
    sim_camera: SimulatedCamera,
) -> None:
    """A still camera's frames (the plan held, the mask painted again: bitwise, in box
    buffers the stage reuses from frame to frame) are painted exactly as ``paint``
    paints them and put back bit for bit, so the decoder's pictures stay the camera's;
    two pictures painted before either is put back get buffers of their own."""
    info, packets = _h264(sim_camera)
    plain = Decoder(info)
    expected = [_pixels(f) for p in packets for f in plain.decode(p)]
    masks = masks_of(sim_camera)
    still = PoseSample(HOME, T0 - dt.timedelta(seconds=0.5), moving=False)
    stage = stage_for(sim_camera, FixedPoses(still))
    shared = Decoder(info, writable=False)
    got: list[tuple[bytes, bytes, bytes]] = []
    kept: list[av.VideoFrame] = []
    for packet in packets:
        for frame in shared.decode(packet):
            got.append(_pixels(frame))
            reference = av.VideoFrame(frame.width, frame.height, "yuv420p")
            for view, source in zip(
                frame_planes(reference).__dict__.values(),
                frame_planes(frame).__dict__.values(),
                strict=True,
            ):
                view[:] = source
            saved = stage.paint_for_encode(frame, masks, T0)
            assert saved is not None and stage.painted is not None
            paint(frame_planes(reference), stage.painted)
            assert _pixels(frame) == _pixels(reference) != got[-1]
            stage.put_back(saved)
            assert _pixels(frame) == got[-1]
            kept = [*kept[-1:], frame]
    assert got == expected
    assert stage.stats.reused >= len(packets) - 2, "the plan was held"
    assert stage.stats.errors == 0 and stage.stats.blanked == 0
    # Two out at once (not the pipeline's order, which puts back before it decodes on).
    first, second = kept
    before = [_pixels(first), _pixels(second)]
    saved_first = stage.paint_for_encode(first, masks, T0)
    saved_second = stage.paint_for_encode(second, masks, T0)
    assert saved_first is not None and saved_second is not None
    assert saved_second.buffers is not saved_first.buffers
    stage.put_back(saved_first)
    stage.put_back(saved_second)
    assert [_pixels(first), _pixels(second)] == before
