"""Clips cut from a real recording of the simulator (issue 15, item 4): arbitrary
instants across segment boundaries, in both cut modes; the clip's span against the
request, continuous timestamps, ffprobe and ffmpeg clean, a browser-ready layout (moov
first), and its frames against the stored frames at the same instants.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.exports.conftest import Recording
from vms.errors import InvalidArgument
from vms.media.clip import Clip, Gap, Segment, cut_clips, runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

GOP = dt.timedelta(seconds=1)  # the simulator's keyframe interval
# (start, end) in seconds from the recording's start: inside one GOP, on a boundary,
# across one and across many segment boundaries, to the very end.
CUTS = [(2.35, 9.72), (0.0, 3.0), (5.55, 27.13), (12.91, 13.33), (17.04, 31.96)]


def frame_of(rec: Recording) -> dt.timedelta:
    return dt.timedelta(seconds=1 / rec.fps)


Frames = list[tuple[dt.datetime, np.ndarray]]


def stored_frames(rec: Recording) -> Frames:
    """Every stored frame in order, with its wall-clock instant."""
    frames: Frames = []
    for seg in rec.segments:
        with av.open(str(seg.path)) as container:
            stream: Any = container.streams.video[0]
            first = None
            for frame in container.decode(stream):
                first = frame.pts if first is None else first
                at = seg.start + dt.timedelta(seconds=float((frame.pts - first) * stream.time_base))
                frames.append((at, frame.to_ndarray(format="gray")))
    return frames


def matching(clip: Clip, stored: Frames, rec: Recording) -> list[tuple[np.ndarray, np.ndarray]]:
    """The clip's frames paired with the stored frames they should be: the same run of
    frames, each at the same instant within one frame (segment starts are capture-clock
    estimates: docs/design/exports.md, the clip cut, step 2)."""
    frames = clip_frames(clip)
    assert len(frames) == clip.frames
    frame = frame_of(rec)
    first = min(range(len(stored)), key=lambda i: abs(stored[i][0] - clip.start))
    assert abs(stored[first][0] - clip.start) < frame / 2
    pairs = list(zip(frames, stored[first : first + len(frames)], strict=False))
    assert len(pairs) == len(frames)
    # Where a segment's catalog start is earlier than its predecessor's last frame ends
    # (the capture clock's estimate improved), the clip pushes it back to stay
    # continuous: each frame may be late by the overlaps met so far, never more.
    slack = dt.timedelta(0)
    for n, ((at, _), (stored_at, _)) in enumerate(pairs):
        if n:
            (at_before, _), (stored_before, _) = pairs[n - 1]
            slack += max(dt.timedelta(0), stored_before + frame - stored_at)
            # Continuous: each frame follows the one before after the stored interval
            # (a frame the camera skipped stays a longer step), at least half a frame.
            step, stored_step = at - at_before, stored_at - stored_before
            assert frame / 2 <= step <= max(stored_step, frame) + frame / 2, (at, step)
        assert abs(at - stored_at) < frame / 2 + slack, (at, stored_at, slack)
    assert slack < dt.timedelta(seconds=0.5)
    return [(pixels, original) for (_, pixels), (_, original) in pairs]


def clip_frames(clip: Clip) -> list[tuple[dt.datetime, np.ndarray]]:
    with av.open(str(clip.path)) as container:
        stream: Any = container.streams.video[0]
        return [
            (
                clip.start + dt.timedelta(seconds=float(frame.pts * stream.time_base)),
                frame.to_ndarray(format="gray"),
            )
            for frame in container.decode(stream)
        ]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def assert_clean(path: Path) -> None:
    """ffprobe (streams and every packet) and a full ffmpeg decode say nothing at
    ``-v warning``."""
    probe = subprocess.run(
        ["ffprobe", "-v", "warning", "-show_streams", "-show_packets", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stderr == "", probe.stderr
    decode = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "warning", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert decode.stderr == "", decode.stderr


def assert_continuous(clip: Clip, rec: Recording) -> None:
    with av.open(str(clip.path)) as container:
        stream: Any = container.streams.video[0]
        # Read while the container is open: a closed one's stream may forget it (a
        # CI run saw ``time_base`` None after the ``with``).
        time_base = float(stream.time_base)
        pts = [int(p.pts) for p in container.demux(stream) if p.size]
    assert pts[0] == 0
    steps = np.diff(np.array(pts)) * time_base
    frame = 1 / rec.fps
    # No frame overlaps the next; a step longer than a frame is only a frame the camera
    # did not send (checked against the stored frames in ``matching``), never a gap.
    assert steps.min() > 0.5 * frame and steps.max() < 0.5, steps


def top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8].decode("ascii"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        pos += size
    return boxes


@pytest.fixture(scope="module")
def stored(recorded: Recording) -> Frames:
    return stored_frames(recorded)


def test_the_recording_has_ten_segments_back_to_back(recorded: Recording) -> None:
    assert len(recorded.segments) >= 10
    for prev, nxt in zip(recorded.segments, recorded.segments[1:], strict=False):
        assert nxt.start == prev.end


@pytest.mark.parametrize(("a", "b"), CUTS)
def test_keyframe_cut_starts_at_the_keyframe_at_or_before_start(
    recorded: Recording, stored: Frames, tmp_path: Path, a: float, b: float
) -> None:
    start, end = recorded.at(a), min(recorded.at(b), recorded.end)
    result = cut_clips(recorded.segments, start, end, tmp_path, mode="keyframe")
    assert result.gaps == () and len(result.clips) == 1
    clip = result.clips[0]
    frame = frame_of(recorded)
    assert start - GOP - frame < clip.start <= start
    assert abs(clip.end - end) <= frame
    assert clip.reencoded == 0
    covered = [s.label for s in recorded.segments if s.start < end and s.end > clip.start]
    assert list(clip.sources) == covered
    assert_clean(clip.path)
    assert_continuous(clip, recorded)
    assert top_level_boxes(clip.path).index("moov") < top_level_boxes(clip.path).index("mdat")
    for pixels, original in matching(clip, stored, recorded):
        assert np.array_equal(pixels, original)


@pytest.mark.parametrize(("a", "b"), CUTS)
def test_exact_cut_starts_and_ends_within_one_frame_and_reencodes_only_the_head(
    recorded: Recording, stored: Frames, tmp_path: Path, a: float, b: float
) -> None:
    start, end = recorded.at(a), min(recorded.at(b), recorded.end)
    result = cut_clips(recorded.segments, start, end, tmp_path, mode="exact")
    assert result.gaps == () and len(result.clips) == 1
    clip = result.clips[0]
    frame = frame_of(recorded)
    assert start - frame < clip.start <= start
    assert abs(clip.end - end) <= frame
    assert clip.reencoded < recorded.fps  # at most the partial GOP at the start
    assert_clean(clip.path)
    assert_continuous(clip, recorded)
    for n, (pixels, original) in enumerate(matching(clip, stored, recorded)):
        if n < clip.reencoded:
            assert psnr(pixels, original) >= 35.0, (n, psnr(pixels, original))
        else:
            assert np.array_equal(pixels, original), n


def test_a_missing_segment_is_a_listed_gap_and_splits_the_clip(
    recorded: Recording, tmp_path: Path
) -> None:
    missing = recorded.segments[4]
    kept = [s for s in recorded.segments if s is not missing]
    start, end = recorded.at(4.5), missing.end + dt.timedelta(seconds=2.2)
    result = cut_clips(kept, start, end, tmp_path, mode="keyframe", stem="gappy")
    assert result.gaps == (Gap(missing.start, missing.end),)
    first, second = result.clips
    assert first.path.name == "gappy-01.mp4" and second.path.name == "gappy-02.mp4"
    assert first.end <= missing.start + frame_of(recorded)
    assert second.start == missing.end
    assert missing.label not in first.sources + second.sources
    for clip in result.clips:
        assert_clean(clip.path)


def test_a_range_beyond_the_recording_lists_the_uncovered_ends(
    recorded: Recording, tmp_path: Path
) -> None:
    start = recorded.start - dt.timedelta(seconds=5)
    end = recorded.segments[1].end
    result = cut_clips(recorded.segments, start, end, tmp_path)
    assert result.gaps == (Gap(start, recorded.start),)
    assert result.clips[0].start == recorded.start


@pytest.mark.parametrize(
    ("a", "b", "mode", "said"),
    [
        (5.0, 5.0, "keyframe", "is empty"),
        (6.0, 5.0, "exact", "is empty"),
        (1.0, 2.0, "smart", "'smart'"),
        (-60.0, -30.0, "keyframe", "no recording"),
    ],
)
def test_bad_ranges_are_refused_naming_the_problem(
    recorded: Recording, tmp_path: Path, a: float, b: float, mode: str, said: str
) -> None:
    with pytest.raises(InvalidArgument, match=said):
        cut_clips(recorded.segments, recorded.at(a), recorded.at(b), tmp_path, mode=mode)
    assert list(tmp_path.iterdir()) == []


def test_a_segment_that_is_not_mp4_fails_naming_it_and_leaves_no_file(
    recorded: Recording, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(3).bytes(50_000))
    segments = [
        recorded.segments[0],
        dataclasses.replace(recorded.segments[1], path=broken, label="broken"),
    ]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(Exception, match="broken") as caught:
        cut_clips(segments, recorded.at(1.0), recorded.at(5.0), out)
    assert caught.type.__module__ == "vms.errors"
    assert list(out.iterdir()) == []


def test_runs_group_segments_and_name_the_gaps() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    s = dt.timedelta(seconds=1)
    segs = [
        Segment(Path("a"), t0, t0 + 3 * s),
        Segment(Path("b"), t0 + 3 * s, t0 + 6 * s),
        Segment(Path("c"), t0 + 9 * s, t0 + 12 * s),
    ]
    groups, gaps = runs(segs, t0 + s, t0 + 14 * s, dt.timedelta(milliseconds=500))
    assert [[g.path.name for g in group] for group in groups] == [["a", "b"], ["c"]]
    assert gaps == [Gap(t0 + 6 * s, t0 + 9 * s), Gap(t0 + 12 * s, t0 + 14 * s)]
    groups, gaps = runs(segs, t0 + 7 * s, t0 + 8 * s, dt.timedelta(milliseconds=500))
    assert groups == [] and gaps == [Gap(t0 + 7 * s, t0 + 8 * s)]
