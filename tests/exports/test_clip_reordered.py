"""The clip cut on a stream with frame reordering (B-frames), which the simulator does
not make: segments generated with PyAV (libx264, two B-frames, GOP 1 s). A GOP cut
short at its end would not decode, so ``keyframe`` mode keeps the last GOP whole and
``exact`` mode re-encodes it up to ``end``; both decode without a warning.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from vms.media.clip import Segment, cut_clips

FPS = 10
T0 = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)
SEGMENT_SECONDS = 2


def make_segment(path: Path, index: int) -> None:
    out = av.open(str(path), "w", format="mp4")
    stream: Any = out.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
    stream.codec_context.max_b_frames = 2
    stream.codec_context.gop_size = FPS
    stream.options = {
        "preset": "ultrafast",
        "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0:bframes=2:b-adapt=0",
    }
    base = np.random.default_rng(index).integers(0, 255, (96, 160, 3), dtype=np.uint8)
    for i in range(SEGMENT_SECONDS * FPS):
        frame = av.VideoFrame.from_ndarray(np.roll(base, i * 2, axis=1), format="rgb24")
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
    out.close()


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> list[Segment]:
    folder = tmp_path_factory.mktemp("bframes")
    made = []
    for n in range(3):
        path = folder / f"seg-{n}.mp4"
        make_segment(path, n)
        start = T0 + dt.timedelta(seconds=n * SEGMENT_SECONDS)
        made.append(Segment(path, start, start + dt.timedelta(seconds=SEGMENT_SECONDS), f"s{n}"))
    return made


def reordered(path: Path) -> bool:
    with av.open(str(path)) as container:
        return any(p.pts != p.dts for p in container.demux(video=0) if p.size)


def decode_warnings(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "warning", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr


def test_the_generated_segments_reorder_frames(segments: list[Segment]) -> None:
    assert all(reordered(s.path) for s in segments)


@pytest.mark.parametrize("mode", ["keyframe", "exact"])
def test_a_cut_ending_mid_gop_decodes(segments: list[Segment], tmp_path: Path, mode: str) -> None:
    start = T0 + dt.timedelta(seconds=0.55)
    end = T0 + dt.timedelta(seconds=4.45)  # inside the third segment's first GOP
    [clip] = cut_clips(segments, start, end, tmp_path, mode=mode).clips
    frame = dt.timedelta(seconds=1 / FPS)
    assert decode_warnings(clip.path) == ""
    with av.open(str(clip.path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == clip.frames
    if mode == "keyframe":
        # The last GOP kept whole: the clip runs to that GOP's end, not beyond.
        assert clip.end == T0 + dt.timedelta(seconds=5)
        assert clip.reencoded == 0
    else:
        assert abs(clip.end - end) <= frame
        assert start - frame < clip.start <= start
        assert clip.reencoded > 0
