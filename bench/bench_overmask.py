"""Over-masking while moving (issue 12 item 4): mean masked fraction of the frame while
the camera moves, against the still-camera masked fraction for the same true poses,
with and without image registration, and the leaked pixels.

Run: ``python bench/bench_overmask.py [--seconds 60] [--seeds 2,5]``.
Target: moving fraction <= 2x the still fraction for the same poses, 0 leaked pixels.

What runs: the replay of ``tests/privacy_masks/moving_replay.py``: the simulator's motion
model drives the leak test's random PTZ script (and, second, a patrol of pans and tilts
that keep the zoom), a modelled 5 Hz pose poller stamps replies on receipt (the pose
tracker), every frame (320x180, 10 fps) is rendered at its true pose and goes through
the real ``MaskStage``; the painted mask is compared with the simulator's zone mask.
The pose source is the tracker at its default 20 Hz while moving, each sample stamped
mid round trip with half of it as its uncertainty, and frames timed within 0.03 s
(``moving_replay.TRACKER``, ``SIMULATOR_SETTINGS``: the leak test's). The peers measured
in the same run are the same replay with registration off (the telemetry-only plan),
and telemetry only as it was before session 11 (5 Hz, replies stamped on receipt, one
0.15 s allowance). Also: the registration's CPU cost per moving frame, and the
thumbnail + registration of a 1280x720 frame.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from benchlib import machine, median, quiet_logs, verdict

from onvif_control.simulator import SimulatedCamera
from privacy_masks.planning import Anchor, MaskSettings
from privacy_masks.registration import (
    RegistrationSettings,
    make_reference,
    register,
    thumbnail,
)
from tests.privacy_masks.conftest import sim_pose, vms_calibration
from tests.privacy_masks.moving_replay import (
    TRACKER_5HZ_RECEIPT,
    MovingResult,
    pan_tilt_script,
    replay_moving,
)
from vms.camera_model import Pose

SIZE = (320, 180)


def _line(name: str, results: list[MovingResult]) -> tuple[float, float]:
    moving = float(np.mean([f for r in results for f in r.moving_fraction]))
    still = float(np.mean([f for r in results for f in r.still_fraction]))
    frames = sum(len(r.moving_fraction) for r in results)
    leaked = sum(r.leaked_pixels for r in results)
    registered = sum(r.registered for r in results)
    cpu = sum(r.registration_cpu_seconds for r in results)
    total = sum(r.frames for r in results)
    print(
        f"  {name:<38} moving {moving:.3f}  still {still:.3f}  ratio {moving / still:5.2f}x "
        f"(target <= 2x: {verdict(moving <= 2 * still)})  leaked pixels {leaked} "
        f"({verdict(leaked == 0)})  moving frames {frames}  narrowed {registered}  "
        f"registration {1000 * cpu / max(total, 1):.3f} ms/frame"
    )
    return moving, still


def _cost_720p(camera: SimulatedCamera, rounds: int = 200) -> None:
    """Thumbnail and registration of a 1280x720 luma plane (the simulator's picture
    upscaled), medians: zoom known (the telemetry's zoom band under 1%) and zoom
    measured (log-polar step and a rescale)."""
    calibration = vms_calibration(camera)
    renderer = camera._renderer_ready()
    size = (1280, 720)
    settings = RegistrationSettings()
    pose_a = Pose(6.0, -1.0, 0.2)
    plane_a = renderer.render_i420(sim_pose(pose_a))[: SIZE[1]]
    image_a, factor = thumbnail(np.repeat(np.repeat(plane_a, 4, axis=0), 4, axis=1))
    reference = make_reference(image_a, factor, size, pose_a, 0.0, calibration)
    cases = (
        ("zoom known", Pose(6.5, -1.2, 0.2), 0.0),
        ("zoom measured", Pose(6.5, -1.2, 0.21), 0.02),
    )
    for name, pose_b, zoom_radius in cases:
        plane_b = renderer.render_i420(sim_pose(pose_b))[: SIZE[1]]
        luma = np.repeat(np.repeat(plane_b, 4, axis=0), 4, axis=1)
        band = (Anchor(Pose(6.3, -1.1, 0.2 + zoom_radius / 2), 1.0, zoom_radius),)
        thumbs, regs = [], []
        outcome: object = None
        for _ in range(rounds):
            t0 = time.perf_counter()
            image_b, _ = thumbnail(luma)
            t1 = time.perf_counter()
            outcome = register(reference, image_b, calibration, band, settings)
            t2 = time.perf_counter()
            thumbs.append(t1 - t0)
            regs.append(t2 - t1)
        ok = "registered" if not isinstance(outcome, str) else f"refused: {outcome}"
        print(
            f"1280x720 frame, {name}: thumbnail {1000 * median(thumbs):.3f} ms + registration "
            f"{1000 * median(regs):.3f} ms (median of {rounds}; {ok})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seeds", default="2,5")
    args = parser.parse_args()
    quiet_logs()
    seeds = [int(s) for s in args.seeds.split(",")]
    camera = SimulatedCamera("bench", size=SIZE, fps=10, password="unused")
    camera.prepare()
    print(f"over-masking while moving ({machine()}), {args.seconds:.0f} s x seeds {seeds}")
    for title, script in (
        ("leak-test script", None),
        ("pan/tilt patrol (zoom kept)", pan_tilt_script),
    ):
        print(f"{title}:")
        for registration in (True, False):
            results = [
                replay_moving(camera, seed, args.seconds, registration, script=script)
                for seed in seeds
            ]
            name = "registration + telemetry" if registration else "telemetry only (peer)"
            _line(name, results)
            if not registration:
                before = [
                    replay_moving(
                        camera, seed, args.seconds, False, TRACKER_5HZ_RECEIPT, script,
                        MaskSettings(),
                    )
                    for seed in seeds
                ]  # fmt: skip
                _line("telemetry, 5 Hz receipt stamps (peer)", before)
            if registration:
                reasons: dict[str, int] = {}
                for r in results:
                    for why, n in r.fallbacks.items():
                        reasons[why] = reasons.get(why, 0) + n
                print(
                    f"    kept on telemetry: {dict(sorted(reasons.items(), key=lambda i: -i[1]))}"
                )
    _cost_720p(camera)


if __name__ == "__main__":
    main()
