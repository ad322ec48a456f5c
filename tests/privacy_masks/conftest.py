"""Fixtures: the simulator as independent ground truth for mask geometry."""

from __future__ import annotations

import pytest

from onvif_control.simulator import SimulatedCamera
from onvif_control.simulator.calibration import Pose as SimPose
from vms.camera_model import Calibration, Pose

SIZE = (320, 180)


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


@pytest.fixture(scope="session")
def sim_camera() -> SimulatedCamera:
    """A prepared (not started) simulated camera: renderer and zone masks only."""
    cam = SimulatedCamera("geom", size=SIZE, fps=10, password="unused")
    cam.prepare()
    return cam
