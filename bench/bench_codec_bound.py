"""What a compiled frame loop could save at most (issue 12, item 5): the codecs' own cost
against ffmpeg's decode + drawbox + libx264, on one H.264 file, no network, no threads.

``bench_recorder.py --floor`` measures ours, ffmpeg and a plain PyAV loop side by side
on live RTSP streams. This one asks what is left for a frame loop written in C: it times,
on the same 720p15 file, alternating, each contender in its own process:

- ``ffmpeg box``: the peer of bench_recorder (decode, ``drawbox`` fill, libx264 with the
  mask encoder's settings, MP4 out), one thread;
- ``ffmpeg codecs``: the same command without the ``drawbox``: decode + encode in C, the
  least any frame loop on these codecs costs (a compiled loop of ours would add its
  paint, 0.02-0.05 ms a frame in numpy);
- ``pyav box``: bench/pyav_floor.py, the floor of ``bench_recorder.py --floor``, on the
  file (decode, the box filled on the decoder's picture and put back after the encode,
  libx264 with the same settings, MP4 out), its start-up (imports, the encoder opened)
  timed alone and taken off.

The libraries differ as in bench_recorder: ffmpeg is the system's (FFmpeg 5.1, x264
core 164), PyAV brings its own (FFmpeg 8, x264 core 165); a loop in C would use one or
the other.

Prints the CPU of each (user + system, median of ``--rounds``) per frame and as a ratio
to ``ffmpeg box``. The file is made once by ffmpeg's ``testsrc2`` (60 s, H.264 baseline,
keyframe a second: a camera's stream) and cached in bench/out/.

    $V/bin/python bench/bench_codec_bound.py [--rounds 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_recorder import FFMPEG_X264, drawbox

OUT = Path(__file__).resolve().parent / "out"


def source(seconds: int) -> Path:
    path = OUT / f"testsrc2-720p15-{seconds}s.mp4"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        make = [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=15:duration={seconds}",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline",
            "-g", "15", "-pix_fmt", "yuv420p", str(path),
        ]  # fmt: skip
        subprocess.run(make, check=True)
    return path


def count_frames(src: Path) -> int:
    import av

    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def ffmpeg(src: Path, out: Path, frames: int, box: tuple[int, int, int, int] | None) -> float:
    """CPU seconds of one ffmpeg run, filling ``box`` (x, y, w, h) if any."""
    draw = []
    if box is not None:
        x, y, w, h = box
        draw = ["-vf", f"drawbox=x={x}:y={y}:w={w}:h={h}:color=black:t=fill"]
    cpu = child_cpu(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-threads", "1",
         "-i", str(src), "-filter_threads", "1", *draw, "-an", *FFMPEG_X264, "-f", "mp4",
         str(out)]
    )  # fmt: skip
    return checked(out, frames, cpu)


def child_cpu(cmd: list[str]) -> float:
    """CPU seconds (user + system) of one child process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def checked(out: Path, frames: int, cpu: float) -> float:
    """``cpu``, once ``out`` is known to hold the source's ``frames``: a contender that
    did less work is not timed."""
    found = count_frames(out) if out.exists() else 0
    if found != frames:
        raise SystemExit(f"{out.name} holds {found} frames, not {frames}: not timed")
    return cpu


def pyav(src: Path, out: Path, frames: int, box: tuple[int, int, int, int]) -> float:
    """CPU seconds of bench/pyav_floor.py on the file (one segment), less its start-up
    (the same imports and the encoder opened, timed alone)."""
    floor = Path(__file__).with_name("pyav_floor.py")
    out.mkdir(exist_ok=True)
    run = child_cpu([sys.executable, str(floor), str(src), str(out), *map(str, box), "3600"])
    run = checked(out / "seg00000.mp4", frames, run)  # one segment: 3600 s
    start = child_cpu([sys.executable, "-c", STARTUP])
    return run - start


#: What pyav_floor.py does before its loop: its imports and the encoder opened.
STARTUP = (
    "import av, numpy; from vms.media.codec import Encoder; "
    "from vms.media.mp4 import _SEGMENT_OPTIONS; Encoder(1280, 720, 15.0, 15)"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        print("no ffmpeg on PATH: nothing to compare with", file=sys.stderr)
        return 2
    src = source(args.seconds)
    frames = count_frames(src)
    box = drawbox()  # the box bench_recorder's ffmpeg fills
    runs: dict[str, list[float]] = {"ffmpeg box": [], "ffmpeg codecs": [], "pyav box": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):  # alternating: load and heat weigh on all alike
            runs["ffmpeg box"].append(ffmpeg(src, Path(tmp, "box.mp4"), frames, box))
            runs["ffmpeg codecs"].append(ffmpeg(src, Path(tmp, "codecs.mp4"), frames, None))
            runs["pyav box"].append(pyav(src, Path(tmp, "pyav"), frames, box))
    peer = statistics.median(runs["ffmpeg box"])
    print(
        f"codec bound, {frames} frames of 1280x720 @ 15 fps (testsrc2), "
        f"median of {args.rounds} alternating rounds, CPU per frame:"
    )
    for name, cpus in runs.items():
        mid = statistics.median(cpus)
        spread = ", ".join(f"{c:.2f}" for c in cpus)
        print(
            f"  {name:13}: {1000 * mid / frames:.3f} ms = {mid / peer:.2f}x ffmpeg box "
            f"(runs {spread} s)"
        )
    print(
        "  a compiled frame loop on these codecs costs at least 'ffmpeg codecs' plus its "
        "paint; 'pyav box' is what driving them from a plain Python loop costs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
