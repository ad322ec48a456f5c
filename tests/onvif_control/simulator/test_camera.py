"""The picture follows the pose: ONVIF AbsoluteMove, then RTSP frames vs the simulator's
own render of that pose, and private zones where their polygons project."""

from __future__ import annotations

import asyncio
import io
import time

import av
import httpx
import numpy as np
import pytest
from onvif import ONVIFCamera

from onvif_control.simulator import SIGNATURE_TOLERANCE, Pose, SimulatedCamera, signature_mask
from onvif_control.simulator.panorama import panorama_width_for

from .conftest import PASSWORD, USERNAME, credentials_url

pytestmark = pytest.mark.timeout(90)


async def _absolute_move(port: int, x: float, y: float, zoom: float) -> None:
    cam = ONVIFCamera("127.0.0.1", port, USERNAME, PASSWORD)
    try:
        await cam.update_xaddrs()
        ptz = await cam.create_ptz_service()
        await ptz.AbsoluteMove(
            {
                "ProfileToken": "profile_1",
                "Position": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": zoom}},
            }
        )
    finally:
        await cam.close()


def _move_and_settle(camera: SimulatedCamera, pose: Pose) -> Pose:
    cal = camera.scene.calibration
    asyncio.run(
        _absolute_move(
            camera.onvif_port,
            cal.pan_to_generic(pose.pan),
            cal.tilt_to_generic(pose.tilt),
            pose.zoom,
        )
    )
    base = camera.onvif_url.rsplit("/onvif/", 1)[0]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = httpx.get(f"{base}/sim/state", timeout=5).json()
        if not state["moving"]["pan_tilt"] and not state["moving"]["zoom"]:
            p = state["pose"]
            return Pose(p["pan"], p["tilt"], p["zoom"])
        time.sleep(0.1)
    raise AssertionError("the camera did not stop moving")


def _received_frame(camera: SimulatedCamera, skip: int = 3) -> np.ndarray:
    with av.open(
        credentials_url(camera.rtsp_url), options={"rtsp_transport": "tcp"}, timeout=10
    ) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == skip:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError("no frame received")


def test_frame_after_absolute_move_matches_the_simulators_render(camera):
    target = Pose(8.0, 1.0, 0.3)
    pose = _move_and_settle(camera, target)
    assert (pose.pan, pose.tilt, pose.zoom) == pytest.approx((8.0, 1.0, 0.3), abs=1e-3)
    received = _received_frame(camera).astype(np.int16)
    expected = camera.render_rgb(pose).astype(np.int16)
    elsewhere = camera.render_rgb(Pose(pose.pan + 3.0, pose.tilt, pose.zoom)).astype(np.int16)
    assert received.shape == expected.shape == (180, 320, 3)
    error = np.abs(received - expected).mean()
    other = np.abs(received - elsewhere).mean()
    # H.264 at crf 23 and moving people/vehicles leave a small difference; a pose only
    # 3 degrees off is far worse.
    assert error < 8.0, error
    assert other > 2.5 * error, (error, other)


def test_private_zone_appears_where_its_polygon_projects(camera):
    pose = _move_and_settle(camera, Pose(8.0, 1.0, 0.3))
    received = _received_frame(camera)
    seen = signature_mask(received)
    truth = camera.zone_mask(pose)
    assert truth.sum() > 2000  # the zone fills a good part of the picture
    overlap = (seen & truth).sum() / (seen | truth).sum()
    assert overlap > 0.9, overlap
    # Leaked pixels outside the true zone (dilated by 2 px for coding blur at edges).
    dilated = truth.copy()
    for axis in (0, 1):
        for shift in (-2, -1, 1, 2):
            dilated |= np.roll(truth, shift, axis=axis)
    assert (seen & ~dilated).sum() <= 5
    # The polygon's vertices project onto the edge of the painted region.
    zone = next(z for z in camera.scene.private_zones if z.name == "flat-3b-window")
    corners = [camera.project(p, t, pose) for p, t in zone.polygon]
    assert all(c is not None for c in corners)
    rows, cols = np.nonzero(seen)
    xs = [c[0] for c in corners if c is not None]
    ys = [c[1] for c in corners if c is not None]
    # Zone edges are quantised to chroma panorama pixels: allow 1.5, plus coding blur.
    cal = camera.scene.calibration
    chroma_px_deg = 720.0 / panorama_width_for(320, cal.hfov_wide)
    tol = cal.focal_px(pose.zoom, 320) * np.radians(1.5 * chroma_px_deg) + 2.0
    assert cols.min() == pytest.approx(min(xs), abs=tol)
    assert cols.max() + 1 == pytest.approx(max(xs), abs=tol)
    assert rows.min() == pytest.approx(min(ys), abs=tol)
    assert rows.max() + 1 == pytest.approx(max(ys), abs=tol)


def test_zone_interior_survives_encoding_within_the_documented_tolerance(camera):
    pose = _move_and_settle(camera, Pose(8.0, 1.0, 0.3))
    received = _received_frame(camera).astype(np.int16)
    truth = camera.zone_mask(pose)
    interior = truth.copy()  # the zone eroded by 3 pixels in every direction
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            interior &= np.roll(truth, (dy, dx), axis=(0, 1))
    distance = np.abs(received - np.array(camera.state()["signature_rgb"])).max(axis=-1)
    assert distance[interior].max() <= SIGNATURE_TOLERANCE // 2


def test_full_size_stream_and_snapshot():
    with SimulatedCamera("full", username=USERNAME, password=PASSWORD) as cam:
        with av.open(
            credentials_url(cam.rtsp_url), options={"rtsp_transport": "tcp"}, timeout=15
        ) as container:
            frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (1280, 720)
        jpeg = httpx.get(cam.snapshot_url, auth=httpx.DigestAuth(USERNAME, PASSWORD), timeout=10)
        assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8"
        with av.open(io.BytesIO(jpeg.content), mode="r") as image:
            decoded = next(image.decode(video=0))
        assert (decoded.width, decoded.height) == (1280, 720)
        # At home the near-home private zone is in the snapshot.
        rgb = np.asarray(decoded.to_ndarray(format="rgb24"), dtype=np.uint8)
        assert signature_mask(rgb).sum() > 1000
