"""Recorder benchmark (issue 5): 1280x720 @ 15 fps simulated cameras recorded
pass-through and masked (decode + mask + encode), per camera.

Targets: pass-through <= 2 % of one core per camera; masked <= 25 % of one core per
camera; mask-stage added latency, capture -> encoded packet, p95 < 150 ms; memory per
camera pipeline < 150 MB.

The cameras run in a separate process (``python -m onvif_control.simulator``, which
renders and encodes them), so their cost is not counted. CPU is measured per recorder
thread (``rtsp-<camera>``: read, decode, mask, encode, fan-out; ``segments-<camera>``:
MP4 muxing and ingest through INV-1), from ``/proc/self/task/<tid>/stat``, i.e. work
done, not wall time on a busy machine. Memory: resident set growth of this process
from before the cameras were added to the end of the run, divided by the cameras.
Masked cameras look at the simulator's window zone, so the mask is painted on every
frame; their pose source is a fixed, fresh, still pose (pose tracking has its own
benchmark, ``bench_ptz.py``).

    $V/bin/python bench/bench_recorder.py [--seconds 30] [--pass-through 4] [--masked 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import percentile, quiet_logs
from privacy_masks.geometry import SpherePolygon
from privacy_masks.service import MaskService
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from recorder.pipeline import CameraSpec
from vms.audit.log import SYSTEM_ROLE, Who
from vms.camera_model import Calibration, Pose, PoseSample
from vms.config import load_config
from vms.services import Services

PASSWORD = "bench"
TICKS = os.sysconf("SC_CLK_TCK")
# The simulator's default scene: the window zone is in view at home (pan 0, tilt -10).
WINDOW = ((4.0, -3.0), (12.0, -2.0), (12.5, 5.0), (4.5, 4.0))


class StillPoses:
    """A fresh still pose at home for every camera (PoseSource)."""

    def latest(self, camera_id: str) -> PoseSample | None:
        return PoseSample(Pose(0.0, -10.0, 0.0), dt.datetime.now(dt.UTC), moving=False)

    def history(self, camera_id: str, since: dt.datetime) -> list[PoseSample]:
        now = dt.datetime.now(dt.UTC)
        return [
            PoseSample(Pose(0.0, -10.0, 0.0), now - dt.timedelta(seconds=s), moving=False)
            for s in (1.0, 0.5)
        ]


def thread_cpu(name_prefixes: tuple[str, ...]) -> float:
    """CPU seconds (user + system) used so far by this process's threads so named."""
    total = 0.0
    for thread in threading.enumerate():
        if thread.native_id is None or not thread.name.startswith(name_prefixes):
            continue
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().split(")")[-1]
        except FileNotFoundError:
            continue
        parts = fields.split()
        total += (int(parts[11]) + int(parts[12])) / TICKS  # utime, stime
    return total


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def start_cameras(count: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "onvif_control.simulator", "--onvif-port", "0",
            "--rtsp-port", "0", "--count", str(count), "--size", "1280x720", "--fps", "15",
            "--password", PASSWORD,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert proc.stdout is not None
    urls = []
    for _ in range(count):
        line = proc.stdout.readline()
        if not line.startswith("ONVIF "):
            proc.terminate()
            raise RuntimeError(f"simulator did not start: {line!r}")
        rtsp = line.split(" RTSP ")[1].strip()
        scheme, rest = rtsp.split("://", 1)
        urls.append(f"{scheme}://admin:{PASSWORD}@{rest}")
    return proc, urls


def run(recorder: Recorder, ids: list[str], seconds: float, warmup: float) -> dict[str, float]:
    prefixes = tuple(f"{kind}-{i}" for i in ids for kind in ("rtsp", "segments"))
    rss0 = rss_mib()
    recorder.start()
    deadline = time.monotonic() + 30
    while any(recorder.pipeline(i).status.state != "streaming" for i in ids):
        if time.monotonic() > deadline:
            raise RuntimeError({i: recorder.status(i) for i in ids})
        time.sleep(0.1)
    time.sleep(warmup)
    cpu0, wall0 = thread_cpu(prefixes), time.monotonic()
    packets0 = sum(recorder.pipeline(i).status.packets for i in ids)
    for i in ids:
        recorder.pipeline(i).status.latencies.clear()
    time.sleep(seconds)
    cpu1, wall1 = thread_cpu(prefixes), time.monotonic()
    packets = sum(recorder.pipeline(i).status.packets for i in ids) - packets0
    latencies = [x for i in ids for x in recorder.pipeline(i).status.latencies]
    rss1 = rss_mib()
    blanked = sum(recorder.status(i).blanked_frames for i in ids)
    stages = [recorder.pipeline(i).stage for i in ids]
    mask_frames = sum(s.stats.frames for s in stages if s is not None)
    mask_seconds = sum(s.stats.seconds for s in stages if s is not None)
    recorder.stop()
    wall = wall1 - wall0
    return {
        "core_per_camera": (cpu1 - cpu0) / wall / len(ids),
        "fps_per_camera": packets / wall / len(ids),
        "latency_p50_ms": 1000 * percentile(latencies, 50) if latencies else float("nan"),
        "latency_p95_ms": 1000 * percentile(latencies, 95) if latencies else float("nan"),
        "rss_per_camera_mib": (rss1 - rss0) / len(ids),
        "blanked": float(blanked),
        "mask_ms_per_frame": 1000 * mask_seconds / mask_frames if mask_frames else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--pass-through", type=int, default=4, dest="plain")
    parser.add_argument("--masked", type=int, default=2)
    args = parser.parse_args()
    quiet_logs()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        data = Path(tmp)
        config = load_config(
            environ={},
            overrides={
                "VMS_DATA_DIR": str(data),
                "VMS_DATABASE_URL": f"sqlite:///{data / 'vms.db'}",
                "VMS_INGEST_MIN_FREE_BYTES": "0",
                "VMS_RECORDER_SEGMENT_SECONDS": "10",
            },
        )
        services = Services.open(config)
        services.migrate()
        proc, urls = start_cameras(args.plain + args.masked)
        try:
            recorder = get_recorder(services)
            plain = [f"plain{n}" for n in range(args.plain)]
            for camera_id, url in zip(plain, urls, strict=False):
                recorder.add_camera(CameraSpec(camera_id, url))
            results["pass-through"] = run(recorder, plain, args.seconds, args.warmup)
            for camera_id in plain:
                recorder.remove_camera(camera_id)
            masked = [f"masked{n}" for n in range(args.masked)]
            recorder.pose_source = StillPoses()
            for camera_id in masked:
                services.ports.get(MaskService).replace_all(
                    camera_id, [SpherePolygon("window", WINDOW)], Who("bench", SYSTEM_ROLE)
                )
            for camera_id, url in zip(masked, urls[args.plain :], strict=True):
                recorder.add_camera(CameraSpec(camera_id, url, Calibration()))
            results["masked"] = run(recorder, masked, args.seconds, args.warmup)
        finally:
            proc.terminate()
            proc.wait(20)
            services.close()
    print(f"recorder benchmark, 1280x720 @ 15 fps, {args.seconds:.0f} s per phase")
    targets = {"pass-through": 0.02, "masked": 0.25}
    for phase, r in results.items():
        count = args.plain if phase == "pass-through" else args.masked
        print(
            f"  {phase:12s} x{count}: {100 * r['core_per_camera']:.2f} % of a core per camera "
            f"(target <= {100 * targets[phase]:.0f} %), {r['fps_per_camera']:.1f} fps, "
            f"latency p50 {r['latency_p50_ms']:.0f} ms p95 {r['latency_p95_ms']:.0f} ms, "
            f"RSS +{r['rss_per_camera_mib']:.0f} MiB per camera, blanked {r['blanked']:.0f}, "
            f"mask stage {r['mask_ms_per_frame']:.2f} ms per frame"
        )
    masked_r = results["masked"]
    ok = (
        results["pass-through"]["core_per_camera"] <= 0.02
        and masked_r["core_per_camera"] <= 0.25
        and masked_r["latency_p95_ms"] < 150
        and max(r["rss_per_camera_mib"] for r in results.values()) < 150
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
