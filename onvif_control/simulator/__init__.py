"""A simulated ONVIF PTZ camera: real ONVIF (SOAP 1.2) and RTSP/H.264, video that follows
the pose, and known private zones as ground truth for privacy-mask leak tests.

Nothing starts at import. Typical use::

    with SimulatorFleet(count=3, size=(1280, 720), fps=15) as fleet:
        for cam in fleet.cameras:
            print(cam.onvif_url, cam.rtsp_url, cam.state()["pose"])

This package must not import ``privacy_masks``: it is the independent ground truth.
"""

from onvif_control.simulator.calibration import Calibration, Pose
from onvif_control.simulator.camera import SIGNATURE_TOLERANCE, SimulatedCamera, signature_mask
from onvif_control.simulator.fleet import SimulatorFleet
from onvif_control.simulator.scene import (
    SIGNATURE_RGB,
    MovingObject,
    PrivateZone,
    Scene,
    load_scene,
)

__all__ = [
    "SIGNATURE_RGB",
    "SIGNATURE_TOLERANCE",
    "Calibration",
    "MovingObject",
    "Pose",
    "PrivateZone",
    "Scene",
    "SimulatedCamera",
    "SimulatorFleet",
    "load_scene",
    "signature_mask",
]
