"""PTZ motion model of the simulated camera.

This module does no I/O and never reads a clock: every method takes ``now``, a monotonic
time in seconds, so tests drive it with any sequence of times. Each axis (pan, tilt, zoom)
moves independently, as on real PTZ heads:

- a *velocity* move runs at a signed rate until its deadline (the ONVIF ``Timeout``) or
  until the axis reaches a limit, where it stops;
- a *target* move (absolute, relative, preset, home) travels towards its target at a
  speed, so the picture pans rather than jumps; it is moving until it arrives.

A new command on an axis starts from wherever that axis is at ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from onvif_control.simulator.calibration import Calibration, Pose

_EPSILON = 1e-9


@dataclass(frozen=True)
class AxisMove:
    """The motion of one axis since ``start_time``.

    ``rate`` is signed units/s for a velocity move and an unsigned speed for a target
    move; ``target`` is set only for target moves; ``deadline`` bounds velocity moves.
    """

    start_time: float
    start: float
    lo: float
    hi: float
    rate: float = 0.0
    target: float | None = None
    deadline: float = math.inf

    def position(self, now: float) -> float:
        """Where the axis is at ``now``."""
        elapsed = max(0.0, now - self.start_time)
        if self.target is not None:
            distance = self.target - self.start
            travelled = min(abs(distance), self.rate * elapsed)
            return self.start + math.copysign(travelled, distance)
        run = max(0.0, min(now, self.deadline) - self.start_time)
        return min(max(self.start + self.rate * run, self.lo), self.hi)

    def moving(self, now: float) -> bool:
        """Whether the axis is still moving at ``now``."""
        if self.target is not None:
            return abs(self.position(now) - self.target) > _EPSILON
        if self.rate == 0.0 or now >= self.deadline:
            return False
        limit = self.hi if self.rate > 0 else self.lo
        return abs(self.position(now) - limit) > _EPSILON


@dataclass(frozen=True)
class MotionStatus:
    """Pose and move status at one instant (what ONVIF ``GetStatus`` reports)."""

    pose: Pose
    pan_tilt_moving: bool
    zoom_moving: bool


@dataclass(frozen=True)
class Speed:
    """Per-axis speed as a fraction of the maximum speed: pan/tilt/zoom in 0..1."""

    pan: float = 1.0
    tilt: float = 1.0
    zoom: float = 1.0


class MotionModel:
    """Pose of a PTZ head over time under continuous, absolute and relative moves.

    Not thread-safe: the owner serialises calls (the camera holds a lock).
    """

    def __init__(self, calibration: Calibration, start: Pose, now: float) -> None:
        self.calibration = calibration
        start = calibration.clamp(start)
        c = calibration
        self._pan = AxisMove(now, start.pan, c.pan_min, c.pan_max)
        self._tilt = AxisMove(now, start.tilt, c.tilt_min, c.tilt_max)
        self._zoom = AxisMove(now, start.zoom, 0.0, 1.0)

    def pose(self, now: float) -> Pose:
        """The pose at ``now``."""
        return Pose(self._pan.position(now), self._tilt.position(now), self._zoom.position(now))

    def status(self, now: float) -> MotionStatus:
        """Pose and whether pan/tilt and zoom are moving at ``now``."""
        return MotionStatus(
            self.pose(now),
            self._pan.moving(now) or self._tilt.moving(now),
            self._zoom.moving(now),
        )

    def continuous(
        self,
        now: float,
        *,
        pan: float | None = None,
        tilt: float | None = None,
        zoom: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """Start velocity moves; each rate is a fraction (-1..1) of the axis' max speed.

        Axes given as ``None`` keep their current motion. ``timeout`` (seconds, ``None``
        for no limit) stops the move after that long. Raises ``ValueError`` for a rate
        outside -1..1 or a negative timeout.
        """
        for name, value in (("pan", pan), ("tilt", tilt), ("zoom", zoom)):
            if value is not None and not (math.isfinite(value) and -1.0 <= value <= 1.0):
                raise ValueError(f"{name} velocity {value} is outside -1..1")
        if timeout is not None and not (math.isfinite(timeout) and timeout >= 0):
            raise ValueError(f"timeout {timeout} must be a non-negative number of seconds")
        deadline = math.inf if timeout is None else now + timeout
        c = self.calibration
        if pan is not None:
            self._pan = self._velocity(self._pan, now, pan * c.max_pan_speed, deadline)
        if tilt is not None:
            self._tilt = self._velocity(self._tilt, now, tilt * c.max_tilt_speed, deadline)
        if zoom is not None:
            self._zoom = self._velocity(self._zoom, now, zoom * c.max_zoom_speed, deadline)

    def absolute(
        self,
        now: float,
        target: Pose,
        speed: Speed | None = None,
        *,
        pan_tilt: bool = True,
        zoom: bool = True,
    ) -> None:
        """Travel to ``target`` (degrees, zoom 0..1) at ``speed`` (default: maximum).

        Only the selected axes move (ONVIF lets a request omit PanTilt or Zoom). Raises
        ``ValueError`` if the target lies outside the calibration's ranges or a speed is
        outside 0 (exclusive)..1.
        """
        if not self.calibration.contains(target):
            raise ValueError(f"target {target} is outside the camera's ranges")
        self._goto(now, target, speed or Speed(), pan_tilt=pan_tilt, zoom=zoom)

    def relative(
        self,
        now: float,
        *,
        pan: float = 0.0,
        tilt: float = 0.0,
        zoom: float = 0.0,
        speed: Speed | None = None,
        pan_tilt_given: bool = True,
        zoom_given: bool = True,
    ) -> None:
        """Travel by a translation (degrees, zoom units), clamped at the limits."""
        here = self.pose(now)
        target = self.calibration.clamp(Pose(here.pan + pan, here.tilt + tilt, here.zoom + zoom))
        self._goto(now, target, speed or Speed(), pan_tilt=pan_tilt_given, zoom=zoom_given)

    def stop(self, now: float, *, pan_tilt: bool = True, zoom: bool = True) -> None:
        """Stop the selected axes where they are at ``now``."""
        if pan_tilt:
            self._pan = self._velocity(self._pan, now, 0.0, math.inf)
            self._tilt = self._velocity(self._tilt, now, 0.0, math.inf)
        if zoom:
            self._zoom = self._velocity(self._zoom, now, 0.0, math.inf)

    def _goto(self, now: float, target: Pose, speed: Speed, *, pan_tilt: bool, zoom: bool) -> None:
        for name, value in (("pan", speed.pan), ("tilt", speed.tilt), ("zoom", speed.zoom)):
            if not (math.isfinite(value) and 0.0 < value <= 1.0):
                raise ValueError(f"{name} speed {value} is outside 0 (exclusive)..1")
        c = self.calibration
        if pan_tilt:
            self._pan = self._towards(self._pan, now, target.pan, speed.pan * c.max_pan_speed)
            self._tilt = self._towards(self._tilt, now, target.tilt, speed.tilt * c.max_tilt_speed)
        if zoom:
            self._zoom = self._towards(self._zoom, now, target.zoom, speed.zoom * c.max_zoom_speed)

    @staticmethod
    def _velocity(axis: AxisMove, now: float, rate: float, deadline: float) -> AxisMove:
        return AxisMove(now, axis.position(now), axis.lo, axis.hi, rate=rate, deadline=deadline)

    @staticmethod
    def _towards(axis: AxisMove, now: float, target: float, speed: float) -> AxisMove:
        return AxisMove(now, axis.position(now), axis.lo, axis.hi, rate=speed, target=target)
