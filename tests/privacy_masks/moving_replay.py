"""A moving camera replayed through the real mask stage, pictures included (issue 12
item 4): the simulator's motion model runs the leak test's random PTZ script, a modelled
poller feeds a pose source, each frame is rendered at its true pose and masked by
:class:`privacy_masks.stage.MaskStage` (with or without image registration), and the
painted mask is compared with the simulator's ground truth.

Shared by ``tests/privacy_masks/test_registration.py`` and ``bench/bench_overmask.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable

import numpy as np

from onvif_control.simulator import SimulatedCamera
from onvif_control.simulator.calibration import Pose as SimPose
from onvif_control.simulator.motion import MotionModel
from privacy_masks.geometry import SpherePolygon
from privacy_masks.model import MaskSet
from privacy_masks.planning import Anchor, MaskPlan, MaskSettings, mask_for_frame
from privacy_masks.stage import MaskStage
from tests.privacy_masks.conftest import SIZE, frame_from_i420, sim_pose, vms_calibration
from tests.privacy_masks.test_plan_replay import Poller, Script, simulate, utc, visible_for
from vms.camera_model import Pose, PoseSample

# The pose tracker at its default 20 Hz while moving, on a fast link (each way 2-10 ms),
# stamping mid round trip with its uncertainty; the leak test's mask settings (the
# simulator's frames are timed within 10 ms: capture_error_seconds 0.03).
TRACKER = Poller(period=0.05, max_delay=0.01, round_trip=True)
SIMULATOR_SETTINGS = MaskSettings(capture_error_seconds=0.03)
# Before session 11: 5 Hz, replies stamped on receipt, one 0.15 s allowance for both.
TRACKER_5HZ_RECEIPT = Poller(period=0.2, max_delay=0.06, stamp_on_receipt=True)


def pan_tilt_script(
    rng: random.Random, motion: MotionModel, now: float, preset: SimPose, camera: SimulatedCamera
) -> Callable[[], None] | None:
    """Moves that keep the zoom: slow continuous pans and tilts around the window zone,
    and returns to the preset (a patrol; the registration's best case)."""
    kind = rng.choice(["pan", "pan", "tilt", "preset", "still"])
    if kind == "pan":
        rate, timeout = rng.choice([-1, 1]) * rng.uniform(0.05, 0.15), rng.uniform(0.5, 1.5)
        return lambda: motion.continuous(now, pan=rate, tilt=None, zoom=None, timeout=timeout)
    if kind == "tilt":
        rate, timeout = rng.choice([-1, 1]) * rng.uniform(0.05, 0.1), rng.uniform(0.5, 1.0)
        return lambda: motion.continuous(now, pan=None, tilt=rate, zoom=None, timeout=timeout)
    if kind == "preset":
        return lambda: motion.absolute(now, preset, None)
    return None


@dataclasses.dataclass
class MovingResult:
    frames: int = 0
    blanked: int = 0
    leaked_pixels: int = 0
    leaked_frames: int = 0
    registered: int = 0
    # Per moving frame (true pose changed since the previous frame): the masked fraction
    # of the frame, and the fraction a still camera at the same true pose masks (the
    # plan at rest: one exact anchor, the base margin).
    moving_fraction: list[float] = dataclasses.field(default_factory=list)
    still_fraction: list[float] = dataclasses.field(default_factory=list)
    registration_cpu_seconds: float = 0.0
    fallbacks: dict[str, int] = dataclasses.field(default_factory=dict)


class _Poses:
    """A pose source replaying the modelled poller's samples as they became visible."""

    def __init__(self) -> None:
        self.visible: list[PoseSample] = []

    def latest(self, camera_id: str) -> PoseSample | None:
        return max(self.visible, key=lambda s: s.at) if self.visible else None

    def history(self, camera_id: str, since: dt.datetime) -> list[PoseSample]:
        return sorted((s for s in self.visible if s.at >= since), key=lambda s: s.at)


def replay_moving(
    camera: SimulatedCamera,
    seed: int,
    seconds: float,
    registration: bool = True,
    poller: Poller | None = None,
    script: Script | None = None,
    settings: MaskSettings | None = None,
) -> MovingResult:
    """Replay ``seconds`` of ``script`` (default: the leak test's random commands) with
    poses from ``poller`` (default: :data:`TRACKER`) and mask ``settings`` (default:
    :data:`SIMULATOR_SETTINGS`)."""
    poller = poller or TRACKER
    zones = tuple(SpherePolygon(z.name, z.polygon) for z in camera.scene.private_zones)
    calibration = vms_calibration(camera)
    samples, frames = simulate(camera, seed, seconds, poller, script)
    visible_from = [v for v, _ in samples]
    settings = settings or SIMULATOR_SETTINGS
    source = _Poses()
    stage = MaskStage("replay", source, calibration, settings)
    if not registration:
        stage.disable_registration()
    masks = MaskSet("replay", 1, zones)
    renderer = camera._renderer_ready()
    area = SIZE[0] * SIZE[1]
    out = MovingResult()
    previous: Pose | None = None
    for captured, truth in frames:
        source.visible = visible_for(samples, visible_from, captured, settings)
        moved, previous = previous is not None and previous != truth, truth
        if not source.visible:
            continue
        frame = frame_from_i420(renderer.render_i420(sim_pose(truth)), *SIZE)
        out.frames += 1
        if stage.apply(frame, masks, utc(captured)):
            out.blanked += 1
            continue
        painted = stage.painted
        cells = painted.mask if painted is not None else None
        full = (
            np.repeat(np.repeat(cells, 2, axis=0), 2, axis=1)
            if cells is not None
            else np.zeros((SIZE[1], SIZE[0]), dtype=bool)
        )
        zone = camera.zone_mask(sim_pose(truth))
        leaked = int((zone & ~full).sum())
        out.leaked_pixels += leaked
        out.leaked_frames += bool(leaked)
        if moved:
            still = MaskPlan(
                False,
                "still",
                (Anchor(truth),),
                settings.base_margin_deg,
                False,
                settings.base_margin_px,
            )
            still_cells = mask_for_frame(zones, still, calibration, SIZE)
            assert still_cells is not None
            out.moving_fraction.append(float(full.sum()) / area)
            out.still_fraction.append(4.0 * float(still_cells.sum()) / area)
    out.registered = stage.stats.registered
    out.registration_cpu_seconds = stage.stats.registration_cpu_seconds
    if stage.registrar is not None and stage.registrar.stats.fallbacks is not None:
        out.fallbacks = dict(stage.registrar.stats.fallbacks)
    return out
