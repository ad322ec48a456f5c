"""Mask planning under pose uncertainty (privacy_masks/planning.py, INV-5), the still
masks against the simulator's own renderer (independent ground truth, PSCS-1).

The simulator draws its private zones into its panorama and renders views with its own
ray tables; ``zone_mask(pose)`` says which output pixels show a zone. The mask for a
frame must cover every such pixel (INV-5) without being grossly larger; a pose that is
unknown or stale blanks the frame; a moving camera is covered along its path.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pytest

from onvif_control.simulator import SimulatedCamera
from privacy_masks.geometry import SpherePolygon, dilate
from privacy_masks.planning import (
    Anchor,
    MaskPlan,
    MaskSettings,
    _merged,
    angle_between,
    awaiting_pose,
    margin_px,
    mask_for_frame,
    plan_masks,
    still_until,
)
from tests.privacy_masks.conftest import SIZE, WINDOW_ZONE, sim_pose, vms_calibration
from tests.privacy_masks.test_stage import HOME
from vms.camera_model import Calibration, Pose, PoseSample

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def zones(camera: SimulatedCamera) -> list[SpherePolygon]:
    return [SpherePolygon(z.name, z.polygon) for z in camera.scene.private_zones]


def still_plan(pose: Pose) -> MaskPlan:
    return plan_masks(
        T0, PoseSample(pose, T0 - dt.timedelta(seconds=0.5), moving=False), [], MaskSettings()
    )


def chroma_truth(full: np.ndarray) -> np.ndarray:
    h, w = full.shape
    return np.asarray(full.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3)))


def poses_near_zones(camera: SimulatedCamera, count: int, seed: int) -> list[Pose]:
    """Random poses aimed at or near a zone, so many views show zones partly, at edges,
    zoomed in and out."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        zone = rng.choice(camera.scene.private_zones)
        cp = sum(p for p, _ in zone.polygon) / len(zone.polygon)
        ct = sum(t for _, t in zone.polygon) / len(zone.polygon)
        zoom = rng.choice([0.0, rng.uniform(0, 1), rng.uniform(0, 0.3)])
        hfov = camera.scene.calibration.hfov(zoom)
        out.append(
            Pose(
                cp + rng.uniform(-0.8, 0.8) * hfov,
                max(-89.0, min(20.0, ct + rng.uniform(-0.6, 0.6) * hfov)),
                zoom,
            )
        )
    return out


def test_still_masks_cover_every_zone_pixel_and_are_not_oversized_PSCS_1(
    sim_camera: SimulatedCamera,
) -> None:
    """INV-5/PSCS-1: for a still camera the mask covers every pixel the simulator says
    shows a zone, and its area is at most 1.3x the true area plus the margin band."""
    calibration = vms_calibration(sim_camera)
    polygons = zones(sim_camera)
    ratios = []
    for pose in poses_near_zones(sim_camera, 120, seed=11):
        truth = chroma_truth(sim_camera.zone_mask(sim_pose(pose)))
        plan = still_plan(pose)
        mask = mask_for_frame(polygons, plan, calibration, SIZE)
        assert mask is not None
        missed = truth & ~mask
        assert not missed.any(), f"{int(missed.sum())} zone blocks unmasked at {pose}"
        true_area = int(truth.sum())
        on_border = truth[0].any() or truth[-1].any() or truth[:, 0].any() or truth[:, -1].any()
        # The size bound is checked where the zone is wholly in view: a zone just off the
        # picture is still masked by its margin band, which has no "true area" to
        # compare with.
        if true_area >= 20 and not on_border:
            margin_cells = math.ceil(margin_px(plan, plan.anchors[0], calibration, SIZE) / 2)
            # The margin band: the truth's perimeter (in cells) times the margin.
            perimeter = int((dilate(truth, 1) & ~truth).sum())
            allowed = 1.3 * true_area + perimeter * margin_cells + 4 * margin_cells**2
            assert int(mask.sum()) <= allowed, (pose, int(mask.sum()), true_area, allowed)
            ratios.append(mask.sum() / true_area)
    assert len(ratios) >= 10, "too few views showed a whole zone"


