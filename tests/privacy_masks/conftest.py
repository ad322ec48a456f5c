"""Fixtures: the simulator as independent ground truth for mask geometry, and its
pictures as writable yuv420p PyAV frames."""

from __future__ import annotations

import av
import numpy as np
import pytest

from onvif_control.simulator import SimulatedCamera
from onvif_control.simulator.calibration import Pose as SimPose
from onvif_control.simulator.panorama import yuv_to_rgb
from onvif_control.simulator.scene import Scene
from privacy_masks.geometry import SpherePolygon
from privacy_masks.paint import frame_planes
from vms.camera_model import Calibration, Pose

SIZE = (320, 180)
# The simulator's window zone, in view at its home pose (pan 0, tilt -10).
WINDOW_ZONE = next(
    SpherePolygon(z.name, z.polygon) for z in Scene().private_zones if z.name == "flat-3b-window"
)


def vms_calibration(camera: SimulatedCamera) -> Calibration:
    c = camera.scene.calibration
    return Calibration(
        pan_min=c.pan_min,
        pan_max=c.pan_max,
        tilt_min=c.tilt_min,
        tilt_max=c.tilt_max,
        hfov_wide=c.hfov_wide,
        hfov_tele=c.hfov_tele,
    )


def sim_pose(pose: Pose) -> SimPose:
    return SimPose(pose.pan, pose.tilt, pose.zoom)


def frame_from_i420(i420: np.ndarray, width: int, height: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    planes = frame_planes(frame)
    q = width * height // 4
    flat = i420.reshape(-1)
    planes.y[:] = flat[: width * height].reshape(height, width)
    planes.u[:] = flat[width * height : width * height + q].reshape(height // 2, width // 2)
    planes.v[:] = flat[width * height + q :].reshape(height // 2, width // 2)
    return frame


def rgb_of(frame: av.VideoFrame) -> np.ndarray:
    planes = frame_planes(frame)
    return yuv_to_rgb(planes.y.copy(), planes.u.copy(), planes.v.copy())


@pytest.fixture(scope="session")
def sim_camera() -> SimulatedCamera:
    """A prepared (not started) simulated camera: renderer and zone masks only."""
    cam = SimulatedCamera("geom", size=SIZE, fps=10, password="unused")
    cam.prepare()
    return cam
