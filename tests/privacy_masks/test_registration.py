"""Image registration of moving frames (issue 12 item 4; INV-5 unchanged): estimates
checked against the simulator's known poses, and the fallbacks and bounds that keep a
wrong registration from unmasking anything the telemetry plan would mask
(docs/design/mask-geometry.md, item 8)."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest

from onvif_control.simulator import SimulatedCamera
from privacy_masks.geometry import SpherePolygon
from privacy_masks.planning import Anchor, MaskPlan, angle_between, mask_for_frame
from privacy_masks.registrar import Registrar
from privacy_masks.registration import (
    Registration,
    RegistrationSettings,
    make_reference,
    narrow,
    register,
    thumbnail,
    usable_reference,
)
from tests.privacy_masks.conftest import SIZE, sim_pose, vms_calibration
from tests.privacy_masks.moving_replay import pan_tilt_script, replay_moving
from vms.camera_model import Pose

SETTINGS = RegistrationSettings()


def thumb(camera: SimulatedCamera, pose: Pose) -> tuple[np.ndarray, int]:
    i420 = camera._renderer_ready().render_i420(sim_pose(pose))
    return thumbnail(i420[: SIZE[1]])


def telemetry_band(
    rng: random.Random, truth: Pose, hfov: float, zoom_a: float, zoom_b: float
) -> tuple[Anchor, ...]:
    """A telemetry band as plan_masks makes them: an anchor that contains the true pose
    (2..30% of the field of view wide, the truth off its centre) and the zoom span."""
    radius = rng.uniform(0.02, 0.3) * hfov
    centre = Pose(
        truth.pan + rng.uniform(-0.5, 0.5) * radius,
        truth.tilt + rng.uniform(-0.4, 0.4) * radius,
        (zoom_a + zoom_b) / 2.0,
    )
    return (Anchor(centre, radius, abs(zoom_b - zoom_a) / 2.0 + 0.01),)


def test_thumbnail_factor_matches_the_frame() -> None:
    for width, height, factor in ((320, 180, 2), (1280, 720, 8), (1000, 600, 6), (100, 60, 1)):
        image, got = thumbnail(np.zeros((height, width), dtype=np.uint8))
        assert got == factor
        # Each thumbnail pixel is the mean of samples inside one factor x factor block.
        assert abs(image.shape[1] * factor - width) < factor
        assert abs(image.shape[0] * factor - height) < factor


def random_registrations(
    camera: SimulatedCamera, seed: int, trials: int, zoom_change: float
) -> list[tuple[Registration, Pose]]:
    """Registrations (accepted ones) of random moves from random reference views: pan
    and tilt by up to a quarter and a fifth of the field of view (half that when the
    zoom changes too, by up to ``zoom_change``), with a telemetry band holding the
    truth; each with the true pose."""
    calibration = vms_calibration(camera)
    rng = random.Random(seed)
    out = []
    reach = 0.5 if zoom_change else 1.0
    for _ in range(trials):
        zoom = rng.uniform(0.0, 0.8)
        ref = Pose(rng.uniform(-180, 180), rng.uniform(-60, 15), zoom)
        hfov = calibration.hfov(zoom)
        pan = ref.pan + rng.uniform(-0.25, 0.25) * hfov * reach
        new_zoom = min(1.0, max(0.0, zoom + rng.uniform(-zoom_change, zoom_change)))
        cur = Pose(pan, ref.tilt + rng.uniform(-0.2, 0.2) * hfov * reach, new_zoom)
        image, factor = thumb(camera, ref)
        if usable_reference(image, SETTINGS) is not None:
            continue
        result = register(
            make_reference(image, factor, SIZE, ref, 0.0, calibration),
            thumb(camera, cur)[0],
            calibration,
            telemetry_band(rng, cur, hfov, zoom, new_zoom),
            SETTINGS,
        )
        if not isinstance(result, str):
            out.append((result, cur))
    return out


def test_estimates_lie_within_the_claimed_band_on_random_moves(
    sim_camera: SimulatedCamera,
) -> None:
    accepted = random_registrations(sim_camera, 20261204, 400, 0.0)
    assert len(accepted) >= 15  # the test sees registrations, not only fallbacks
    errors = [angle_between(r.pose, truth) / r.radius_deg for r, truth in accepted]
    assert max(errors) <= 1.0, sorted(errors)[-5:]


def test_zoom_and_pose_lie_within_the_claimed_bands_on_random_zoomed_moves(
    sim_camera: SimulatedCamera,
) -> None:
    """Pan, tilt and zoom together: the zoom is measured from the picture (log-polar
    phase correlation of the spectra) within the telemetry's zoom band."""
    accepted = random_registrations(sim_camera, 20261205, 400, 0.08)
    assert len(accepted) >= 15
    errors = [angle_between(r.pose, truth) / r.radius_deg for r, truth in accepted]
    assert max(errors) <= 1.0, sorted(errors)[-5:]
    assert sum(r.scale != 1.0 for r, _ in accepted) >= 10  # the zoom was measured
    outside = [
        (r.zooms, truth.zoom)
        for r, truth in accepted
        if r.zooms is None or not r.zooms[0] - 1e-9 <= truth.zoom <= r.zooms[1] + 1e-9
    ]
    assert not outside, outside