def vms_calibration_default() -> Calibration:
    return Calibration()


def test_off_image_mask_dilates_into_the_image() -> None:
    """A zone just outside the picture still gets its margin inside it (camera moving)."""
    calibration = vms_calibration_default()
    pose = Pose(0.0, 0.0, 0.0)
    # Zone 1 degree beyond the right edge (hfov 60 -> edge at 30 degrees).
    poly = SpherePolygon("z", ((31.0, -2.0), (33.0, -2.0), (33.0, 2.0), (31.0, 2.0)))
    plan = MaskPlan(False, "moving", (Anchor(pose, 2.7),), base_deg=0.3)
    mask = mask_for_frame([poly], plan, calibration, SIZE)
    assert mask is not None and mask[:, -1].any()


def test_plan_blanks_without_a_fresh_pose_INV_5() -> None:
    s = MaskSettings()
    assert plan_masks(T0, None, [], s).blank
    old_moving = PoseSample(Pose(0, 0, 0), T0 - dt.timedelta(seconds=1.2), moving=True)
    assert plan_masks(T0, old_moving, [], s).blank
    old_idle = PoseSample(Pose(0, 0, 0), T0 - dt.timedelta(seconds=1.5), moving=False)
    assert not plan_masks(T0, old_idle, [], s).blank
    older_idle = PoseSample(Pose(0, 0, 0), T0 - dt.timedelta(seconds=2.5), moving=False)
    assert plan_masks(T0, older_idle, [], s).blank


@pytest.mark.parametrize(
    "reported",
    [
        Pose(math.nan, -10.0, 0.0),
        Pose(0.0, math.nan, 0.0),
        Pose(0.0, -10.0, math.nan),
        Pose(math.inf, -10.0, 0.0),
        Pose(-math.inf, -10.0, 0.0),
        Pose(1e308, -10.0, 0.0),
        Pose(0.0, -1e308, 0.0),
        Pose(0.0, -10.0, -5.0),
        Pose(0.0, -10.0, 1e308),
    ],
    ids=repr,
)
def test_an_impossible_pose_from_the_camera_blanks_INV_5(reported: Pose) -> None:
    """A broken or hostile camera answers GetStatus with NaN, infinite or absurd values:
    such a pose is not known, so the frame is blanked (INV-5), never masked by a mask
    projected at nowhere (an empty mask: every private pixel shown). Also when the
    impossible reading is in the history behind a sane newest one: it would span the
    boxes the frame is masked over."""
    s = MaskSettings()
    at = T0 - dt.timedelta(seconds=0.5)
    plan = plan_masks(T0, PoseSample(reported, at, moving=False), [], s)
    assert plan.blank, f"not blank for {reported}: {plan.reason}"
    assert mask_for_frame([WINDOW_ZONE], plan, vms_calibration_default(), SIZE) is None
    sane = PoseSample(HOME, T0 - dt.timedelta(seconds=0.2), moving=False)
    assert not plan_masks(T0, sane, [sane], s).blank
    behind = PoseSample(reported, T0 - dt.timedelta(seconds=0.4), moving=True)
    assert plan_masks(T0, sane, [behind, sane], s).blank


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _covers(plan: MaskPlan, pose: Pose) -> bool:
    """Whether some anchor of ``plan`` covers ``pose``."""
    return any(
        angle_between(a.pose, pose) <= a.radius_deg + 1e-9
        and abs(a.pose.zoom - pose.zoom) <= a.zoom_radius + 1e-9
        for a in plan.anchors
    )


