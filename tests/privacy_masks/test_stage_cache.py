"""The cheaper mask stage (issue 12 item 5): masks painted in place on the yuv420p planes
from a prepared mask, and the projection kept while the camera is still.

Proven here: the painted pixels are exactly those of the reference fill of
``mask_for_frame``'s mask (luma 2x2 blocks and both chroma planes) for several poses,
still and moving, on the first frame and on frames served from the kept projection;
a mask edge on an odd luma pixel rounds outward in the chroma planes; odd picture sizes
are covered to the last row and column; and the kept projection is dropped when the
pose, the masks, a lift, the calibration or the frame size change, and after a failure
(INV-5, PSCS-1).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import av
import numpy as np
import pytest

import privacy_masks.stage as stage_module
from onvif_control.simulator import SimulatedCamera
from privacy_masks.geometry import SpherePolygon, rasterise
from privacy_masks.model import LiftWindow, MaskSet
from privacy_masks.paint import BLACK_YUV, Planes, blank, frame_planes, paint, prepare
from privacy_masks.planning import MaskSettings, mask_for_frame, plan_masks
from privacy_masks.stage import MaskStage
from tests.privacy_masks.conftest import SIZE, WINDOW_ZONE, vms_calibration
from tests.privacy_masks.test_stage import HOME, FixedPoses, leaked, masks_of, sim_frame
from vms.camera_model import Calibration, Pose, PoseSample
from vms.clock import ManualClock

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
HALF = dt.timedelta(seconds=0.5)


def still(pose: Pose, at: dt.datetime = T0) -> FixedPoses:
    return FixedPoses(PoseSample(pose, at - HALF, moving=False))


def moving(a: Pose, b: Pose) -> FixedPoses:
    return FixedPoses(
        PoseSample(a, T0 - dt.timedelta(seconds=0.3), moving=True),
        PoseSample(b, T0 - dt.timedelta(seconds=0.1), moving=True),
    )


def reference_fill(planes: Planes, mask: np.ndarray) -> None:
    """The fill a chroma-resolution mask stands for, written out independently: every
    masked cell's chroma samples and its whole 2x2 luma block (cut at the picture)."""
    h, w = planes.y.shape
    luma = np.kron(mask, np.ones((2, 2), dtype=bool)).astype(bool)[:h, :w]
    planes.y[luma] = BLACK_YUV[0]
    planes.u[mask] = BLACK_YUV[1]
    planes.v[mask] = BLACK_YUV[2]


def same_planes(a: av.VideoFrame, b: av.VideoFrame) -> bool:
    pa, pb = frame_planes(a), frame_planes(b)
    return all(np.array_equal(x, y) for x, y in ((pa.y, pb.y), (pa.u, pb.u), (pa.v, pb.v)))


class Counting:
    """Counts the stage's calls of one of its functions (``name`` in its module)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.calls = 0
        original = getattr(stage_module, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(stage_module, name, counted)


def counting_projections(monkeypatch: pytest.MonkeyPatch) -> Counting:
    """Counts the stage's projections (calls of ``mask_for_frame``)."""
    return Counting(monkeypatch, "mask_for_frame")


def counting_plans(monkeypatch: pytest.MonkeyPatch) -> Counting:
    """Counts the stage's plans (calls of ``plan_masks``)."""
    return Counting(monkeypatch, "plan_masks")


@pytest.mark.parametrize(
    "poses",
    [
        still(HOME),
        still(Pose(8.0, 0.0, 0.6)),
        still(Pose(106.0, -10.0, 0.3)),
        still(Pose(3.3, -7.7, 0.15)),
        moving(Pose(-2.0, -10.0, 0.0), Pose(1.0, -9.0, 0.05)),
    ],
    ids=["home", "zoomed", "other-zone", "odd-pose", "moving"],
)
def test_stage_paints_exactly_the_reference_fill_first_and_kept_PSCS_1(
    sim_camera: SimulatedCamera, poses: FixedPoses
) -> None:
    """No private pixel leaks: the stage's in-place paint equals the reference fill of the
    old path's mask on every plane, on the first frame and on a frame painted from the
    kept projection; and the simulator shows no private pixel after either."""
    masks = masks_of(sim_camera)
    calibration = vms_calibration(sim_camera)
    newest = poses.samples[-1]
    plan = plan_masks(T0, newest, poses.samples, MaskSettings())
    assert not plan.blank
    mask = mask_for_frame(masks.polygons, plan, calibration, SIZE)
    assert mask is not None and mask.any(), "the pose should put a mask in view"
    stage = MaskStage("cam", poses, calibration, MaskSettings())
    for n in range(2):
        expected = sim_frame(sim_camera, newest.pose)
        reference_fill(frame_planes(expected), mask)
        frame = sim_frame(sim_camera, newest.pose)
        assert stage.apply(frame, masks, T0) is False
        assert same_planes(frame, expected)
        assert leaked(frame) == 0
        assert stage.stats.reused == n
    assert stage.stats.masked_pixels == 2 * 4 * int(mask.sum())


