"""The PTZ guard's pure part: parse a command, check its values, enforce software limits.

Table-driven (as Home Assistant's ONVIF integration handles move modes): each op names
its fields, their ranges and whether it moves to a known target (``OPS``), and one
builder turns its checked values into the command (``BUILDERS``). No I/O; the PTZ service
adds permissions, arbitration, rate limits and audit (INV-6, PSCS-2).

The input is a :class:`CommandRequest` (what the operator asked, already typed by the web
layer's request model); the output a :class:`Command` (what goes to the camera).

Values are in the ONVIF generic spaces (pan/tilt -1..1, zoom 0..1, velocities and speed
as fractions of the maximum) unless ``units="degrees"``, in which case ``pan`` and
``tilt`` of ``absolute`` and ``relative`` are degrees (zoom stays 0..1).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vms.camera_model import Calibration, Pose
from vms.errors import FailedPrecondition, InvalidArgument


class Op(enum.StrEnum):
    CONTINUOUS = "continuous"
    STOP = "stop"
    ABSOLUTE = "absolute"
    RELATIVE = "relative"
    GOTO_PRESET = "goto_preset"
    HOME = "home"
    SET_PRESET = "set_preset"
    REMOVE_PRESET = "remove_preset"


@dataclass(frozen=True)
class Range:
    lo: float
    hi: float


@dataclass(frozen=True)
class OpSpec:
    """Which fields an op takes (with generic ranges) and which it requires."""

    fields: Mapping[str, Range]
    required: frozenset[str] = frozenset()
    texts: frozenset[str] = frozenset()  # string fields (preset token/name)
    moves: bool = True  # changes the pose


UNIT = Range(-1.0, 1.0)
ZOOM = Range(0.0, 1.0)
SPEED = Range(0.0, 1.0)
TIMEOUT = Range(0.05, 60.0)

OPS: dict[Op, OpSpec] = {
    Op.CONTINUOUS: OpSpec(
        {"pan": UNIT, "tilt": UNIT, "zoom": UNIT, "timeout": TIMEOUT},
    ),
    Op.STOP: OpSpec({}),
    Op.ABSOLUTE: OpSpec({"pan": UNIT, "tilt": UNIT, "zoom": ZOOM, "speed": SPEED}),
    Op.RELATIVE: OpSpec({"pan": UNIT, "tilt": UNIT, "zoom": UNIT, "speed": SPEED}),
    Op.GOTO_PRESET: OpSpec({"speed": SPEED}, frozenset({"preset"}), frozenset({"preset"})),
    Op.HOME: OpSpec({"speed": SPEED}),
    Op.SET_PRESET: OpSpec({}, frozenset({"preset"}), frozenset({"preset"}), moves=False),
    Op.REMOVE_PRESET: OpSpec({}, frozenset({"preset"}), frozenset({"preset"}), moves=False),
}

MAX_TEXT = 64
VALUE_FIELDS = ("pan", "tilt", "zoom", "speed", "timeout", "preset")


@dataclass(frozen=True)
class CommandRequest:
    """A PTZ command as asked (``POST /api/v1/cameras/{id}/ptz``, the joystick's
    ``ptz.command`` event): typed, not yet checked against its op's table or the
    camera's limits. ``None`` is a value not given."""

    session_id: str
    op: Op
    units: Literal["generic", "degrees"] = "generic"
    pan: float | None = None
    tilt: float | None = None
    zoom: float | None = None
    speed: float | None = None
    timeout: float | None = None
    preset: str | None = None

    def given(self) -> dict[str, Any]:
        """The values given (not None), by name: the audit entry's ``args``."""
        out: dict[str, Any] = {
            name: getattr(self, name) for name in VALUE_FIELDS if getattr(self, name) is not None
        }
        if self.units != "generic":
            out["units"] = self.units
        return out


@dataclass(frozen=True)
class Command:
    """A checked command, ready for the camera (generic spaces)."""

    op: Op
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    speed: float | None = None
    timeout: float | None = None
    preset: str | None = None
    # The pose the camera should end at, when known (absolute, relative, known presets).
    target: Pose | None = None
    clamped: bool = False
    # What the caller sent (for the audit entry), and what limits did to it.
    requested: dict[str, Any] = field(default_factory=dict)

    def arguments(self) -> dict[str, Any]:
        """The values sent to the camera (audit)."""
        out: dict[str, Any] = {}
        spec = OPS[self.op]
        for name in spec.fields:
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value, 6)
        if self.preset is not None:
            out["preset"] = self.preset
        return out


def _check(name: str, value: float, bounds: Range, unit: str = "") -> None:
    if not bounds.lo <= value <= bounds.hi:
        raise InvalidArgument(
            f"{name} {value:g}{unit} is outside {bounds.lo:g}..{bounds.hi:g}{unit}",
            field=name,
            value=value,
        )


