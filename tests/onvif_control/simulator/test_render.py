"""Pinhole rendering: the picture and the projection agree with the geometry."""

from __future__ import annotations

import numpy as np
import pytest

from onvif_control.simulator.calibration import Calibration, Pose
from onvif_control.simulator.panorama import LivePanorama, build_panorama
from onvif_control.simulator.render import Renderer, project
from onvif_control.simulator.scene import PrivateZone, Scene

SIZE = (320, 180)
ZONE = PrivateZone("square", ((10.0, 0.0), (16.0, 0.0), (16.0, 6.0), (10.0, 6.0)))


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    scene = Scene(private_zones=(ZONE,), objects=())
    live = LivePanorama(build_panorama(scene, 2048), scene.objects)
    return Renderer(live, scene.calibration, SIZE)


def test_centre_pixel_looks_along_the_pose():
    cal = Calibration()
    for pose in (Pose(0.0, 0.0, 0.0), Pose(37.0, -25.0, 0.4), Pose(-120.0, 10.0, 1.0)):
        assert project(pose, cal, SIZE, pose.pan, pose.tilt) == pytest.approx((160.0, 90.0))


def test_projection_matches_field_of_view():
    cal = Calibration()
    pose = Pose(0.0, 0.0, 0.0)
    assert project(pose, cal, SIZE, cal.hfov(0.0) / 2, 0.0) == pytest.approx((320.0, 90.0))
    assert project(pose, cal, SIZE, 180.0, 0.0) is None  # behind the camera
    up = project(pose, cal, SIZE, 0.0, 5.0)
    assert up is not None and up[1] < 90.0  # tilt up is image up


def test_zone_appears_where_its_polygon_projects(renderer):
    pose = Pose(13.0, 3.0, 0.3)
    mask = renderer.zone_mask(pose)
    corners = [project(pose, renderer.calibration, SIZE, p, t) for p, t in ZONE.polygon]
    xs = [c[0] for c in corners if c]
    ys = [c[1] for c in corners if c]
    rows, cols = np.nonzero(mask)
    assert mask.sum() > 1000
    # Zone edges are quantised to chroma panorama pixels (two luma pixels): 1.5 of them
    # in image pixels, plus one 2x2 chroma block of the image (the mask includes pixels
    # whose shared chroma comes from the zone).
    pano_px_deg = 720.0 / renderer.panorama.static.width
    tol = renderer.calibration.focal_px(pose.zoom, SIZE[0]) * np.radians(1.5 * pano_px_deg) + 2.0
    assert cols.min() == pytest.approx(min(xs), abs=tol)
    assert cols.max() + 1 == pytest.approx(max(xs), abs=tol)
    assert rows.min() == pytest.approx(min(ys), abs=tol)
    assert rows.max() + 1 == pytest.approx(max(ys), abs=tol)
    centre = project(pose, renderer.calibration, SIZE, 13.0, 3.0)
    assert centre is not None
    assert mask[int(centre[1]), int(centre[0])]


def test_zone_out_of_view_is_absent(renderer):
    assert not renderer.zone_mask(Pose(-90.0, -10.0, 0.0)).any()


def test_render_is_deterministic_and_follows_pan(renderer):
    a = renderer.render_rgb(Pose(30.0, -5.0, 0.0))
    b = renderer.render_rgb(Pose(30.0, -5.0, 0.0))
    c = renderer.render_rgb(Pose(60.0, -5.0, 0.0))
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 10


def test_i420_layout(renderer):
    out = renderer.render_i420(Pose(0.0, 0.0, 0.0))
    assert out.shape == (270, 320) and out.dtype == np.uint8


def test_zoom_magnifies(renderer):
    pose_wide, pose_tele = Pose(13.0, 3.0, 0.0), Pose(13.0, 3.0, 0.6)
    assert renderer.zone_mask(pose_tele).sum() > 4 * renderer.zone_mask(pose_wide).sum()


@pytest.mark.parametrize("size", [(321, 180), (8, 8)])
def test_bad_sizes_are_refused(renderer, size):
    with pytest.raises(ValueError, match="even"):
        Renderer(renderer.panorama, renderer.calibration, size)
