"""The scene a simulated camera looks at: seed, private zones, moving objects, calibration.

A scene is a frozen value; :func:`load_scene` reads one from a TOML or JSON file and
rejects unknown keys. Example (TOML)::

    seed = 7
    home = { pan = 0.0, tilt = -10.0, zoom = 0.0 }

    [calibration]            # optional, see Calibration for the keys and defaults
    hfov_wide = 60.0

    [[private_zones]]        # polygons in (pan, tilt) degrees
    name = "flat-3b-window"
    polygon = [[4.0, -3.0], [12.0, -2.0], [12.0, 4.0], [4.0, 3.0]]

    [[objects]]              # people and vehicles moving along the street
    kind = "vehicle"         # or "person"
    pan = -40.0              # position at t = 0, degrees
    tilt = -22.0             # ground contact, degrees
    speed = 6.0              # degrees per second along pan (negative: leftwards)

Private-zone polygons are linear in (pan, tilt), i.e. drawn straight on the
equirectangular panorama, and must not cross the pan = +-180 seam.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from onvif_control.simulator.calibration import Calibration, Pose

#: The colour private zones are painted with. Saturated magenta: no other scene colour
#: is within a Chebyshev (max per channel) distance of 120 of it, see ``panorama.py``.
SIGNATURE_RGB: tuple[int, int, int] = (255, 0, 255)

_OBJECT_KINDS = ("person", "vehicle")


@dataclass(frozen=True)
class PrivateZone:
    """A private area (window, yard) as a polygon of (pan, tilt) vertices in degrees."""

    name: str
    polygon: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a private zone needs a non-empty name")
        if len(self.polygon) < 3:
            raise ValueError(
                f"private zone {self.name!r} has {len(self.polygon)} vertices, need 3+"
            )
        for pan, tilt in self.polygon:
            if not (math.isfinite(pan) and -180.0 <= pan <= 180.0):
                raise ValueError(f"private zone {self.name!r}: pan {pan} outside -180..180")
            if not (math.isfinite(tilt) and -90.0 <= tilt <= 90.0):
                raise ValueError(f"private zone {self.name!r}: tilt {tilt} outside -90..90")
        pans = [p for p, _ in self.polygon]
        if max(pans) - min(pans) > 180.0:
            raise ValueError(f"private zone {self.name!r} spans more than 180 degrees of pan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (as served in ``/sim/state``)."""
        return {"name": self.name, "polygon": [[p, t] for p, t in self.polygon]}


@dataclass(frozen=True)
class MovingObject:
    """A person or vehicle moving along pan at constant angular speed (deg/s)."""

    kind: str
    pan: float
    tilt: float
    speed: float

    def __post_init__(self) -> None:
        if self.kind not in _OBJECT_KINDS:
            raise ValueError(f"object kind {self.kind!r} is not one of {_OBJECT_KINDS}")
        if not (-80.0 <= self.tilt <= 60.0):
            raise ValueError(f"object tilt {self.tilt} outside -80..60")

    def pan_at(self, t: float) -> float:
        """Pan of the object's centre at time ``t`` seconds, wrapped to -180..180."""
        return (self.pan + self.speed * t + 180.0) % 360.0 - 180.0


def _default_zones() -> tuple[PrivateZone, ...]:
    return (
        # Near the home position (pan 0, tilt -10): visible in the first frame.
        PrivateZone(
            "flat-3b-window",
            ((4.0, -3.0), (12.0, -2.0), (12.5, 5.0), (4.5, 4.0)),
        ),
        PrivateZone(
            "backyard",
            ((95.0, -14.0), (118.0, -14.0), (114.0, -6.0), (99.0, -6.0)),
        ),
        PrivateZone(
            "balcony",
            ((-64.0, 6.0), (-56.0, 6.0), (-56.0, 11.0), (-64.0, 11.0)),
        ),
    )


def _default_objects() -> tuple[MovingObject, ...]:
    return (
        MovingObject("vehicle", -40.0, -22.0, 6.0),
        MovingObject("vehicle", 60.0, -28.0, -9.0),
        MovingObject("vehicle", 150.0, -20.0, 4.0),
        MovingObject("person", -8.0, -10.0, 0.8),
        MovingObject("person", 25.0, -11.0, -0.6),
        MovingObject("person", -120.0, -10.5, 1.1),
    )


@dataclass(frozen=True)
class Scene:
    """Everything that defines what a simulated camera sees (deterministic from it)."""

    seed: int = 7
    home: Pose = field(default_factory=lambda: Pose(0.0, -10.0, 0.0))
    calibration: Calibration = field(default_factory=Calibration)
    private_zones: tuple[PrivateZone, ...] = field(default_factory=_default_zones)
    objects: tuple[MovingObject, ...] = field(default_factory=_default_objects)

    def __post_init__(self) -> None:
        if not self.calibration.contains(self.home):
            raise ValueError(f"home {self.home} is outside the calibration's ranges")
        names = [z.name for z in self.private_zones]
        if len(set(names)) != len(names):
            raise ValueError(f"private zone names must be unique, got {names}")


def scene_from_dict(data: Mapping[str, Any]) -> Scene:
    """Build a :class:`Scene` from parsed TOML/JSON, rejecting unknown keys.

    Missing keys take the defaults of :class:`Scene` (including the default zones and
    objects); an explicit empty list means none.
    """
    _reject_unknown(data, {"seed", "home", "calibration", "private_zones", "objects"}, "scene")
    kwargs: dict[str, Any] = {}
    if "seed" in data:
        kwargs["seed"] = int(data["seed"])
    if "home" in data:
        home = data["home"]
        _reject_unknown(home, {"pan", "tilt", "zoom"}, "home")
        kwargs["home"] = Pose(
            float(home.get("pan", 0.0)), float(home.get("tilt", 0.0)), float(home.get("zoom", 0.0))
        )
    if "calibration" in data:
        known = {f.name for f in fields(Calibration)}
        _reject_unknown(data["calibration"], known, "calibration")
        kwargs["calibration"] = Calibration(**{k: float(v) for k, v in data["calibration"].items()})
    if "private_zones" in data:
        zones = []
        for zone in data["private_zones"]:
            _reject_unknown(zone, {"name", "polygon"}, "private_zones[]")
            polygon = tuple((float(p), float(t)) for p, t in zone["polygon"])
            zones.append(PrivateZone(str(zone["name"]), polygon))
        kwargs["private_zones"] = tuple(zones)
    if "objects" in data:
        objects = []
        for obj in data["objects"]:
            _reject_unknown(obj, {"kind", "pan", "tilt", "speed"}, "objects[]")
            objects.append(
                MovingObject(
                    str(obj["kind"]), float(obj["pan"]), float(obj["tilt"]), float(obj["speed"])
                )
            )
        kwargs["objects"] = tuple(objects)
    return Scene(**kwargs)


def load_scene(path: Path) -> Scene:
    """Read a scene file (``.toml`` or ``.json``). Raises ``ValueError`` if it is invalid."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"scene file {path} does not parse: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ValueError(f"scene file {path} must hold a table/object at the top level")
    try:
        return scene_from_dict(data)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"scene file {path} is invalid: {exc!r}") from exc


def _reject_unknown(data: Any, known: set[str], where: str) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a table/object, got {type(data).__name__}")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(known)}")