def parse(
    asked: CommandRequest,
    calibration: Calibration,
    current: Pose | None,
    *,
    presets: Mapping[str, Pose | None] | None = None,
    limit_mode: str = "clamp",
) -> Command:
    """Check a command against its op's table and apply the software limits.

    ``current`` is the pose before the command (needed for relative targets);
    ``presets`` maps preset tokens to their poses (None: no position given), the
    camera's own when the calibration has software limits (:func:`limited`). Raises
    InvalidArgument for values the op does not take, needs or allows (and, with limits,
    a preset the camera does not list), and FailedPrecondition for targets outside the
    limits in ``refuse`` mode (names the limit), presets outside them, and, with limits,
    a preset without a position and ``home`` (whose pose ONVIF does not give).
    """
    op = asked.op
    spec = OPS[op]
    degrees = asked.units == "degrees" and op in (Op.ABSOLUTE, Op.RELATIVE)
    allowed = set(spec.fields) | set(spec.texts)
    given = asked.given()
    unknown = set(given) - allowed - {"units"}
    if unknown:
        raise InvalidArgument(
            f"op {op.value} does not take {', '.join(sorted(unknown))} "
            f"(it takes {', '.join(sorted(allowed)) or 'no values'})"
        )
    missing = spec.required - set(given)
    if missing:
        raise InvalidArgument(f"op {op.value} needs {', '.join(sorted(missing))}")
    requested = {k: v for k, v in sorted(given.items())}

    values: dict[str, float | None] = {name: getattr(asked, name) for name in spec.fields}
    preset = asked.preset if spec.texts else None

    if degrees:
        values = _degrees_to_generic(op, values, calibration)
    for name, bounds in spec.fields.items():
        value = values[name]
        if value is not None:
            _check(name, value, bounds)

    request = _Request(
        op, values, preset, current, calibration, presets or {}, limit_mode, requested
    )
    return BUILDERS[op](request)


@dataclass(frozen=True)
class _Request:
    """A command body after its fields were checked: what a builder needs."""

    op: Op
    values: Mapping[str, float | None]
    preset: str | None
    current: Pose | None
    calibration: Calibration
    presets: Mapping[str, Pose | None]
    limit_mode: str
    requested: dict[str, Any]

    def get(self, name: str) -> float | None:
        return self.values.get(name)


def _absolute(r: _Request) -> Command:
    pan, tilt, zoom = r.get("pan"), r.get("tilt"), r.get("zoom")
    here = r.current or Pose(0.0, 0.0, 0.0)
    gx, gy, _ = r.calibration.to_generic(here)
    target = r.calibration.from_generic(
        pan if pan is not None else gx,
        tilt if tilt is not None else gy,
        zoom if zoom is not None else here.zoom,
    )
    return _to_target(r.op, target, r.calibration, r.limit_mode, r.get("speed"), r.requested)


def _relative(r: _Request) -> Command:
    if r.current is None:
        raise FailedPrecondition("the camera's pose is unknown: relative move refused")
    pan, tilt, zoom = r.get("pan"), r.get("tilt"), r.get("zoom")
    c = r.calibration
    gx, gy, gz = c.to_generic(r.current)
    target = c.from_generic(
        gx + (pan or 0.0), gy + (tilt or 0.0), min(max(gz + (zoom or 0.0), 0.0), 1.0)
    )
    command = _to_target(r.op, target, c, r.limit_mode, r.get("speed"), r.requested)
    # Send the (possibly clamped) target as a translation from here.
    tx, ty, tz = c.to_generic(command.target or target)
    return Command(
        r.op,
        tx - gx,
        ty - gy,
        tz - gz,
        speed=r.get("speed"),
        target=command.target,
        clamped=command.clamped,
        requested=r.requested,
    )


def _continuous(r: _Request) -> Command:
    pan, tilt, zoom = r.get("pan"), r.get("tilt"), r.get("zoom")
    vx, vy, vz = pan or 0.0, tilt or 0.0, zoom or 0.0
    if r.current is not None:
        vx, vy, vz = _block_at_limits(r.current, r.calibration, vx, vy, vz)
    clamped = (vx, vy, vz) != (pan or 0.0, tilt or 0.0, zoom or 0.0)
    return Command(
        r.op, vx, vy, vz, timeout=r.get("timeout"), clamped=clamped, requested=r.requested
    )


def _goto_preset(r: _Request) -> Command:
    assert r.preset is not None
    preset_pose = r.presets.get(r.preset)
    if limited(r.calibration):
        # PSCS-1: with software limits a preset goes only where it was checked to go;
        # ``presets`` are then the camera's own (a preset can be set or re-aimed there).
        if r.preset not in r.presets:
            raise InvalidArgument(
                f"preset {r.preset!r} is not among the camera's presets",
                field="preset",
                value=r.preset,
            )
        if preset_pose is None:
            raise FailedPrecondition(
                f"the camera gives no position for preset {r.preset!r}: it cannot be "
                "checked against the software limits",
                limits=_limits(r.calibration),
            )
    if preset_pose is not None and not r.calibration.within_limits(preset_pose):
        raise FailedPrecondition(
            f"preset {r.preset!r} at pan {preset_pose.pan:.1f}, tilt {preset_pose.tilt:.1f}, "
            f"zoom {preset_pose.zoom:.2f} is outside the software limits",
            limits=_limits(r.calibration),
        )
    return Command(
        r.op, speed=r.get("speed"), preset=r.preset, target=preset_pose, requested=r.requested
    )


