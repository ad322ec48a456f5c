"""Calibration of a simulated PTZ camera: ranges, field of view and ONVIF generic spaces.

Pure values and conversions. ONVIF generic spaces are pan/tilt in -1..1 and zoom in 0..1
(``PositionGenericSpace``, ``ZoomGenericSpace``); the simulator maps them linearly onto its
pan and tilt ranges in degrees. Zoom is modelled as a focal length that grows linearly
from the widest to the narrowest field of view, which is how optical zoom lenses behave:
``f(z) = f_wide * (1 + z * (M - 1))`` with ``M = tan(wide/2) / tan(tele/2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pose:
    """A camera pose: pan and tilt in degrees (tilt positive up), zoom in 0..1."""

    pan: float
    tilt: float
    zoom: float


@dataclass(frozen=True)
class Calibration:
    """Ranges, optics and maximum speeds of a simulated PTZ camera.

    Defaults: pan -180..180 degrees, tilt -90..20 degrees, horizontal field of view
    60 degrees at the widest zoom and 6 degrees at the narrowest (10x), maximum speeds
    90 deg/s pan, 60 deg/s tilt and 0.5 zoom units/s.
    """

    pan_min: float = -180.0
    pan_max: float = 180.0
    tilt_min: float = -90.0
    tilt_max: float = 20.0
    hfov_wide: float = 60.0
    hfov_tele: float = 6.0
    max_pan_speed: float = 90.0
    max_tilt_speed: float = 60.0
    max_zoom_speed: float = 0.5

    def __post_init__(self) -> None:
        if not -180.0 <= self.pan_min < self.pan_max <= 180.0:
            raise ValueError(f"pan range {self.pan_min}..{self.pan_max} is not inside -180..180")
        if not -90.0 <= self.tilt_min < self.tilt_max <= 90.0:
            raise ValueError(f"tilt range {self.tilt_min}..{self.tilt_max} is not inside -90..90")
        if not 0.0 < self.hfov_tele <= self.hfov_wide < 180.0:
            raise ValueError(
                f"fields of view wide={self.hfov_wide} tele={self.hfov_tele} are not "
                "0 < tele <= wide < 180"
            )
        for name in ("max_pan_speed", "max_tilt_speed", "max_zoom_speed"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)} must be positive")

    # Generic space <-> degrees -------------------------------------------------------

    def pan_to_degrees(self, x: float) -> float:
        """Map a generic pan (-1..1) to degrees."""
        return self.pan_min + (x + 1.0) / 2.0 * (self.pan_max - self.pan_min)

    def tilt_to_degrees(self, y: float) -> float:
        """Map a generic tilt (-1..1) to degrees."""
        return self.tilt_min + (y + 1.0) / 2.0 * (self.tilt_max - self.tilt_min)

    def pan_to_generic(self, degrees: float) -> float:
        """Map a pan in degrees to the generic space (-1..1)."""
        return (degrees - self.pan_min) / (self.pan_max - self.pan_min) * 2.0 - 1.0

    def tilt_to_generic(self, degrees: float) -> float:
        """Map a tilt in degrees to the generic space (-1..1)."""
        return (degrees - self.tilt_min) / (self.tilt_max - self.tilt_min) * 2.0 - 1.0

    def pan_degrees_per_generic(self) -> float:
        """Degrees of pan per unit of generic pan (for translations and velocities)."""
        return (self.pan_max - self.pan_min) / 2.0

    def tilt_degrees_per_generic(self) -> float:
        """Degrees of tilt per unit of generic tilt (for translations and velocities)."""
        return (self.tilt_max - self.tilt_min) / 2.0

    # Optics ------------------------------------------------------------------------

    def hfov(self, zoom: float) -> float:
        """Horizontal field of view in degrees at ``zoom`` (0 = widest, 1 = narrowest)."""
        z = min(max(zoom, 0.0), 1.0)
        tan_wide = math.tan(math.radians(self.hfov_wide) / 2.0)
        magnification = tan_wide / math.tan(math.radians(self.hfov_tele) / 2.0)
        return math.degrees(2.0 * math.atan(tan_wide / (1.0 + z * (magnification - 1.0))))

    def focal_px(self, zoom: float, width: int) -> float:
        """Focal length in pixels for an image ``width`` pixels wide at ``zoom``."""
        return (width / 2.0) / math.tan(math.radians(self.hfov(zoom)) / 2.0)

    def clamp(self, pose: Pose) -> Pose:
        """Return ``pose`` limited to the ranges."""
        return Pose(
            min(max(pose.pan, self.pan_min), self.pan_max),
            min(max(pose.tilt, self.tilt_min), self.tilt_max),
            min(max(pose.zoom, 0.0), 1.0),
        )

    def contains(self, pose: Pose) -> bool:
        """Whether ``pose`` lies inside the ranges."""
        return self.clamp(pose) == pose

    def to_dict(self) -> dict[str, float]:
        """Ranges and optics by field name, in degrees (``/sim/state`` ``calibration``).

        The keys are those of ``vms.camera_model.Calibration`` so the VMS can read them
        with its ``from_dict``; speeds and the conventions are in :meth:`describe`.
        """
        return {
            "pan_min": self.pan_min,
            "pan_max": self.pan_max,
            "tilt_min": self.tilt_min,
            "tilt_max": self.tilt_max,
            "hfov_wide": self.hfov_wide,
            "hfov_tele": self.hfov_tele,
        }

    def describe(self) -> dict[str, Any]:
        """Speeds and conventions (``/sim/state`` ``calibration_notes``)."""
        return {
            "zoom_model": "focal length linear in zoom: f(z) = f_wide * (1 + z * (M - 1))",
            "generic_pan_range": [-1.0, 1.0],
            "generic_tilt_range": [-1.0, 1.0],
            "generic_zoom_range": [0.0, 1.0],
            "generic_mapping": "linear: degrees = min + (generic + 1) / 2 * (max - min)",
            "max_speed": {
                "pan_deg_s": self.max_pan_speed,
                "tilt_deg_s": self.max_tilt_speed,
                "zoom_per_s": self.max_zoom_speed,
            },
            "projection": "pinhole, square pixels, principal point at the image centre, "
            "no roll; tilt positive up, pan positive to the right",
        }
