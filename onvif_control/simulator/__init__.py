"""A simulated ONVIF PTZ camera: real ONVIF (SOAP 1.2) and RTSP/H.264, video that follows
the pose, and known private zones as ground truth for privacy-mask leak tests.

Nothing starts at import. Typical use::

    with SimulatorFleet(count=3, size=(1280, 720), fps=15) as fleet:
        for cam in fleet.cameras:
            print(cam.onvif_url, cam.rtsp_url, cam.state()["pose"])

This package must not import ``privacy_masks``: it is the independent ground truth.

The camera and the fleet (numpy, the renderer, the servers: ~0.15 s) are re-exported
lazily: the ``vms`` parser imports :mod:`~onvif_control.simulator.cli` on every command,
and only ``simulate-camera`` needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from onvif_control.simulator.calibration import Calibration, Pose
from onvif_control.simulator.scene import (
    SIGNATURE_RGB,
    MovingObject,
    PrivateZone,
    Scene,
    load_scene,
)

if TYPE_CHECKING:
    from onvif_control.simulator.camera import (
        SIGNATURE_TOLERANCE,
        SimulatedCamera,
        signature_mask,
    )
    from onvif_control.simulator.fleet import SimulatorFleet

_LAZY = {
    "SIGNATURE_TOLERANCE": "onvif_control.simulator.camera",
    "SimulatedCamera": "onvif_control.simulator.camera",
    "signature_mask": "onvif_control.simulator.camera",
    "SimulatorFleet": "onvif_control.simulator.fleet",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