def _home(r: _Request) -> Command:
    if limited(r.calibration):
        # PSCS-1: ONVIF gives no home pose (it is set on the camera), so with software
        # limits it cannot be checked; a preset can.
        raise FailedPrecondition(
            "the camera's home position is unknown to the system and cannot be checked "
            "against the software limits: go to a preset instead",
            limits=_limits(r.calibration),
        )
    return Command(r.op, speed=r.get("speed"), requested=r.requested)


def _as_asked(r: _Request) -> Command:
    """Stop and the preset edits: no target, nothing to limit."""
    return Command(r.op, preset=r.preset, requested=r.requested)


# One builder per op (STYLE: move modes in a table, not an if/elif chain).
BUILDERS: dict[Op, Callable[[_Request], Command]] = {
    Op.CONTINUOUS: _continuous,
    Op.STOP: _as_asked,
    Op.ABSOLUTE: _absolute,
    Op.RELATIVE: _relative,
    Op.GOTO_PRESET: _goto_preset,
    Op.HOME: _home,
    Op.SET_PRESET: _as_asked,
    Op.REMOVE_PRESET: _as_asked,
}


def _degrees_to_generic(
    op: Op, values: dict[str, float | None], c: Calibration
) -> dict[str, float | None]:
    out = dict(values)
    pan, tilt = values.get("pan"), values.get("tilt")
    if op is Op.ABSOLUTE:
        if pan is not None:
            _check("pan", pan, Range(c.pan_min, c.pan_max), " degrees")
            out["pan"] = c.pan_to_generic(pan)
        if tilt is not None:
            _check("tilt", tilt, Range(c.tilt_min, c.tilt_max), " degrees")
            out["tilt"] = c.tilt_to_generic(tilt)
    else:
        if pan is not None:
            out["pan"] = pan * 2.0 / (c.pan_max - c.pan_min)
        if tilt is not None:
            out["tilt"] = tilt * 2.0 / (c.tilt_max - c.tilt_min)
    return out


def limited(c: Calibration) -> bool:
    """Whether software limits narrow the camera's range (else no pose is outside them)."""
    return c.limits() != (c.pan_min, c.pan_max, c.tilt_min, c.tilt_max, 1.0)


def _limits(c: Calibration) -> dict[str, float]:
    pan_lo, pan_hi, tilt_lo, tilt_hi, zoom_hi = c.limits()
    return {
        "pan_min": pan_lo,
        "pan_max": pan_hi,
        "tilt_min": tilt_lo,
        "tilt_max": tilt_hi,
        "zoom_max": zoom_hi,
    }


def _to_target(
    op: Op,
    target: Pose,
    c: Calibration,
    limit_mode: str,
    speed: float | None,
    requested: dict[str, Any],
) -> Command:
    clamped = c.clamp(target)
    outside = not c.within_limits(target)
    if outside and limit_mode == "refuse":
        raise FailedPrecondition(
            f"target pan {target.pan:.1f}, tilt {target.tilt:.1f}, zoom {target.zoom:.2f} "
            "is outside the software limits",
            limits=_limits(c),
        )
    final = clamped if outside else target
    x, y, z = c.to_generic(final)
    return Command(op, x, y, z, speed=speed, target=final, clamped=outside, requested=requested)


def _block_at_limits(
    pose: Pose, c: Calibration, vx: float, vy: float, vz: float, margin: float = 1e-3
) -> tuple[float, float, float]:
    """Zero the velocity of an axis already at its limit and moving outwards."""
    pan_lo, pan_hi, tilt_lo, tilt_hi, zoom_hi = c.limits()
    if (vx > 0 and pose.pan >= pan_hi - margin) or (vx < 0 and pose.pan <= pan_lo + margin):
        vx = 0.0
    if (vy > 0 and pose.tilt >= tilt_hi - margin) or (vy < 0 and pose.tilt <= tilt_lo + margin):
        vy = 0.0
    if vz > 0 and pose.zoom >= zoom_hi - margin:
        vz = 0.0
    return vx, vy, vz


def beyond_limits(pose: Pose, c: Calibration, vx: float, vy: float, vz: float) -> bool:
    """True when a continuous move at (vx, vy, vz) has reached (or, for a predicted
    ``pose``, will reach) a limit it moves towards: the pose tracker stops it then."""
    return _block_at_limits(pose, c, vx, vy, vz, margin=0.0) != (vx, vy, vz)