def test_a_mask_edge_on_an_odd_pixel_rounds_outward_in_chroma_PSCS_1() -> None:
    """A rectangle from luma (13, 7) to (27, 21) (odd edges): every luma pixel in it and
    every chroma sample whose 2x2 block it touches are painted, nothing beyond the blocks."""
    width, height = 64, 32
    frame = av.VideoFrame(width, height, "yuv420p")
    planes = frame_planes(frame)
    planes.y[:], planes.u[:], planes.v[:] = 200, 90, 170
    rect = np.array([[13.0, 7.0], [27.0, 7.0], [27.0, 21.0], [13.0, 21.0]])
    mask = rasterise([rect], (width, height))
    paint(planes, prepare(mask))
    assert (planes.y[7:21, 13:27] == BLACK_YUV[0]).all()
    # Blocks touched: luma rows 7..20 -> cells 3..10, columns 13..26 -> cells 6..13.
    for plane, colour in ((planes.u, BLACK_YUV[1]), (planes.v, BLACK_YUV[2])):
        assert (plane[3:11, 6:14] == colour).all()
    # The conservative raster may take a neighbouring block at an edge, never less; luma
    # and chroma stay in step block by block.
    painted_cells = planes.u == BLACK_YUV[1]
    assert np.array_equal(painted_cells, mask)
    luma_blocks = (planes.y == BLACK_YUV[0]).reshape(height // 2, 2, width // 2, 2)
    assert np.array_equal(luma_blocks.all(axis=(1, 3)), mask)
    assert np.array_equal(luma_blocks.any(axis=(1, 3)), mask)


def test_odd_picture_sizes_are_covered_to_the_last_row_and_column_INV_5() -> None:
    """yuv420p of an odd size has ceil(w/2) x ceil(h/2) chroma samples: the last luma
    column and row have their own, which a mask reaching them and a blank must cover."""
    width, height = 65, 33
    frame = av.VideoFrame(width, height, "yuv420p")
    planes = frame_planes(frame)
    assert planes.u.shape == planes.v.shape == (17, 33)
    planes.y[:], planes.u[:], planes.v[:] = 200, 90, 170
    corner = np.array([[50.0, 20.0], [65.0, 20.0], [65.0, 33.0], [50.0, 33.0]])
    mask = rasterise([corner], (width, height))
    assert mask.shape == (17, 33)
    paint(planes, prepare(mask))
    assert (planes.y[20:, 50:] == BLACK_YUV[0]).all()
    assert (planes.u[10:, 25:] == BLACK_YUV[1]).all() and (planes.v[10:, 25:] == 128).all()
    blank(planes)
    assert (planes.y == 16).all() and (planes.u == 128).all() and (planes.v == 128).all()
    # And through the stage: a mask over the whole view paints every sample (not blanked).
    poses = still(HOME)
    around = ((-60.0, -60.0), (60.0, -60.0), (60.0, 40.0), (-60.0, 40.0))
    masks = MaskSet("cam", 1, (SpherePolygon("around", around),))
    stage = MaskStage("cam", poses, Calibration(), MaskSettings())
    frame = av.VideoFrame(width, height, "yuv420p")
    planes = frame_planes(frame)
    planes.y[:], planes.u[:], planes.v[:] = 200, 90, 170
    assert stage.apply(frame, masks, T0) is False
    assert (planes.y == 200).sum() == 0 and (planes.u == 90).sum() == 0


def test_a_still_camera_projects_once_and_repaints_identically(
    sim_camera: SimulatedCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    projections = counting_projections(monkeypatch)
    poses = still(HOME)
    stage = MaskStage("cam", poses, vms_calibration(sim_camera), MaskSettings())
    masks = masks_of(sim_camera)
    frames = []
    for n in range(5):
        at = T0 + dt.timedelta(seconds=n / 15)
        poses.samples = [PoseSample(HOME, at - HALF, moving=False)]  # fresh, same pose
        frame = sim_frame(sim_camera, HOME)
        assert stage.apply(frame, masks, at) is False
        frames.append(frame)
    assert projections.calls == 1 and stage.stats.reused == 4
    assert all(same_planes(frames[0], f) for f in frames[1:])


def test_the_kept_projection_is_dropped_on_pose_mask_size_and_failure_INV_5(
    sim_camera: SimulatedCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    projections = counting_projections(monkeypatch)
    calibration = vms_calibration(sim_camera)
    poses = still(HOME)
    stage = MaskStage("cam", poses, calibration, MaskSettings())
    masks = masks_of(sim_camera)

    def apply(pose: Pose, mask_set: MaskSet = masks) -> av.VideoFrame:
        poses.samples = [PoseSample(pose, T0 - HALF, moving=False)]
        frame = sim_frame(sim_camera, pose)
        assert stage.apply(frame, mask_set, T0) is False
        return frame

    apply(HOME)
    apply(HOME)
    assert (projections.calls, stage.stats.reused) == (1, 1)
    # Any pose change, however small, projects again, and paints the new pose's mask.
    nudged = Pose(HOME.pan + 1e-6, HOME.tilt, HOME.zoom)
    apply(nudged)
    assert projections.calls == 2
    moved = Pose(8.0, 0.0, 0.6)
    frame = apply(moved)
    assert projections.calls == 3 and leaked(frame) == 0
    plan = plan_masks(T0, poses.samples[-1], poses.samples, MaskSettings())
    expected = sim_frame(sim_camera, moved)
    reference_fill(frame_planes(expected), mask_for_frame(masks.polygons, plan, calibration, SIZE))
    assert same_planes(frame, expected)
    # A new mask version projects again, even with the same polygons.
    apply(moved, MaskSet(masks.camera_id, masks.version + 1, masks.polygons))
    assert projections.calls == 4
    # Other polygons: only the remaining one is painted.
    fewer = MaskSet(masks.camera_id, masks.version + 2, masks.polygons[:1])
    apply(moved, fewer)
    assert projections.calls == 5

    # A failing projection blanks (INV-5) and forgets: the next frame projects again.
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("projection failed")

    working = stage_module.mask_for_frame
    monkeypatch.setattr(stage_module, "mask_for_frame", broken)
    poses.samples = [PoseSample(HOME, T0 - HALF, moving=False)]
    frame = sim_frame(sim_camera, HOME)
    assert stage.apply(frame, masks, T0) is True
    assert stage.stats.reasons == {"mask stage error": 1}
    monkeypatch.setattr(stage_module, "mask_for_frame", working)
    reused = stage.stats.reused
    apply(HOME)
    assert projections.calls == 6 and stage.stats.reused == reused


def test_the_kept_projection_follows_the_frame_size_and_calibration(
    sim_camera: SimulatedCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    projections = counting_projections(monkeypatch)
    calibration = vms_calibration(sim_camera)
    poses = still(HOME)
    stage = MaskStage("cam", poses, calibration, MaskSettings())
    masks = masks_of(sim_camera)
    assert stage.apply(sim_frame(sim_camera, HOME), masks, T0) is False
    small = av.VideoFrame(160, 90, "yuv420p")
    assert stage.apply(small, masks, T0) is False, "a mask shaped for the new size"
    assert projections.calls == 2 and stage.stats.errors == 0
    # A wider lens (recalibrated): the zone is elsewhere in the picture.
    stage.calibration = dataclasses.replace(calibration, hfov_wide=calibration.hfov_wide * 1.2)
    frame = sim_frame(sim_camera, HOME)
    assert stage.apply(frame, masks, T0) is False
    assert projections.calls == 3
    plan = plan_masks(T0, poses.samples[-1], [], MaskSettings())
    expected = sim_frame(sim_camera, HOME)
    reference_fill(
        frame_planes(expected), mask_for_frame(masks.polygons, plan, stage.calibration, SIZE)
    )
    assert same_planes(frame, expected)


def test_a_lift_ending_repaints_the_mask_with_a_kept_projection_PSCS_1(
    sim_camera: SimulatedCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One stage across a lift's window: the kept projection of the lifted set is not
    used once the lift has ended by the clock, and the zone is painted again."""
    projections = counting_projections(monkeypatch)
    base = masks_of(sim_camera)
    index = [p.name for p in base.polygons].index("flat-3b-window")
    ends = T0 + dt.timedelta(minutes=5)
    masks = MaskSet(base.camera_id, 2, base.polygons, (LiftWindow(index, "l1", T0, ends),))
    clock = ManualClock(T0)
    poses = still(HOME)
    stage = MaskStage("cam", poses, vms_calibration(sim_camera), MaskSettings(), clock=clock)

    def leaked_at(now: dt.datetime, captured: dt.datetime) -> int:
        clock.set(now)
        poses.samples = [PoseSample(HOME, captured - HALF, moving=False)]
        frame = sim_frame(sim_camera, HOME)
        assert stage.apply(frame, masks, captured) is False
        return leaked(frame)

    assert leaked_at(T0, T0) > 0, "inside the window: lifted"
    assert leaked_at(T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=1)) > 0
    assert (projections.calls, stage.stats.reused) == (1, 1)
    # The clock leaves the window while the frame is stamped inside it: masked again.
    late = ends - dt.timedelta(milliseconds=10)
    assert leaked_at(ends, late) == 0
    assert projections.calls == 2
    assert leaked_at(ends + dt.timedelta(seconds=1), ends + dt.timedelta(seconds=1)) == 0
    assert projections.calls == 2 and stage.stats.reused == 2


def test_a_held_still_plan_paints_what_planning_every_frame_paints_INV_5(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pipeline's path (``await_pose`` then ``painted_on``) over 11 s of a camera
    that sits still, gets new readings at the same pose and one a little further, moves
    (a command, moving readings), settles elsewhere, loses its pose source until the
    pose is stale, comes back and loses it again: every frame is painted exactly as a
    plan made for it from the samples visible then (``plan_masks`` + ``mask_for_frame``,
    or blank), and put back after;
    the still stretches are held, not planned again every frame."""
    plans = counting_plans(monkeypatch)
    settings = MaskSettings()
    window = dt.timedelta(seconds=settings.history_seconds)
    masks = MaskSet("cam", 1, (WINDOW_ZONE,))
    calibration = Calibration()
    clock = ManualClock(T0)
    poses = FixedPoses(PoseSample(HOME, T0 - HALF, moving=False, uncertainty=0.01))
    stage = MaskStage("cam", poses, calibration, settings, clock=clock)
    stage.disable_registration()  # the telemetry plan itself is compared
    elsewhere = Pose(2.0, -9.0, 0.1)
    nudged = Pose(0.4, -10.0, 0.0)

    def reading(pose: Pose, at: dt.datetime, moving: bool = False) -> PoseSample:
        return PoseSample(pose, at, moving, uncertainty=0.01)

    held = blanked = 0
    for n in range(170):
        captured = T0 + dt.timedelta(seconds=n / 15)
        arrived = captured - dt.timedelta(seconds=0.03)
        if n in (0, 15):
            poses.samples.append(reading(HOME, arrived))  # a new object, the same pose
        elif n == 20:
            poses.samples.append(reading(nudged, arrived))  # still, a little further
        elif n == 30:
            poses.samples.append(PoseSample(elsewhere, arrived, True, commanded=True))
        elif 31 <= n <= 36:
            step = (n - 30) / 6
            pose = Pose(2.0 * step, -10.0 + step, 0.1 * step)
            poses.samples.append(reading(pose, arrived, moving=True))
        elif n in (38, 45, 60, 120, 125):
            # None in 61..119 (the pose goes stale), then again, and none after 125:
            # stale again from 155 on.
            poses.samples.append(reading(elsewhere, arrived))
        clock.set(captured + dt.timedelta(seconds=0.05))
        frame = av.VideoFrame(*SIZE, "yuv420p")
        planes = frame_planes(frame)
        planes.y[:], planes.u[:], planes.v[:] = 200, 90, 170
        calls = plans.calls
        stage.await_pose(captured)
        latest = poses.latest("cam")
        plan = plan_masks(captured, latest, poses.history("cam", captured - window), settings)
        expected = av.VideoFrame(*SIZE, "yuv420p")
        want = frame_planes(expected)
        want.y[:], want.u[:], want.v[:] = 200, 90, 170
        if plan.blank:
            blank(want)
            blanked += 1
        else:
            mask = mask_for_frame(masks.polygons, plan, calibration, SIZE)
            assert mask is not None
            reference_fill(want, mask)
        with stage.painted_on(frame, masks, captured) as picture:
            assert same_planes(picture, expected), (n, plan)
        held += plans.calls == calls
        if not plan.blank:  # put back after the encode (blank frames are painted on a copy)
            assert (planes.y == 200).all() and (planes.u == 90).all(), n
    # Held: the frames at home after each new reading up to the nudge (18), and those
    # after the pose came back once the move's samples had left the history window,
    # until it went stale (28). Planned: every frame while a command, a moving reading
    # or two poses were in the window, and every stale one.
    assert held >= 40, held
    assert blanked > 40 and plans.calls == 170 - held
    assert stage.stats.errors == 0


def test_a_held_plan_gives_way_to_a_new_mask_set_lifts_and_another_size_INV_5(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each of these plans the frame in full: a new MaskSet (even of the same version),
    a set with a lift, a frame of another size, a frame captured before the held one."""
    plans = counting_plans(monkeypatch)
    masks = MaskSet("cam", 1, (WINDOW_ZONE,))
    poses = FixedPoses(PoseSample(HOME, T0 - HALF, moving=False))
    stage = MaskStage("cam", poses, Calibration(), MaskSettings(), clock=ManualClock(T0))
    frame = av.VideoFrame(*SIZE, "yuv420p")

    def apply(mask_set: MaskSet, at: dt.datetime, picture: av.VideoFrame = frame) -> int:
        calls = plans.calls
        assert stage.apply(picture, mask_set, at) is False
        return plans.calls - calls

    tick = dt.timedelta(seconds=1 / 15)
    assert apply(masks, T0) == 1
    assert apply(masks, T0 + tick) == 0  # held
    same = MaskSet("cam", 1, masks.polygons)
    assert apply(same, T0 + 2 * tick) == 1
    assert apply(same, T0 + 3 * tick) == 0
    lifted = MaskSet("cam", 2, masks.polygons, (LiftWindow(0, "l1", T0, T0 + HALF),))
    assert apply(lifted, T0 + 4 * tick) == 1
    assert apply(lifted, T0 + 5 * tick) == 1, "lifts end by the clock: never held"
    assert apply(same, T0 + 6 * tick) == 1
    assert apply(same, T0 + 7 * tick, av.VideoFrame(640, 360, "yuv420p")) == 1
    assert apply(same, T0 + 8 * tick, av.VideoFrame(640, 360, "yuv420p")) == 0
    # A frame captured before the one the plan was made for (and held from).
    assert apply(same, T0 + 6 * tick, av.VideoFrame(640, 360, "yuv420p")) == 1, "earlier"
    # The pose source failing while held: the frame is blanked (INV-5).
    assert apply(same, T0 + 9 * tick, av.VideoFrame(640, 360, "yuv420p")) == 0

    def broken(camera_id: str) -> PoseSample | None:
        raise RuntimeError("pose store unreachable")

    monkeypatch.setattr(poses, "latest", broken)
    assert stage.apply(av.VideoFrame(640, 360, "yuv420p"), same, T0 + 10 * tick) is True


def _noise(width: int, height: int, seed: int) -> av.VideoFrame:
    """A yuv420p frame of random pixels (a paint is seen on every pixel it covers)."""
    rows = height + (height + 1) // 2 if height % 2 else height * 3 // 2
    data = np.random.default_rng(seed).integers(0, 256, (rows, width), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(data, format="yuv420p")


def test_the_pipelines_one_call_paints_and_counts_as_its_two_calls_INV_5(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``mask_for_encode``, the pipeline's call for every frame, takes a path of its own
    for the frames a held plan holds for. Frame by frame through the held plan's every
    way out (a new mask set, a lift, another size, an earlier frame, a new pose reading,
    the pose source failing: blanked, INV-5), it paints exactly what ``await_pose`` and
    ``paint_for_encode`` paint, plans as often, counts alike, and its put-back gives the
    picture back bit for bit."""
    plans = counting_plans(monkeypatch)
    masks = MaskSet("cam", 1, (WINDOW_ZONE,))
    same = MaskSet("cam", 1, masks.polygons)
    lifted = MaskSet("cam", 2, masks.polygons, (LiftWindow(0, "l1", T0, T0 + HALF),))
    sample = PoseSample(HOME, T0 - HALF, moving=False)
    one, two = FixedPoses(sample), FixedPoses(sample)
    clock = ManualClock(T0)
    fast = MaskStage("cam", one, Calibration(), MaskSettings(), clock=clock)
    slow = MaskStage("cam", two, Calibration(), MaskSettings(), clock=clock)
    fast.disable_registration()
    slow.disable_registration()
    tick = dt.timedelta(seconds=1 / 15)
    small = (640, 360)
    steps: list[tuple[str, MaskSet, int, tuple[int, int]]] = [
        ("first", masks, 0, SIZE),
        ("held", masks, 1, SIZE),
        ("held", masks, 2, SIZE),
        ("new set", same, 3, SIZE),
        ("held", same, 4, SIZE),
        ("lifted", lifted, 5, SIZE),
        ("lifted again", lifted, 6, SIZE),
        ("back", same, 7, SIZE),
        ("other size", same, 8, small),
        ("held", same, 9, small),
        ("earlier", same, 7, small),
        ("new reading", same, 10, small),
        ("held", same, 11, small),
        ("pose source fails", same, 12, small),
        ("pose source back", same, 13, small),
        ("held", same, 14, small),
    ]

    def broken(camera_id: str) -> PoseSample | None:
        raise RuntimeError("pose store unreachable")

    fast_held = 0
    for n, (step, mask_set, at, size) in enumerate(steps):
        if step == "new reading":
            newer = PoseSample(HOME, T0 + at * tick - HALF, moving=False)
            one.samples.append(newer)
            two.samples.append(newer)
        if step == "pose source fails":
            monkeypatch.setattr(one, "latest", broken)
            monkeypatch.setattr(two, "latest", broken)
        if step == "pose source back":
            monkeypatch.undo()
            plans = counting_plans(monkeypatch)
        captured = T0 + at * tick
        got = []
        for stage, call in ((fast, "one"), (slow, "two")):
            frame = _noise(*size, seed=n)
            before = frame_planes(frame).y.copy()
            calls, reused = plans.calls, stage.stats.reused
            if call == "one":
                saved = stage.mask_for_encode(frame, mask_set, captured)
                fast_held += stage.stats.reused > reused and plans.calls == calls
            else:
                stage.await_pose(captured)
                saved = stage.paint_for_encode(frame, mask_set, captured)
            planes = frame_planes(frame)
            painted = [planes.y.copy(), planes.u.copy(), planes.v.copy()]
            stage.put_back(saved)
            if stage.blanking is None:  # painted in place, and given back
                assert np.array_equal(frame_planes(frame).y, before), (step, call)
            got.append((painted, plans.calls - calls, stage.blanking))
        (painted_one, planned_one, why_one), (painted_two, planned_two, why_two) = got
        assert all(np.array_equal(a, b) for a, b in zip(painted_one, painted_two, strict=True))
        assert (planned_one, why_one) == (planned_two, why_two), step
        assert (planned_one == 0) is (step in ("held", "pose source fails")), (step, planned_one)
        if step == "pose source fails":  # blanked whole (INV-5)
            assert why_one is not None
            assert all((p == c).all() for p, c in zip(painted_one, BLACK_YUV, strict=True))
        else:
            assert why_one is None, step
    assert fast_held == 6, "the held frames took the one-call path"
    for field in ("frames", "reused", "blanked", "masked_pixels", "errors"):
        assert getattr(fast.stats, field) == getattr(slow.stats, field), field
    assert fast.stats.blanked == 1 and fast.stats.errors == 1