def test_plan_covers_the_path_between_a_moving_and_a_still_sample_INV_5() -> None:
    """Regression (issue 5 leak): the camera arrived between a moving sample and a still
    one; the frame in between was masked at the two poses only."""
    s = MaskSettings()
    before = PoseSample(Pose(23.0, -1, 0.2), _at(-0.4), moving=True)
    a = PoseSample(Pose(14.5, -1, 0.2), _at(-0.3), moving=True)
    b = PoseSample(Pose(6.0, -1, 0.2), _at(-0.2), moving=False)
    c = PoseSample(Pose(6.0, -1, 0.2), _at(0.1), moving=False)
    plan = plan_masks(_at(-0.25), c, [before, a, b, c], s)
    assert not plan.blank and plan.moving
    for pan in (6.0, 8.0, 10.25, 12.0, 14.5):
        assert _covers(plan, Pose(pan, -1, 0.2)), pan


def test_plan_does_not_trust_a_still_reply_stamped_just_after_a_command_INV_5() -> None:
    """Regression (issue 5 leak): a reply read before a command but stamped after it
    said "idle"; the move it did not see was masked with the base margin only."""
    s = MaskSettings()
    idle = PoseSample(Pose(17.8, 5.0, 0.37), _at(-0.7), moving=False)
    command = PoseSample(Pose(17.8, 5.0, 0.37), _at(-0.09), moving=True, commanded=True)
    reply = PoseSample(Pose(17.8, 5.0, 0.37), _at(-0.086), moving=False)
    plan = plan_masks(_at(0.0), reply, [idle, command, reply], s)
    assert not plan.blank and plan.moving
    # 0.09 s at up to 180 deg/s (assumed top speed x safety) plus the allowance.
    assert _covers(plan, Pose(17.8 - 6.4, 5.0 - 1.6, 0.42))


def test_plan_measures_speed_after_the_command_and_extrapolates() -> None:
    s = MaskSettings()
    a = PoseSample(Pose(0, 0, 0), _at(-0.3), moving=True)
    b = PoseSample(Pose(6, 0, 0), _at(-0.1), moving=True)
    plan = plan_masks(_at(0.0), b, [a, b], s)
    assert not plan.blank and plan.moving
    # 30 deg/s measured, x2 safety, x (0.1 s age + 0.15 s allowance) around b.
    assert any(
        x.pose == b.pose and x.radius_deg == pytest.approx(60.0 * 0.25) for x in plan.anchors
    )
    # A command after the last observation: the speed is not measured yet. The camera
    # was at rest until the command (0.05 s before the frame), then at most at the top
    # speed until the latest capture instant (plus the capture-time error).
    idle = PoseSample(Pose(0, 0, 0), _at(-0.3), moving=False)
    command = PoseSample(Pose(0, 0, 0), _at(-0.05), moving=True, commanded=True)
    plan = plan_masks(_at(0.0), command, [idle, command], s)
    top = s.assumed_speed_deg_s * s.speed_safety
    assert plan.moving
    assert _covers(plan, Pose(top * (0.05 + s.capture_error_seconds) - 1e-6, 0, 0))
    assert max(a.radius_deg for a in plan.anchors) == pytest.approx(
        top * (0.05 + s.capture_error_seconds)
    )


