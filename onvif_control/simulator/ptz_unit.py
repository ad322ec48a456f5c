"""The PTZ head of one simulated camera: motion model, presets and home, thread-safe.

SOAP handlers (event-loop thread) command it and the frame thread reads the pose, so all
access goes through one lock. Time comes from an injected monotonic clock. Presets and
home live in memory only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from onvif_control.simulator.calibration import Calibration, Pose
from onvif_control.simulator.motion import MotionModel, MotionStatus, Speed

log = logging.getLogger(__name__)

MAX_PRESETS = 64


class PresetError(ValueError):
    """A preset operation named an unknown preset, or a name already in use."""


@dataclass(frozen=True)
class Preset:
    """A stored pose with a token and a name."""

    token: str
    name: str
    pose: Pose


class PtzUnit:
    """Thread-safe PTZ state; ``clock`` returns monotonic seconds."""

    def __init__(
        self, calibration: Calibration, home: Pose, clock: Callable[[], float], label: str = ""
    ) -> None:
        self.calibration = calibration
        self._clock = clock
        self._lock = threading.Lock()
        self._motion = MotionModel(calibration, home, clock())
        self._home = home
        self._presets: dict[str, Preset] = {}
        self._next_token = 1
        self._label = label

    def status(self, at: float | None = None) -> MotionStatus:
        """Pose and move status now (or at monotonic time ``at``)."""
        with self._lock:
            return self._motion.status(self._clock() if at is None else at)

    def pose(self, at: float | None = None) -> Pose:
        """The pose now (or at monotonic time ``at``)."""
        return self.status(at).pose

    def continuous(
        self,
        pan: float | None,
        tilt: float | None,
        zoom: float | None,
        timeout: float | None,
    ) -> None:
        """Velocity move (fractions of max speed); see :meth:`MotionModel.continuous`."""
        with self._lock:
            self._motion.continuous(self._clock(), pan=pan, tilt=tilt, zoom=zoom, timeout=timeout)
        log.debug("%s continuous pan=%s tilt=%s zoom=%s", self._label, pan, tilt, zoom)

    def absolute(
        self, target: Pose, speed: Speed | None, *, pan_tilt: bool = True, zoom: bool = True
    ) -> None:
        """Travel to ``target`` (degrees); see :meth:`MotionModel.absolute`."""
        with self._lock:
            self._motion.absolute(self._clock(), target, speed, pan_tilt=pan_tilt, zoom=zoom)
        log.debug("%s absolute -> %s", self._label, target)

    def relative(
        self,
        pan: float,
        tilt: float,
        zoom: float,
        speed: Speed | None,
        *,
        pan_tilt: bool = True,
        zoom_given: bool = True,
    ) -> None:
        """Travel by a translation in degrees / zoom units, clamped at the limits."""
        with self._lock:
            self._motion.relative(
                self._clock(),
                pan=pan,
                tilt=tilt,
                zoom=zoom,
                speed=speed,
                pan_tilt_given=pan_tilt,
                zoom_given=zoom_given,
            )

    def stop(self, pan_tilt: bool = True, zoom: bool = True) -> None:
        """Stop the selected axes."""
        with self._lock:
            self._motion.stop(self._clock(), pan_tilt=pan_tilt, zoom=zoom)

    # Presets and home ----------------------------------------------------------------

    def presets(self) -> list[Preset]:
        """All presets in creation order."""
        with self._lock:
            return list(self._presets.values())

    def set_preset(self, name: str | None, token: str | None) -> Preset:
        """Store the current pose as a new preset, or overwrite preset ``token``."""
        with self._lock:
            pose = self._motion.pose(self._clock())
            if token is not None:
                old = self._presets.get(token)
                if old is None:
                    raise PresetError(f"no preset with token {token!r}")
                preset = Preset(token, name or old.name, pose)
            else:
                if len(self._presets) >= MAX_PRESETS:
                    raise OverflowError(f"already {MAX_PRESETS} presets")
                token = f"preset_{self._next_token}"
                self._next_token += 1
                preset = Preset(token, name or token, pose)
            if any(p.name == preset.name and p.token != token for p in self._presets.values()):
                raise PresetError(f"preset name {preset.name!r} is already in use")
            self._presets[token] = preset
        log.info("%s preset %s (%s) -> %s", self._label, preset.token, preset.name, preset.pose)
        return preset

    def goto_preset(self, token: str, speed: Speed | None) -> None:
        """Travel to preset ``token``. Raises :class:`PresetError` if unknown."""
        with self._lock:
            preset = self._presets.get(token)
            if preset is None:
                raise PresetError(f"no preset with token {token!r}")
            self._motion.absolute(self._clock(), preset.pose, speed)

    def remove_preset(self, token: str) -> None:
        """Delete preset ``token``. Raises :class:`PresetError` if unknown."""
        with self._lock:
            if self._presets.pop(token, None) is None:
                raise PresetError(f"no preset with token {token!r}")

    def goto_home(self, speed: Speed | None) -> None:
        """Travel to the home position."""
        with self._lock:
            self._motion.absolute(self._clock(), self._home, speed)

    def set_home(self) -> Pose:
        """Make the current pose the home position."""
        with self._lock:
            old, self._home = self._home, self._motion.pose(self._clock())
        log.info("%s home %s -> %s", self._label, old, self._home)
        return self._home