def test_a_frame_without_texture_falls_back_to_telemetry(sim_camera: SimulatedCamera) -> None:
    calibration = vms_calibration(sim_camera)
    flat = np.full((SIZE[1] // 2, SIZE[0] // 2), 120.0, dtype=np.float32)
    assert usable_reference(flat, SETTINGS) == "no texture"
    registrar = Registrar(calibration, SETTINGS)
    pose = Pose(10.0, -5.0, 0.2)
    still = MaskPlan(False, "still", (Anchor(pose),), 0.3)
    made = []

    def flat_thumb() -> tuple[np.ndarray, int]:
        made.append(1)
        return flat, 2

    assert registrar.observe(still, SIZE, flat_thumb) is None
    assert registrar.references == []  # a flat picture is no reference
    # Refused: not tried again on every still frame at that pose, only when a still
    # reference would be renewed anyway (max_reference_frames).
    for _ in range(SETTINGS.max_reference_frames):
        registrar.observe(still, SIZE, flat_thumb)
    assert len(made) == 1
    registrar.observe(still, SIZE, flat_thumb)
    assert len(made) == 2
    # Elsewhere: at once. After a move, back at rest: at once, and a textured picture
    # is kept.
    there = Pose(6.0, -1.0, 0.2)
    still_there = MaskPlan(False, "still", (Anchor(there),), 0.3)
    registrar.observe(still_there, SIZE, flat_thumb)
    registrar.observe(still_there, SIZE, flat_thumb)
    assert len(made) == 3 and registrar.references == []
    textured = thumb(sim_camera, there)
    registrar.observe(
        MaskPlan(False, "moving", (Anchor(there, 10.0),), 0.3, True), SIZE, flat_thumb
    )
    registrar.observe(still_there, SIZE, lambda: textured)
    assert [r.pose for r in registrar.references] == [there]
    registrar.references = []
    registrar.stats.fallbacks = {}
    moving = MaskPlan(False, "moving", (Anchor(pose, 10.0),), 0.3, True)
    assert registrar.observe(moving, SIZE, lambda: (flat, 2)) is None
    assert registrar.stats.fallbacks == {"no reference": 1}
    # A textured reference against a flat frame: no peak, no match.
    image, factor = thumb(sim_camera, Pose(6.0, -1.0, 0.2))
    ref = make_reference(image, factor, SIZE, Pose(6.0, -1.0, 0.2), 0.0, calibration)
    band = (Anchor(Pose(6.0, -1.0, 0.2), 2.0),)
    assert isinstance(register(ref, flat, calibration, band, SETTINGS), str)


def test_a_zoom_outside_the_telemetry_band_falls_back(sim_camera: SimulatedCamera) -> None:
    calibration = vms_calibration(sim_camera)
    pose = Pose(6.0, -1.0, 0.2)
    image, factor = thumb(sim_camera, pose)
    ref = make_reference(image, factor, SIZE, pose, 0.0, calibration)
    # A picture with no zoom change where the telemetry says the zoom grew by at least
    # 20%: the picture contradicts the telemetry, the telemetry plan stands.
    band = (Anchor(Pose(6.0, -1.0, 0.275), 0.5, 0.025),)
    assert register(ref, image, calibration, band, SETTINGS) == "zoom outside the telemetry band"


def test_a_repeating_pattern_is_refused(sim_camera: SimulatedCamera) -> None:
    """Road dashes seen from above: a pan by whole dash periods rolls the picture a
    little and looks like no pan. Without the gates the registration is confidently
    wrong (the truth far outside its own band); with them it is refused: within the
    telemetry band (which holds the truth) the picture may not move as a translation."""
    calibration = vms_calibration(sim_camera)
    ref_pose, true_pose = Pose(52.04, -16.08, 0.137), Pose(44.04, -19.03, 0.137)
    image, factor = thumb(sim_camera, ref_pose)
    current = thumb(sim_camera, true_pose)[0]
    ref = make_reference(image, factor, SIZE, ref_pose, 0.0, calibration)
    band = (Anchor(Pose(48.0, -17.5, 0.137), 6.0),)  # a box anchor over the move
    ungated = dataclasses.replace(
        SETTINGS,
        min_peak_ratio=1.0,
        min_ncc=0.0,
        min_detail_ncc=-1.0,
        max_self_similarity=1.0,
        max_model_error=math.inf,
    )
    wrong = register(ref, current, calibration, band, ungated)
    assert isinstance(wrong, Registration)
    assert angle_between(wrong.pose, true_pose) > 5 * wrong.radius_deg  # the adversary works
    assert narrow(MaskPlan(False, "moving", band, 0.3, True), wrong) is not None  # in band
    assert register(ref, current, calibration, band, SETTINGS) == (
        "not a translation within the telemetry band"
    )
    stripes = np.tile((np.arange(160) % 8 < 4).astype(np.float32) * 100.0, (90, 1))
    assert usable_reference(stripes, SETTINGS) == "repeating pattern"


def test_a_wrong_registration_cannot_move_the_mask_outside_the_telemetry_band(
    sim_camera: SimulatedCamera,
) -> None:
    calibration = vms_calibration(sim_camera)
    zones = tuple(SpherePolygon(z.name, z.polygon) for z in sim_camera.scene.private_zones)
    truth = Pose(6.0, -1.0, 0.2)
    band = MaskPlan(False, "moving", (Anchor(Pose(7.0, -1.0, 0.2), 3.0),), 0.3, True)
    telemetry = mask_for_frame(zones, band, calibration, SIZE)
    assert telemetry is not None
    zone = sim_camera.zone_mask(sim_pose(truth))
    assert zone.any()
    # Outside the band: the picture contradicts the telemetry -> the telemetry plan.
    far = Registration(Pose(30.0, -1.0, 0.2), 0.5, (0.0, 0.0), 1.0, 10.0, 1.0)
    assert narrow(band, far) is None
    # Inside the band but wrong: the mask painted (narrowed AND telemetry) is a subset
    # of the telemetry mask, never a pixel outside it.
    for pan in (5.0, 8.0, 9.5):
        wrong = Registration(Pose(pan, -1.0, 0.2), 0.2, (0.0, 0.0), 1.0, 10.0, 1.0)
        narrowed = narrow(band, wrong)
        assert narrowed is not None
        cells = mask_for_frame(zones, narrowed, calibration, SIZE)
        assert cells is not None
        assert not ((cells & telemetry) & ~telemetry).any()
    # A right one (truth within its radius) covers every private pixel.
    right = Registration(Pose(6.1, -1.05, 0.2), 0.3, (0.0, 0.0), 1.0, 10.0, 1.0)
    narrowed = narrow(band, right)
    assert narrowed is not None
    cells = mask_for_frame(zones, narrowed, calibration, SIZE)
    assert cells is not None
    full = np.repeat(np.repeat(cells & telemetry, 2, axis=0), 2, axis=1)
    assert not (zone & ~full).any()
    assert (cells & telemetry).sum() < telemetry.sum()  # and it is narrower


@pytest.mark.parametrize("seed", [2, 12])
def test_moving_replay_through_the_stage_leaks_nothing_INV_5(
    sim_camera: SimulatedCamera, seed: int
) -> None:
    result = replay_moving(sim_camera, seed, 30.0)
    assert result.frames >= 290
    assert result.leaked_pixels == 0, (result.leaked_pixels, result.leaked_frames)
    assert result.moving_fraction  # the script moves the camera


def test_registration_narrows_pan_and_tilt_moves_without_leaking_INV_5(
    sim_camera: SimulatedCamera,
) -> None:
    """Zoom kept (a patrol of slow pans and tilts): the stage narrows moving frames, masks
    less than with telemetry alone, and leaks nothing."""
    with_registration = replay_moving(sim_camera, 3, 30.0, script=pan_tilt_script)
    telemetry_only = replay_moving(sim_camera, 3, 30.0, False, script=pan_tilt_script)
    assert with_registration.leaked_pixels == 0, with_registration.leaked_frames
    assert with_registration.registered >= 10, with_registration.fallbacks
    assert np.mean(with_registration.moving_fraction) < np.mean(telemetry_only.moving_fraction)
