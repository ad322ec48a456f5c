"""The PTZ engine: carries checked commands to cameras and reads their poses.

The PTZ service (sessions, guard, audit) talks to a :class:`PtzEngine`. ARCHITECTURE
section 1 puts ONVIF control in the media engine that owns the camera and has the web
role forward commands over the internal HTTP API; for now :class:`LocalPtzEngine` runs
in-process (``vms serve --role all`` or ``--role media``), and a forwarding engine can
implement the same three methods later (docs/design/ptz-arbitration.md, "Deviation").

Op handlers, and what the pose tracker is told after each op, are tables (one entry per
op), not if/elif chains.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from onvif_control.connections import Connections
from onvif_control.guard import Command, Op
from onvif_control.pose import PoseTracker
from vms.camera_model import Pose
from vms.clock import Clock, isoformat

if TYPE_CHECKING:
    from onvif_control.adapter.device import OnvifDevice


@dataclass(frozen=True)
class Reading:
    """A camera's pose as read (degrees) and in the generic spaces."""

    pose: Pose
    generic: tuple[float, float, float]
    moving: bool
    at: dt.datetime

    # As shown (API, audit): degrees and zoom to 4 places, generic values to 6.
    @property
    def pan(self) -> float:
        return round(self.pose.pan, 4)

    @property
    def tilt(self) -> float:
        return round(self.pose.tilt, 4)

    @property
    def zoom(self) -> float:
        return round(self.pose.zoom, 4)

    @property
    def x(self) -> float:
        return round(self.generic[0], 6)

    @property
    def y(self) -> float:
        return round(self.generic[1], 6)

    def to_dict(self) -> dict[str, Any]:
        """For audit details."""
        return {
            "pan": self.pan,
            "tilt": self.tilt,
            "zoom": self.zoom,
            "x": self.x,
            "y": self.y,
            "moving": self.moving,
            "at": isoformat(self.at),
        }


@dataclass(frozen=True)
class Outcome:
    """What executing a command returned: the pose after, and preset changes."""

    after: Reading
    preset_token: str | None = None
    presets: list[dict[str, Any]] | None = None


class PtzEngine(Protocol):
    def status(self, camera_id: str) -> Reading: ...

    def execute(self, camera_id: str, command: Command) -> Outcome: ...

    def presets(self, camera_id: str) -> list[dict[str, Any]]: ...


Handler = Callable[["OnvifDevice", str, Command], Awaitable[Any]]

HANDLERS: dict[Op, Handler] = {
    Op.CONTINUOUS: lambda d, p, c: d.continuous_move(p, c.pan, c.tilt, c.zoom, c.timeout),
    Op.STOP: lambda d, p, c: d.stop(p),
    Op.ABSOLUTE: lambda d, p, c: d.absolute_move(p, c.pan, c.tilt, c.zoom, c.speed),
    Op.RELATIVE: lambda d, p, c: d.relative_move(p, c.pan, c.tilt, c.zoom, c.speed),
    Op.GOTO_PRESET: lambda d, p, c: d.goto_preset(p, c.preset or "", c.speed),
    Op.HOME: lambda d, p, c: d.goto_home(p, c.speed),
    Op.SET_PRESET: lambda d, p, c: d.set_preset(p, c.preset or ""),
    Op.REMOVE_PRESET: lambda d, p, c: d.remove_preset(p, c.preset or ""),
}


Tracking = Callable[[PoseTracker, str, Command], None]


def _poll_soon(tracker: PoseTracker, camera_id: str, command: Command) -> None:
    tracker.poke(camera_id)


# What the tracker learns once a command is sent: a continuous move's velocity (for
# limit stops), its end, or just "poll now" (INV-5).
TRACKING: dict[Op, Tracking] = {
    Op.CONTINUOUS: lambda t, cam, c: t.continuous(cam, (c.pan, c.tilt, c.zoom)),
    Op.STOP: lambda t, cam, c: t.continuous(cam, None),
    Op.ABSOLUTE: _poll_soon,
    Op.RELATIVE: _poll_soon,
    Op.GOTO_PRESET: _poll_soon,
    Op.HOME: _poll_soon,
    Op.SET_PRESET: _poll_soon,
    Op.REMOVE_PRESET: _poll_soon,
}


class LocalPtzEngine:
    """In-process engine over :class:`Connections`; feeds the pose tracker."""

    def __init__(self, connections: Connections, tracker: PoseTracker, clock: Clock) -> None:
        self.connections = connections
        self.tracker = tracker
        self.clock = clock

    async def _read(self, camera_id: str, device: OnvifDevice) -> Reading:
        record = self.connections.record(camera_id)
        clock = self.tracker.clock  # the one its samples are stamped with
        sent = clock.monotonic()
        status = await device.status(record.profile_token)
        round_trip = clock.monotonic() - sent
        if round_trip > self.tracker.max_reply_seconds:
            # Too slow for the masks (INV-5, as the tracker's own polls): shown, not kept.
            sample = self.tracker.measure(status, record.calibration, round_trip)
        else:
            sample = self.tracker.record(camera_id, status, record.calibration, round_trip)
        return Reading(sample.pose, (status.x, status.y, status.zoom), status.moving, sample.at)

    def status(self, camera_id: str) -> Reading:
        record = self.connections.ptz_record(camera_id)
        return self.connections.run(self._read(record.id, self.connections.device(record.id)))

    def execute(self, camera_id: str, command: Command) -> Outcome:
        record = self.connections.ptz_record(camera_id)
        device = self.connections.device(camera_id)

        async def go() -> Outcome:
            # Marked before it is sent, for every op (INV-5): from this instant the masks
            # assume the camera may be moving at top speed until a pose confirms it.
            self.tracker.commanding(camera_id, command.target)
            result = await HANDLERS[command.op](device, record.profile_token, command)
            TRACKING[command.op](self.tracker, camera_id, command)
            after = await self._read(camera_id, device)
            presets = None
            if command.op in (Op.SET_PRESET, Op.REMOVE_PRESET):
                presets = [p.to_dict() for p in await device.presets(record.profile_token)]
            token = str(result) if command.op is Op.SET_PRESET else None
            return Outcome(after, token, presets)

        return self.connections.run(go())

    def presets(self, camera_id: str) -> list[dict[str, Any]]:
        record = self.connections.ptz_record(camera_id)
        device = self.connections.device(camera_id)

        async def go() -> list[dict[str, Any]]:
            return [p.to_dict() for p in await device.presets(record.profile_token)]

        return self.connections.run(go())
