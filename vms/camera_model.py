"""PTZ camera values shared by control (``onvif_control``), masking (``privacy_masks``)
and recording (``recorder``): poses, calibration, and the pose-source interface.

Pure: no I/O. Conventions (docs/design/mask-geometry.md): pan and tilt in degrees, pan
positive to the right, tilt positive up, no roll; zoom in 0..1 (0 widest). ONVIF generic
spaces (pan/tilt -1..1, zoom 0..1) map linearly onto the calibrated ranges. Zoom is a
focal length growing linearly from the widest to the narrowest field of view:
``f(z) = f_wide * (1 + z * (M - 1))`` with ``M = tan(wide/2) / tan(tele/2)``, as optical
zoom lenses behave (and as the simulator renders).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from vms.bounded import parse_number
from vms.errors import InvalidArgument


@dataclass(frozen=True)
class Pose:
    """Where a camera points: pan and tilt in degrees, zoom in 0..1."""

    pan: float
    tilt: float
    zoom: float

    def to_dict(self) -> dict[str, float]:
        return {"pan": self.pan, "tilt": self.tilt, "zoom": self.zoom}


@dataclass(frozen=True)
class PoseSample:
    """A pose at a time. ``moving`` is the camera's MoveStatus; ``commanded`` marks an
    expected pose set when a move was commanded, before the camera confirmed it.

    ``uncertainty``: the camera read the pose within this many seconds of ``at`` (the
    pose tracker stamps a GetStatus reply at the middle of its round trip, give or take
    half of it); ``None`` when not known (the masks then allow ``[privacy_masks]
    latency_seconds``)."""

    pose: Pose
    at: dt.datetime
    moving: bool
    commanded: bool = False
    uncertainty: float | None = None


@dataclass(frozen=True)
class Calibration:
    """A camera's ranges and optics, with software limits for PTZ commands.

    Defaults: pan -180..180, tilt -90..20 degrees, horizontal field of view 60 degrees at
    the widest zoom and 6 at the narrowest; software limits default to the full range.
    """

    pan_min: float = -180.0
    pan_max: float = 180.0
    tilt_min: float = -90.0
    tilt_max: float = 20.0
    hfov_wide: float = 60.0
    hfov_tele: float = 6.0
    # Software limits (degrees, zoom units): commands are clamped or refused outside.
    limit_pan_min: float | None = None
    limit_pan_max: float | None = None
    limit_tilt_min: float | None = None
    limit_tilt_max: float | None = None
    limit_zoom_max: float | None = None

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

    # -- ONVIF generic spaces <-> degrees ---------------------------------------------

    def pan_to_degrees(self, x: float) -> float:
        return self.pan_min + (x + 1.0) / 2.0 * (self.pan_max - self.pan_min)

    def tilt_to_degrees(self, y: float) -> float:
        return self.tilt_min + (y + 1.0) / 2.0 * (self.tilt_max - self.tilt_min)

    def pan_to_generic(self, degrees: float) -> float:
        return (degrees - self.pan_min) / (self.pan_max - self.pan_min) * 2.0 - 1.0

    def tilt_to_generic(self, degrees: float) -> float:
        return (degrees - self.tilt_min) / (self.tilt_max - self.tilt_min) * 2.0 - 1.0

    def from_generic(self, x: float, y: float, zoom: float) -> Pose:
        return Pose(self.pan_to_degrees(x), self.tilt_to_degrees(y), zoom)

    def to_generic(self, pose: Pose) -> tuple[float, float, float]:
        return self.pan_to_generic(pose.pan), self.tilt_to_generic(pose.tilt), pose.zoom

    # -- optics -----------------------------------------------------------------------

    def hfov(self, zoom: float) -> float:
        """Horizontal field of view in degrees at ``zoom`` (0 widest, 1 narrowest)."""
        z = min(max(zoom, 0.0), 1.0)
        tan_wide = math.tan(math.radians(self.hfov_wide) / 2.0)
        magnification = tan_wide / math.tan(math.radians(self.hfov_tele) / 2.0)
        return math.degrees(2.0 * math.atan(tan_wide / (1.0 + z * (magnification - 1.0))))

    def focal_px(self, zoom: float, width: int) -> float:
        """Focal length in pixels for an image ``width`` pixels wide at ``zoom``."""
        return (width / 2.0) / math.tan(math.radians(self.hfov(zoom)) / 2.0)

    # -- limits -----------------------------------------------------------------------

    def limits(self) -> tuple[float, float, float, float, float]:
        """Effective (pan_min, pan_max, tilt_min, tilt_max, zoom_max)."""
        return (
            max(self.pan_min, self.limit_pan_min if self.limit_pan_min is not None else -1e9),
            min(self.pan_max, self.limit_pan_max if self.limit_pan_max is not None else 1e9),
            max(self.tilt_min, self.limit_tilt_min if self.limit_tilt_min is not None else -1e9),
            min(self.tilt_max, self.limit_tilt_max if self.limit_tilt_max is not None else 1e9),
            min(1.0, self.limit_zoom_max if self.limit_zoom_max is not None else 1.0),
        )

    def clamp(self, pose: Pose) -> Pose:
        """``pose`` limited to the ranges and the software limits."""
        pan_lo, pan_hi, tilt_lo, tilt_hi, zoom_hi = self.limits()
        return Pose(
            min(max(pose.pan, pan_lo), pan_hi),
            min(max(pose.tilt, tilt_lo), tilt_hi),
            min(max(pose.zoom, 0.0), zoom_hi),
        )

    def within_limits(self, pose: Pose, tolerance: float = 1e-6) -> bool:
        clamped = self.clamp(pose)
        return (
            abs(clamped.pan - pose.pan) <= tolerance
            and abs(clamped.tilt - pose.tilt) <= tolerance
            and abs(clamped.zoom - pose.zoom) <= tolerance
        )

    # -- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Build from a dict of field names; unknown keys are refused (ValueError)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown calibration field(s) {sorted(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if value is None and key.startswith("limit_"):
                values[key] = None
                continue
            try:  # finite: 10**400 overflowed float() (a 500), NaN slipped through (#10.10)
                values[key] = parse_number(value, f"calibration {key}")
            except InvalidArgument as exc:
                raise ValueError(exc.message) from None
        return replace(cls(), **values)


class PoseSource(Protocol):
    """Where the media pipeline learns each camera's pose (INV-5 needs it fresh).

    A source only ever adds a sample after its newest: while :meth:`latest` returns the
    very same sample object, :meth:`history` holds no sample it did not hold before
    (older ones may leave it). The mask stage holds a still camera's plan on that
    (``privacy_masks/stage.py``); the pose tracker restamps a reply that arrives after
    a newer sample to keep it so (``onvif_control/pose.py``)."""

    def latest(self, camera_id: str) -> PoseSample | None:
        """The newest known pose, or None when unknown."""
        ...

    def history(self, camera_id: str, since: dt.datetime) -> list[PoseSample]:
        """Samples at or after ``since``, oldest first (for masks while moving)."""
        ...
