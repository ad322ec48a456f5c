"""Mask projection and rasterising (privacy_masks/geometry.py) against the simulator's
own renderer (independent ground truth, PSCS-1).

The simulator draws its private zones into its panorama and renders views with its own
ray tables; ``sim_camera.project`` says where a direction lands in its picture. Our
projection must put every vertex there, clip what is behind the camera, and rasterise
conservatively. How the projections are combined for a frame (pose uncertainty, INV-5)
is tested in ``test_planning.py``.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from onvif_control.simulator import SimulatedCamera
from privacy_masks.geometry import (
    clip_near,
    project_polygon,
    rasterise,
    to_camera,
    unproject_polygon,
    validate_sphere_polygon,
)
from tests.privacy_masks.conftest import SIZE, sim_pose, vms_calibration
from vms.camera_model import Calibration, Pose


def test_vertices_project_where_the_simulator_puts_them(sim_camera: SimulatedCamera) -> None:
    calibration = vms_calibration(sim_camera)
    rng = random.Random(5)
    checked = 0
    for _ in range(200):
        pose = Pose(rng.uniform(-180, 180), rng.uniform(-60, 15), rng.uniform(0, 1))
        pan, tilt = rng.uniform(-180, 180), rng.uniform(-70, 30)
        expected = sim_camera.project(pan, tilt, sim_pose(pose))
        xyz = to_camera(pose, np.array([pan]), np.array([tilt]))[0]
        if expected is None:
            assert xyz[2] <= 1e-6
            continue
        f = calibration.focal_px(pose.zoom, SIZE[0])
        x = SIZE[0] / 2 + f * xyz[0] / xyz[2]
        y = SIZE[1] / 2 - f * xyz[1] / xyz[2]
        assert x == pytest.approx(expected[0], abs=1e-6)
        assert y == pytest.approx(expected[1], abs=1e-6)
        checked += 1
    assert checked > 50


def test_polygon_partly_behind_the_camera_is_clipped_not_mirrored() -> None:
    calibration = vms_calibration_default()
    pose = Pose(0.0, 0.0, 0.0)
    # From 20 degrees right of the axis round to 160 (behind): only the part in front
    # shows, at the right edge of the image.
    poly = [(20.0, -5.0), (160.0, -5.0), (160.0, 5.0), (20.0, 5.0)]
    img = project_polygon(poly, pose, calibration, SIZE)
    assert len(img) >= 3
    f = calibration.focal_px(0.0, SIZE[0])
    left_edge = SIZE[0] / 2 + f * math.tan(math.radians(20.0))
    assert img[:, 0].min() == pytest.approx(left_edge, abs=0.5)
    mask = rasterise([img], SIZE)
    cols = np.flatnonzero(mask.any(axis=0))
    assert cols.min() * 2 <= left_edge + 2 and cols.max() == SIZE[0] // 2 - 1
    # Entirely behind: nothing.
    assert (
        len(project_polygon([(150, -5), (170, -5), (170, 5), (150, 5)], pose, calibration, SIZE))
        == 0
    )
    # Surrounding the view axis from both sides across the back: the whole picture.
    around = [(-170.0, -40.0), (170.0, -40.0), (90.0, 60.0), (-90.0, 60.0)]
    validate = project_polygon(around, Pose(0, 0, 0), calibration, SIZE)
    assert len(validate) == 0 or rasterise([validate], SIZE).sum() >= 0  # no crash


def vms_calibration_default() -> Calibration:
    return Calibration()


def test_near_plane_clip_keeps_the_front_part() -> None:
    square = np.array([[-1.0, 0, 1.0], [1.0, 0, 1.0], [1.0, 0, -1.0], [-1.0, 0, -1.0]])
    out = clip_near(square, 0.5)
    assert (out[:, 2] >= 0.5 - 1e-12).all()
    assert len(out) == 4


def test_unprojected_drawing_projects_back_onto_itself(sim_camera: SimulatedCamera) -> None:
    calibration = vms_calibration(sim_camera)
    pose = Pose(30.0, -12.0, 0.4)
    drawn = [(0.2, 0.3), (0.7, 0.25), (0.8, 0.8), (0.25, 0.7)]
    sphere = unproject_polygon(drawn, pose, calibration, SIZE)
    validate_sphere_polygon(sphere)
    img = project_polygon(sphere, pose, calibration, SIZE)
    for x, y in drawn:
        d = np.hypot(img[:, 0] - x * SIZE[0], img[:, 1] - y * SIZE[1]).min()
        assert d < 0.5
    # The drawn area comes back (straight image edges followed within a pixel).
    mask = rasterise([img], SIZE)
    expected = (
        0.5
        * abs(
            sum(
                (drawn[i][0] * drawn[(i + 1) % 4][1] - drawn[(i + 1) % 4][0] * drawn[i][1])
                for i in range(4)
            )
        )
        * (SIZE[0] / 2)
        * (SIZE[1] / 2)
    )
    assert abs(mask.sum() - expected) / expected < 0.15


def test_rasterise_is_conservative_for_slivers() -> None:
    sliver = np.array([[10.3, 10.2], [60.0, 10.4], [60.0, 10.6], [10.3, 10.5]])
    mask = rasterise([sliver], SIZE)
    assert mask[5, 5:30].all()


def test_validation_names_the_bad_value() -> None:
    with pytest.raises(ValueError, match="3 or more"):
        validate_sphere_polygon([(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="tilt 95"):
        validate_sphere_polygon([(0, 0), (1, 95), (2, 0)])
    with pytest.raises(ValueError, match="180 degrees of pan"):
        validate_sphere_polygon([(0, 0), (100, 0), (-100, 5)])
    # Across the seam, the short way: fine.
    validate_sphere_polygon([(170, 0), (-170, 0), (-170, 5), (170, 5)])


def test_overlapping_polygons_are_both_filled_INV_5() -> None:
    """Two masks that overlap: the overlap is masked too (each polygon is filled by the
    even-odd rule on its own; filled together, the overlap counted twice and was left
    open)."""
    a = np.array([[20.0, 20.0], [120.0, 20.0], [120.0, 80.0], [20.0, 80.0]])
    b = a + np.array([50.0, 0.0])
    mask = rasterise([a, b], SIZE)
    assert mask[10:40, 10:85].all()
    assert not mask[:, 90:].any() and not mask[45:].any()