def test_plan_allows_each_sample_its_own_uncertainty_INV_5() -> None:
    """A sample stamped mid round trip with half of it as its uncertainty (the pose
    tracker) is allowed exactly that, plus the frame's capture-time error; a sample that
    does not say is allowed ``latency_seconds`` for both."""
    s = MaskSettings(capture_error_seconds=0.03)
    a = PoseSample(Pose(0, 0, 0), _at(-0.3), moving=True, uncertainty=0.01)
    b = PoseSample(Pose(6, 0, 0), _at(-0.1), moving=True, uncertainty=0.01)
    plan = plan_masks(_at(0.0), b, [a, b], s)
    # 6 degrees in at least 0.2 - 2 x 0.01 s, x2 safety, for 0.1 s age + 0.01 + 0.03.
    speed = 2.0 * 6.0 / 0.18
    assert any(
        x.pose == b.pose and x.radius_deg == pytest.approx(speed * 0.14) for x in plan.anchors
    )
    # The same samples without an uncertainty: 0.15 s for both (60 deg/s x 0.25 s).
    legacy = [PoseSample(x.pose, x.at, x.moving) for x in (a, b)]
    plan = plan_masks(_at(0.0), legacy[1], legacy, s)
    assert max(x.radius_deg for x in plan.anchors) == pytest.approx(60.0 * 0.25)
    # A reply that may have been read before the frame was captured does not precede it.
    near = PoseSample(Pose(0, 0, 0), _at(-0.035), moving=False, uncertainty=0.01)
    assert plan_masks(_at(0.0), near, [near], s).blank
    early = PoseSample(Pose(0, 0, 0), _at(-0.045), moving=False, uncertainty=0.01)
    assert not plan_masks(_at(0.0), early, [early], s).blank
    # A command 50 ms ago: a reply stamped 40 ms ago is known to be read after it only
    # when its uncertainty is under 10 ms; otherwise the move is not settled.
    idle = PoseSample(Pose(0, 0, 0), _at(-0.5), moving=False, uncertainty=0.005)
    command = PoseSample(Pose(0, 0, 0), _at(-0.05), moving=True, commanded=True)
    for u, moving in ((0.005, False), (0.02, True)):
        reply = PoseSample(Pose(0, 0, 0), _at(-0.04), moving=False, uncertainty=u)
        plan = plan_masks(_at(0.1), reply, [idle, command, reply], s)
        assert plan.moving is moving, u


def test_a_command_after_the_frame_does_not_widen_its_plan_INV_5() -> None:
    """Commands are stamped before they are sent, on the clock frames are timed by: one
    stamped after the frame's latest capture instant did not move the camera in it. A
    camera at rest before a command stays put until it."""
    s = MaskSettings(capture_error_seconds=0.03)
    rest = Pose(10, -5, 0.2)
    idle = PoseSample(rest, _at(-1.0), moving=False, uncertainty=0.005)
    # Only the idle poll (1 s before) and a command 50 ms after the frame.
    command = PoseSample(rest, _at(0.05), moving=True, commanded=True)
    plan = plan_masks(_at(0.0), command, [idle, command], s)
    assert plan.anchors == (Anchor(rest),) and not plan.moving
    # The reply after the command shows the camera moved away: the frame before the
    # command is still masked at the rest pose exactly.
    moved = PoseSample(Pose(25, -5, 0.2), _at(0.3), moving=True, uncertainty=0.005)
    plan = plan_masks(_at(0.0), moved, [idle, command, moved], s)
    assert plan.anchors == (Anchor(rest),) and not plan.moving
    # A command within the capture-time error of the frame counts: 20 ms before the
    # latest capture instant, at the top speed.
    command = PoseSample(rest, _at(0.01), moving=True, commanded=True)
    plan = plan_masks(_at(0.0), moved, [idle, command, moved], s)
    top = s.assumed_speed_deg_s * s.speed_safety
    assert plan.moving
    assert max(a.radius_deg for a in plan.anchors) == pytest.approx(top * 0.02)
    # A camera already moving when the later command came: no such shortcut (its
    # direction may reverse at the command), the pair is bounded by the top speed.
    going = PoseSample(Pose(5, -5, 0.2), _at(-0.05), moving=True, uncertainty=0.005)
    late = PoseSample(rest, _at(0.05), moving=True, commanded=True)
    plan = plan_masks(_at(0.0), moved, [idle, going, late, moved], s)
    assert plan.moving and max(a.radius_deg for a in plan.anchors) > 10


def test_plan_blanks_when_no_sample_precedes_the_frame_INV_5() -> None:
    later = PoseSample(Pose(0, 0, 0), _at(0.0), moving=False)
    assert plan_masks(_at(-0.1), later, [later], MaskSettings()).blank


def test_still_plan_has_only_the_base_margin() -> None:
    plan = still_plan(Pose(0, -10, 0))
    assert plan.anchors == (Anchor(Pose(0, -10, 0)),)
    assert plan.base_deg == MaskSettings().base_margin_deg and not plan.moving


