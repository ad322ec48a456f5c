"""CPU per simulated camera: 1280x720 @ 15 fps with one RTSP client (render + encode).

Run: ``python bench/bench_simulator.py [--seconds 10] [--size 1280x720] [--fps 15]``.
Target (issue 3): at most 20% of one core per camera, so ``vms serve --demo`` with three
cameras leaves room for the VMS on two cores. The RTSP client is an ``ffmpeg`` process
copying the stream to null (its CPU is not counted); the figure is this process's CPU
time (all threads: frame thread, event loop) over wall time. Three phases: camera
still, panning (cheap: pan only shifts the lookup table), and tilting+zooming (lookup
tables are recomputed every frame).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import time

from onvif_control.simulator import SimulatedCamera


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _phase(cam: SimulatedCamera, name: str, seconds: float) -> dict[str, float]:
    stats = cam.hub.stats
    frames0, render0, encode0 = stats.frames, stats.render_seconds, stats.encode_seconds
    cpu0, wall0 = _cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu, wall = _cpu_seconds() - cpu0, time.monotonic() - wall0
    frames = stats.frames - frames0
    result = {
        "fps": frames / wall,
        "render_ms": 1000 * (stats.render_seconds - render0) / max(frames, 1),
        "encode_ms": 1000 * (stats.encode_seconds - encode0) / max(frames, 1),
        "core_fraction": cpu / wall,
    }
    print(
        f"{name:>16}: {result['fps']:5.1f} fps  render {result['render_ms']:5.2f} ms/frame  "
        f"encode {result['encode_ms']:5.2f} ms/frame  "
        f"CPU {100 * result['core_fraction']:5.1f}% of one core"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="seconds per phase (default 10)"
    )
    parser.add_argument("--size", default="1280x720", help="frame size (default 1280x720)")
    parser.add_argument("--fps", type=int, default=15, help="frame rate (default 15)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        print("ffmpeg is required for the RTSP client")
        return 1
    started = time.monotonic()
    with SimulatedCamera("bench", size=(width, height), fps=args.fps, password="bench") as cam:
        print(f"camera ready in {time.monotonic() - started:.1f} s (panorama build + encoder)")
        url = cam.rtsp_url.replace("rtsp://", "rtsp://admin:bench@")
        client = subprocess.Popen(
            [
                ffmpeg,
                "-v",
                "error",
                "-rtsp_transport",
                "tcp",
                "-i",
                url,
                "-c",
                "copy",
                "-f",
                "null",
                "-",
            ],
            stdin=subprocess.DEVNULL,
        )
        try:
            time.sleep(3.0)  # connect, warm up
            still = _phase(cam, "still", args.seconds)
            cam.ptz.continuous(0.2, None, None, timeout=args.seconds + 1)
            _phase(cam, "panning", args.seconds)
            cam.ptz.continuous(None, 0.1, 0.1, timeout=args.seconds + 1)
            _phase(cam, "tilting+zooming", args.seconds)
        finally:
            client.terminate()
            client.wait(10)
    target = 0.20
    verdict = "OK" if still["core_fraction"] <= target else "OVER TARGET"
    print(
        f"per camera (still): {100 * still['core_fraction']:.1f}% of one core "
        f"(target <= 20%): {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
