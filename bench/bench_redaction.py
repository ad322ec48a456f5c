"""Redaction benchmark (issue 16, Benchmarks): 60 s of generated 1280x720 @ 15 fps H.264
with two faces and a plate crossing the picture over and over, analysed (detection +
tracking) and rendered (blur burned in, H.264 re-encoded), against ``ffmpeg`` decoding
and re-encoding the same input with the same encoder settings, in the same run.

Target: at least 1x real time end to end (analyse + render), peak memory under 1 GiB.

Ours is the redaction job's own code (:func:`privacy_masks.redaction_job.analyse_video`
and :func:`~privacy_masks.redaction_job.render_video`, what ``RedactionJob`` runs), two
passes over the file (frames are never all held: memory stays flat):
1. analyse: PyAV decode in a reader thread -> every k-th frame (``--every``, default 3:
   detection at 5 Hz, the tracker interpolates the two frames between) converted to BGR
   at 640x360 by swscale -> the opencv backend (Haar face + plate cascades; HOG off: the
   scene has no people and HOG alone costs more than the rest) -> boxes scaled back to
   720p -> IoU tracker;
2. render: PyAV decode in a reader thread -> blur the tracks' boxes straight into the
   yuv420p planes (no BGR round trip) -> libx264 with the job's settings (veryfast, crf
   18, High profile, yuv420p, faststart) -> MP4.
Peer: ``ffmpeg -i src -c:v libx264 -preset veryfast -crf 18 -an out.mp4``.

``--backend ultralytics`` runs the analyse pass with the tests' own tiny YOLO model
(tests/privacy_masks/yolo_model.py, trained on first use) at ``--imgsz`` (default 640);
its detections are meaningless on this scene, its cost is what is measured.

    $V/bin/python bench/bench_redaction.py [--every 3] [--seconds 60]
        [--backend opencv|ultralytics|both] [--imgsz 640]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
from benchlib import OUT_DIR

from privacy_masks.detection import ObjectClass, build_detector, tracker_settings
from privacy_masks.detection.render import Method, boxes_by_frame
from privacy_masks.redaction_job import analyse_video, render_video
from tests.privacy_masks.scenes import Scene, SceneObject
from vms.config import RedactionConfig
from vms.media.transcode import video_info

WIDTH, HEIGHT, FPS = 1280, 720, 15
X264 = {"preset": "veryfast", "crf": "18"}  # the job's (vms.media.transcode)


def scene(seconds: int) -> Scene:
    s = WIDTH / 426
    period = 150
    return Scene(
        WIDTH,
        HEIGHT,
        seconds * FPS,
        (
            SceneObject(
                ObjectClass.FACE,
                (60 * s, 70 * s),
                (2.5 * s, 0.3 * s),
                32 * s,
                (150, 185, 225),
                period,
            ),
            SceneObject(
                ObjectClass.FACE,
                (360 * s, 160 * s),
                (-2.0 * s, -0.2 * s),
                38 * s,
                (120, 160, 215),
                period,
            ),
            SceneObject(
                ObjectClass.PLATE,
                (-10 * s, 195 * s),
                (3.0 * s, 0.0),
                120 * s,
                (220, 40, 200),
                period,
            ),
        ),
    )


def source(seconds: int) -> Path:
    path = OUT_DIR / f"redaction-720p15-{seconds}s.mp4"
    if path.is_file():
        return path
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    print(f"generating {path}...", flush=True)
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "medium", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for img in scene(seconds).render():
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(stream.encode())
    tmp.replace(path)
    return path


def ours(src: Path, dst: Path, backend: str, every: int, imgsz: int) -> tuple[float, float, int]:
    """(analyse seconds, render seconds, tracks): the job's analysis and render (their
    CPU seconds printed)."""
    config = RedactionConfig(detect_every=every, method="blur")
    if backend == "ultralytics":
        from tests.privacy_masks import yolo_model

        model, _ = yolo_model.trained_model()
        config = RedactionConfig(
            model=str(model), classes="face=face,plate=plate", detect_every=every, model_imgsz=imgsz
        )
    detector = build_detector(
        config, {ObjectClass.FACE, ObjectClass.PLATE}, settings_dir=OUT_DIR / "ultralytics"
    )
    started, c0 = time.perf_counter(), cpu()
    info = video_info(src, src.name)
    tracks = analyse_video(
        src, src.name, info, detector, tracker_settings(config), config.detect_width
    ).tracks
    analysed, c1 = time.perf_counter(), cpu()
    render_video(src, dst, src.name, boxes_by_frame(tracks), Method.BLUR, margin=config.margin)
    rendered = time.perf_counter()
    print(f"      CPU: analyse {c1 - c0:.1f} s, render {cpu() - c1:.1f} s", flush=True)
    return analysed - started, rendered - analysed, len(tracks)


def cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peer(src: Path, dst: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-c:v",
            "libx264",
            "-preset",
            X264["preset"],
            "-crf",
            X264["crf"],
            "-an",
            str(dst),
        ],
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--backend", choices=["opencv", "ultralytics", "both"], default="opencv")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg not found (scripts/install-system.sh)")
    src = source(args.seconds)
    work = OUT_DIR / "redaction"
    work.mkdir(parents=True, exist_ok=True)
    c0 = cpu(resource.RUSAGE_CHILDREN)
    t_peer = peer(src, work / "peer.mp4")
    c_peer = cpu(resource.RUSAGE_CHILDREN) - c0
    print(f"input: {src.name}, {args.seconds} s of {WIDTH}x{HEIGHT} @ {FPS} fps")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"peer  ffmpeg decode+encode: {t_peer:6.1f} s  ({args.seconds / t_peer:.2f}x real time),"
        f" CPU {c_peer:.1f} s"
    )
    backends = ["opencv", "ultralytics"] if args.backend == "both" else [args.backend]
    for backend in backends:
        c0 = cpu()
        t_an, t_re, n = ours(src, work / f"ours-{backend}.mp4", backend, args.every, args.imgsz)
        total = t_an + t_re
        c_ours = cpu() - c0
        print(
            f"ours  {backend:<11} every {args.every}: analyse {t_an:6.1f} s + render {t_re:6.1f} s"
            f" = {total:6.1f} s  ({args.seconds / total:.2f}x real time, {total / t_peer:.2f}x"
            f" ffmpeg's time, {n} tracks); CPU {c_ours:.1f} s ({c_ours / c_peer:.2f}x ffmpeg's)"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS) of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
