"""Export benchmark (issue 15, item 4): one hour of one 1280x720 @ 15 fps camera (60
stored one-minute segments) exported with a keyframe cut and packaged signed, against
``ffmpeg -f concat -c copy`` of the same segments into one MP4, in the same run.

Targets: ours <= 1.5x ffmpeg's time, and under 36 s.

The segments are what the recorder stores: the simulator's H.264 encoder (baseline,
GOP 1 s, SPS/PPS repeated) muxed by the recorder's own segment writer
(:class:`vms.media.mp4.Mp4Writer`, fragmented MP4). One minute is encoded (a moving
textured picture: ``--detail low`` about 0.6 Mbit/s, ``high`` fine noise at about
5 Mbit/s, the worst case for the bytes to copy) and stored 60 times under consecutive wall-clock
starts: a stream copy does the same work whatever the pictures are. Cached in
``bench/out/export-720p15/``.

Ours = ``cut_clips`` (one continuous MP4, faststart) + ``write_package`` (clip streamed
into the ZIP with its SHA-256, manifest, Ed25519 signature, fsync). The peer writes its
MP4 with ``-movflags +faststart`` too (the same browser-ready layout) and is then
fsynced, as ours is (evidence is on disk before it is reported done; bench_ingest
compares with ``cp`` + ``sync`` the same way). Each contender
runs ``--rounds`` times, alternating; medians.

    $V/bin/python bench/bench_export.py [--rounds 2] [--minutes 60] [--detail low|high]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import OUT_DIR, cpu_pressure, machine, median, quiet_logs, verdict
from onvif_control.simulator.encoder import H264Encoder
from vms.exports.credentials import ClipProvenance, SourceRef, load_or_create_chain, sign_clip
from vms.exports.package import ClipFile, ExportDraft, write_package
from vms.exports.signing import load_or_create_signer
from vms.media.clip import Segment, cut_clips
from vms.media.mp4 import Mp4Writer
from vms.media.stream import RawPacket, StreamInfo

SIZE = (1280, 720)
FPS = 15
T0 = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)
SEGMENT = dt.timedelta(minutes=1)


def annexb(nals: tuple[bytes, ...]) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in nals)


def one_minute(path: Path, detail: str) -> None:
    """One stored segment: 900 frames encoded by the simulator's encoder, muxed by the
    recorder's segment writer."""
    width, height = SIZE
    encoder = H264Encoder(SIZE, FPS)
    rng = np.random.default_rng(7)
    if detail == "high":
        # Fine noise: the worst case for the bytes to copy (about 5 Mbit/s at CRF 23).
        texture = rng.integers(40, 215, (height * 3 // 2, width * 2), dtype=np.uint8)
    else:
        # Blocks of 8x8 noise over a gradient (well predicted: about 0.6 Mbit/s).
        blocks = rng.integers(0, 96, (height * 3 // 16, width * 2 // 8), dtype=np.uint8)
        texture = np.kron(blocks, np.ones((8, 8), dtype=np.uint8))
        ramp = np.linspace(0, 150, width * 2, dtype=np.float32)[None, :].astype(np.uint8)
        texture = texture + ramp
    writer: Mp4Writer | None = None
    step = 90000 // FPS
    for i in range(60 * FPS):
        x = (i * 4) % width
        frame = np.ascontiguousarray(texture[:, x : x + width])
        frame[height:] = 128  # grey chroma
        encoded = encoder.encode(frame, i * step)
        data = annexb(encoded.nals)
        if writer is None:
            sps, pps = encoder.parameter_sets()
            info = StreamInfo(
                "h264", width, height, Fraction(1, 90000), annexb((sps, pps)), float(FPS)
            )
            writer = Mp4Writer(path, info, data)
        writer.write(RawPacket(data, i * step, i * step, encoded.keyframe), i * step, i * step)
    assert writer is not None
    writer.close()


def segments(minutes: int, detail: str) -> list[Segment]:
    folder = OUT_DIR / ("export-720p15" if detail == "low" else f"export-720p15-{detail}")
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / "seg-00.mp4"
    if not first.exists():
        print(f"generating {first} (one minute of 720p15)...", flush=True)
        tmp = folder / "seg-00.partial.mp4"
        one_minute(tmp, detail)
        tmp.rename(first)
    out = []
    for n in range(minutes):
        path = folder / f"seg-{n:02d}.mp4"
        if not path.exists():
            shutil.copy(first, path)
        start = T0 + n * SEGMENT
        out.append(Segment(path, start, start + SEGMENT, f"seg-{n:02d}"))
    return out


def ours(segs: list[Segment], work: Path, c2pa: bool) -> tuple[float, float, int]:
    start = segs[0].start + dt.timedelta(seconds=0.5)  # not on a keyframe
    end = segs[-1].end - dt.timedelta(seconds=0.3)
    signer = load_or_create_signer(work / "secrets")
    chain = load_or_create_chain(work / "secrets", dt.datetime.now(dt.UTC)) if c2pa else None
    began = time.perf_counter()
    cut = cut_clips(segs, start, end, work, mode="keyframe", stem="camera")
    cut_done = time.perf_counter()
    draft = ExportDraft(
        "bench", T0, "bench", "admin", "benchmark", None, "keyframe", (), {"camera": ()}
    )
    paths = []
    for c in cut.clips:
        if chain is None:
            paths.append(c.path)
            continue
        # As the export job does: Content Credentials embedded, a rewrite of the clip.
        signed = work / f"signed-{c.path.name}"
        sign_clip(
            c.path,
            signed,
            chain,
            ClipProvenance(
                export_id="bench",
                title="camera",
                recorded_start=c.start,
                cut_mode="keyframe",
                requested_start=start,
                requested_end=end,
                sources=[SourceRef(s.label, "0" * 64) for s in segs],
            ),
        )
        c.path.unlink()
        paths.append(signed)
    clips = [
        ClipFile(p, "camera", c.start, c.seconds, start, end, c.sources, (0,))
        for p, c in zip(paths, cut.clips, strict=True)
    ]
    package = write_package(work / "export.zip", draft, clips, signer)
    done = time.perf_counter()
    assert len(cut.clips) == 1 and not cut.gaps
    return done - began, cut_done - began, package.size


def peer(segs: list[Segment], work: Path) -> tuple[float, int]:
    listing = work / "list.txt"
    listing.write_text("".join(f"file '{s.path}'\n" for s in segs))
    out = work / "concat.mp4"
    began = time.perf_counter()
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(out),
        ],
        check=True,
    )
    with out.open("rb+") as f:  # on disk, as our package is (cp + sync in bench_ingest)
        os.fsync(f.fileno())
    return time.perf_counter() - began, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument(
        "--detail", choices=("low", "high"), default="low", help="picture detail (bitrate)"
    )
    parser.add_argument(
        "--c2pa",
        action="store_true",
        help="also embed C2PA Content Credentials in the clip, as the export job does",
    )
    args = parser.parse_args()
    quiet_logs()
    segs = segments(args.minutes, args.detail)
    total = sum(s.path.stat().st_size for s in segs)
    print(f"{machine()}; {cpu_pressure()}")
    rate = total * 8 / (len(segs) * SEGMENT.total_seconds()) / 1e6
    print(f"{len(segs)} segments of 1280x720@15, {total / 1e6:.0f} MB ({rate:.1f} Mbit/s)")
    times, cuts, peers = [], [], []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=OUT_DIR) as tmp:
            seconds, cut, size = ours(segs, Path(tmp), args.c2pa)
            times.append(seconds)
            cuts.append(cut)
        with tempfile.TemporaryDirectory(dir=OUT_DIR) as tmp:
            seconds_peer, peer_size = peer(segs, Path(tmp))
            peers.append(seconds_peer)
        print(
            f"round {r + 1}: ours {seconds:6.2f} s (cut {cut:.2f} s, package "
            f"{seconds - cut:.2f} s, {size / 1e6:.0f} MB ZIP); ffmpeg concat "
            f"{seconds_peer:6.2f} s ({peer_size / 1e6:.0f} MB)",
            flush=True,
        )
    mine, theirs = median(times), median(peers)
    ratio = mine / theirs
    print(
        f"export{' with C2PA' if args.c2pa else ''} {mine:.2f} s vs ffmpeg concat -c copy "
        f"{theirs:.2f} s: ratio {ratio:.2f} "
        f"(target <= 1.5, under 36 s): {verdict(ratio <= 1.5 and mine < 36)}"
    )


if __name__ == "__main__":
    main()