def test_huge_uncertainty_masks_the_picture_even_for_a_zone_behind_the_camera() -> None:
    """A zone behind the anchor's view may still come into it within the radius."""
    calibration = vms_calibration_default()
    poly = SpherePolygon("z", ((118.0, -2.0), (122.0, -2.0), (122.0, 2.0), (118.0, 2.0)))
    plan = MaskPlan(False, "moving", (Anchor(Pose(0, 0, 0), 100.0),), base_deg=0.3)
    mask = mask_for_frame([poly], plan, calibration, SIZE)
    assert mask is not None and mask.all()
    far = MaskPlan(False, "moving", (Anchor(Pose(0, 0, 0), 40.0),), base_deg=0.3)
    mask = mask_for_frame([poly], far, calibration, SIZE)
    assert mask is not None and not mask.any()


@pytest.mark.parametrize("centre_pan", [2.0, 24.0])  # in the middle; across the edge
def test_zoom_margin_follows_the_masks_distance_from_the_centre_INV_5(
    centre_pan: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zoom moves a point radially by its distance from the image centre times the focal
    length's relative change: a mask near the centre needs less margin than one at the
    corner. Every pose within the anchor (rotation and zoom) is still covered."""
    import privacy_masks.planning as planning

    calibration = vms_calibration_default()
    zone = SpherePolygon(
        "z",
        tuple(
            (centre_pan + dp, -10.0 + dt_)
            for dp, dt_ in ((-2.0, -1.5), (2.0, -1.5), (2.0, 1.5), (-2.0, 1.5))
        ),
    )
    anchor = Anchor(Pose(0.0, -10.0, 0.2), 0.5, 0.03)
    plan = MaskPlan(False, "moving", (anchor,), 0.3, True, 2.0)
    mask = mask_for_frame([zone], plan, calibration, SIZE)
    assert mask is not None
    rng = random.Random(7)
    for _ in range(60):
        # |dpan| + |dtilt| <= the anchor's radius, zoom within its zoom radius.
        dp = rng.uniform(-0.5, 0.5)
        dt_ = math.copysign(rng.uniform(0, 0.5 - abs(dp)), rng.uniform(-1, 1))
        pose = Pose(dp, -10.0 + dt_, 0.2 + rng.uniform(-0.03, 0.03))
        at_pose = mask_for_frame([zone], MaskPlan(False, "s", (Anchor(pose),)), calibration, SIZE)
        assert at_pose is not None and not (at_pose & ~mask).any(), pose
    monkeypatch.setattr(planning, "_inner_margin_px", lambda *args: None)
    corner = mask_for_frame([zone], plan, calibration, SIZE)
    assert corner is not None
    if centre_pan < 10:  # wholly inside the picture: the tighter margin applies
        assert mask.sum() < 0.8 * corner.sum()
    else:  # reaching beyond the picture: the corner bound
        assert (mask == corner).all()


def test_a_pair_over_a_command_covers_only_the_frames_window_INV_5() -> None:
    """A pair of readings around a command stands for the capture instants between
    them that the frame's window allows: a camera at rest until a command 31 ms before
    the frame, read moving 24 ms before it, is bounded for the instants up to that
    reading (about 8 ms of top speed), the rest by the readings after it."""
    s = MaskSettings(capture_error_seconds=0.03)
    top = s.assumed_speed_deg_s * s.speed_safety
    u = 0.001
    rest = PoseSample(Pose(0, -10, 0), _at(-0.075), moving=False, uncertainty=u)
    command = PoseSample(Pose(0, -10, 0), _at(-0.031), moving=True, commanded=True)
    going = [
        PoseSample(Pose(-0.2, -10, 0), _at(-0.024), moving=True, uncertainty=u),
        PoseSample(Pose(-1.6, -10, 0), _at(0.028), moving=True, uncertainty=u),
        PoseSample(Pose(-3.1, -10, 0), _at(0.080), moving=True, uncertainty=u),
    ]
    plan = plan_masks(_at(0.0), going[-1], [rest, command, *going], s)
    assert plan.moving
    # One command between a reading at rest and one after it: one move, inside the box.
    assert any(
        a.pose.pan == pytest.approx(-0.1) and a.radius_deg == pytest.approx(0.1)
        for a in plan.anchors
    )
    # The path after the reading 24 ms before: boxes between the readings.
    assert _covers(plan, Pose(-0.9, -10, 0)) and _covers(plan, Pose(-2.5, -10, 0))
    assert max(a.radius_deg for a in plan.anchors) < 1.0
    # Two commands in that pair (axes may reverse at the second): at rest until the
    # first, then the top speed up to the second reading (8 ms); or the top speed from
    # that reading back to the frame's earliest capture (7 ms): the tighter is kept.
    again = PoseSample(Pose(0, -10, 0), _at(-0.027), moving=True, commanded=True)
    plan = plan_masks(_at(0.0), going[-1], [rest, command, again, *going], s)
    radii = {a.pose: a.radius_deg for a in plan.anchors}
    assert rest.pose not in radii
    assert radii[going[0].pose] == pytest.approx(top * (0.030 - 0.024 + u))
    assert max(radii.values()) < 2.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Pose(-3.0, -10.0, 0.2), Pose(3.0, -10.0, 0.2)),  # a pan
        (Pose(179.0, -10.0, 0.2), Pose(-177.0, -8.0, 0.25)),  # across +-180, tilt, zoom
        (Pose(0.0, -14.0, 0.1), Pose(0.0, -6.0, 0.1)),  # a tilt
    ],
)
def test_a_box_is_masked_in_pieces_covering_every_pose_in_it_INV_5(a: Pose, b: Pose) -> None:
    """A camera between two readings may be anywhere in the box they span (each axis
    monotonic, at any speed): its mask is the union over pieces of the box, which
    covers the mask at every pose in the box (random poses, the corners, the middle)
    and is smaller than the one ball around the box's centre."""
    import privacy_masks.planning as planning

    calibration = vms_calibration_default()
    centre_pan = (a.pan + planning._pan_diff(a.pan, b.pan) / 2.0 + 180.0) % 360.0 - 180.0
    zone = SpherePolygon(
        "z",
        tuple(
            (((centre_pan + dp + 180.0) % 360.0) - 180.0, -10.0 + dt_)
            for dp, dt_ in ((-2.0, -1.5), (2.0, -1.5), (2.0, 1.5), (-2.0, 1.5))
        ),
    )
    box = planning._box_anchor(a, b)
    assert box.box == (a, b)
    pieces = planning._pieces(box, calibration, SIZE, planning.MAX_PIECES)
    assert 1 < len(pieces) <= planning.MAX_PIECES
    plan = MaskPlan(False, "moving", (box,), 0.3, True, 2.0)
    mask = mask_for_frame([zone], plan, calibration, SIZE)
    ball = MaskPlan(False, "moving", (Anchor(box.pose, box.radius_deg, box.zoom_radius),), 0.3)
    ball_mask = mask_for_frame([zone], ball, calibration, SIZE)
    assert mask is not None and ball_mask is not None
    assert mask.sum() < ball_mask.sum()
    rng = random.Random(3)
    dp = planning._pan_diff(a.pan, b.pan)
    fractions = [0.0, 1.0, 0.5] + [rng.uniform(0, 1) for _ in range(40)]
    for i, u in enumerate(fractions):
        # Corners and the middle along the diagonal, then each axis drawn on its own.
        v, w = (u, u) if i < 3 else (rng.uniform(0, 1), rng.uniform(0, 1))
        pose = Pose(
            ((a.pan + u * dp + 180.0) % 360.0) - 180.0,
            a.tilt + v * (b.tilt - a.tilt),
            a.zoom + w * (b.zoom - a.zoom),
        )
        at = mask_for_frame([zone], MaskPlan(False, "s", (Anchor(pose),), 0.3), calibration, SIZE)
        assert at is not None and not (at & ~mask).any(), pose


def test_a_moving_camera_keeps_its_measured_speed_until_a_new_command_INV_5() -> None:
    """Extrapolating past the newest reading of a camera moving at a measured speed when
    a new command is pending: its move at the measured speed (x safety) until the
    command, the top speed from the command on; tighter than the top speed all the way,
    and the worst case (full speed away from the command on) is covered."""
    s = MaskSettings(capture_error_seconds=0.03)
    top = s.assumed_speed_deg_s * s.speed_safety
    u = 0.001
    going = [
        PoseSample(Pose(-2.0 + 1.0 * k, -10, 0.2), _at(-0.2 + 0.05 * k), moving=True, uncertainty=u)
        for k in range(4)
    ]  # 20 deg/s, the newest 50 ms before the frame
    command = PoseSample(going[-1].pose, _at(0.0), moving=True, commanded=True)
    newest = going[-1]
    plan = plan_masks(_at(0.0), newest, [*going, command], s)
    measured = 20.0 / (1.0 - 2 * u / 0.05) * s.speed_safety
    radius = measured * (0.05 + u) + top * s.capture_error_seconds
    assert [a.radius_deg for a in plan.anchors if a.pose == newest.pose] == [
        pytest.approx(radius, rel=1e-6)
    ]
    # Without the command's instant known, the top speed from the newest reading on.
    assert radius < top * (0.05 + u + s.capture_error_seconds)
    # At the measured speed until the command, then full speed backwards.
    worst = Pose(newest.pose.pan + 40.0 * 0.05 - top * 0.03, -10, 0.2)
    assert _covers(plan, worst)
    # A camera whose move is not measured (one reading after the last command): the top
    # speed from that reading.
    earlier = PoseSample(going[0].pose, _at(-0.25), moving=True, commanded=True)
    plan = plan_masks(_at(0.0), newest, [earlier, going[-1], command], s)
    assert max(a.radius_deg for a in plan.anchors) >= top * (0.05 + u + 0.03) - 1e-9


def test_merged_samples_are_the_union_sorted_whatever_the_history_INV_5() -> None:
    """The fast path of ``_merged`` (a history already oldest first, ending at or just
    before the newest sample: the pose tracker's) gives exactly what merging and sorting
    gives, and any other history (unordered, repeated, ties, a newest sample older than
    the history's end or equal to one in it) is merged and sorted as before."""
    rng = random.Random(12)
    poses = [Pose(0.0, -10.0, 0.0), Pose(3.0, -9.0, 0.2)]

    def sample(seconds: float) -> PoseSample:
        return PoseSample(
            rng.choice(poses),
            T0 + dt.timedelta(seconds=seconds),
            moving=rng.random() < 0.5,
            commanded=rng.random() < 0.2,
        )

    fast = 0
    for _ in range(3000):
        stamps = sorted(rng.sample(range(20), rng.randint(0, 6)))
        history = [sample(float(s)) for s in stamps]
        shape = rng.random()
        if shape < 0.2 and len(history) > 1:
            rng.shuffle(history)
        elif shape < 0.3 and history:
            history.append(history[rng.randrange(len(history))])  # a repeat
        elif shape < 0.4 and history:
            history.append(sample(float(stamps[-1])))  # a tie on the last stamp
        pick = rng.random()
        if pick < 0.3 and history:
            latest = history[-1]
        elif pick < 0.4 and history:
            latest = PoseSample(history[-1].pose, history[-1].at, history[-1].moving,
                                history[-1].commanded)  # fmt: skip
        else:
            latest = sample(float(rng.randint(0, 25)))
        expected = sorted({*history, latest}, key=lambda s: s.at)
        got = _merged(history, latest)
        if len({s.at for s in expected}) == len(expected):
            assert got == expected
        else:  # ties: the order among equal stamps was never defined
            assert sorted(got, key=repr) == sorted(expected, key=repr)
            assert [s.at for s in got] == [s.at for s in expected]
        fast += len(history) > 1 and history[-1] is latest
    assert fast > 100  # the tracker's own shape was tried often


def test_a_lone_sample_read_at_the_capture_instant_is_the_frames_pose_INV_5() -> None:
    """A sample stamped at the frame's capture with no uncertainty, and no capture
    error configured, is surely read both before and after the frame: the plan is its
    pose. It used to be a non-blank plan with no anchor, which masked nothing."""
    settings = MaskSettings(capture_error_seconds=0.0)
    sample = PoseSample(HOME, T0, moving=False, uncertainty=0.0)
    plan = plan_masks(T0, sample, [sample], settings)
    assert not plan.blank
    assert plan.anchors == (Anchor(HOME),)
    mask = mask_for_frame((WINDOW_ZONE,), plan, Calibration(), SIZE)
    assert mask is not None and mask.any()


def test_a_still_plan_holds_until_still_until_INV_5() -> None:
    """``still_until`` (the mask stage holds a still camera's plan with it): for every
    frame captured from the planned one up to the instant it returns, given the same
    samples less those that left the frame's history window, ``plan_masks`` gives the
    very same plan and ``awaiting_pose`` has nothing to wait for. Random still sample
    sets (stamps, uncertainties, settings with zero errors); and any sample commanded,
    moving or at another pose, or a plan that is not theirs, holds nothing."""
    rng = random.Random(5)
    settings_choices = [
        MaskSettings(),
        MaskSettings(capture_error_seconds=0.0, latency_seconds=0.0),
        MaskSettings(stale_idle_seconds=0.5, stale_moving_seconds=0.3),
        MaskSettings(latency_seconds=0.4, capture_error_seconds=0.05),
    ]
    held = checked = long = refused = 0
    for _ in range(1500):
        settings = rng.choice(settings_choices)
        window = dt.timedelta(seconds=settings.history_seconds)
        stamps = sorted(rng.sample(range(0, 6000), rng.randint(1, 6)))
        pose = Pose(rng.uniform(-180, 180), rng.uniform(-60, 0), rng.uniform(0, 1))
        samples = [
            PoseSample(
                pose,
                T0 + dt.timedelta(milliseconds=ms, microseconds=rng.choice((0, 0, 1, 999))),
                moving=False,
                uncertainty=rng.choice((None, 0.0, rng.uniform(0.0, 0.3))),
            )
            for ms in stamps
        ]
        latest = samples[-1]

        def history(t: dt.datetime, samples: list[PoseSample] = samples) -> list[PoseSample]:
            return [s for s in samples if s.at >= t - window]

        t0 = samples[0].at + dt.timedelta(seconds=rng.uniform(-0.5, 8.0))
        plan = plan_masks(t0, latest, history(t0), settings)
        until = still_until(plan, t0, latest, history(t0), settings)
        if plan.blank:
            assert until is None
            continue
        assert plan.anchors == (Anchor(pose),) and not plan.moving
        if until is None:
            continue
        held += 1
        long += until - t0 > dt.timedelta(seconds=0.5)
        span = (until - t0).total_seconds()
        for t in (t0, until, *(t0 + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(6))):
            assert plan_masks(t, latest, history(t), settings) == plan, (t0, t, until)
            assert not awaiting_pose(t, latest, history(t), settings)
            checked += 1
        # Not still: each sample in turn commanded, moving or elsewhere holds nothing.
        k = rng.randrange(len(samples))
        other = rng.choice(
            (
                PoseSample(pose, samples[k].at, moving=True, uncertainty=samples[k].uncertainty),
                PoseSample(pose, samples[k].at, True, commanded=True),
                PoseSample(Pose(pose.pan + 0.01, pose.tilt, pose.zoom), samples[k].at, False),
            )
        )
        changed = [*samples[:k], other, *samples[k + 1 :]]
        seen = [s for s in changed if s.at >= t0 - window]
        if other in seen:
            assert still_until(plan, t0, changed[-1], seen, settings) is None
            refused += 1
        # Nor does a plan other than the samples' own.
        wider = MaskPlan(False, "still", (Anchor(pose, 0.5),), plan.base_deg, False, plan.extra_px)
        assert still_until(wider, t0, latest, history(t0), settings) is None
    assert held > 300 and long > 100 and checked > 2000 and refused > 200, (
        held, long, checked, refused,
    )  # fmt: skip
