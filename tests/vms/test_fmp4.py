"""Stored segments as HLS fMP4 (vms/media/fmp4.py): the layout read from box headers,
the media with shifted decode times (any byte range of it), and the refusals of files
written otherwise. Media made with PyAV at test time."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media import make_video
from vms.errors import DataLoss, FailedPrecondition
from vms.media.fmp4 import JoinedMedia, ShiftedMedia, read_init, read_layout

FPS = 10


def fragmented(path: Path, frames: int = 30, gop: int = 10) -> Path:
    """An H.264 MP4 fragmented at keyframes as the recorder writes it."""
    out = av.open(
        str(path),
        "w",
        format="mp4",
        options={"movflags": "frag_keyframe+empty_moov+default_base_moof"},
    )
    stream = out.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.options = {"preset": "ultrafast", "g": str(gop), "keyint_min": str(gop)}
    rng = np.random.default_rng(3)
    for i in range(frames):
        image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def demux(data: bytes) -> list[tuple[int, bytes]]:
    with av.open(io.BytesIO(data)) as container:
        return [(int(p.dts), bytes(p)) for p in container.demux(video=0) if p.size]


def test_the_layout_of_a_recorder_style_file(tmp_path: Path) -> None:
    path = fragmented(tmp_path / "seg.mp4")
    layout = read_layout(path)
    data = path.read_bytes()
    assert layout.size == len(data)
    assert data[4:8] == b"ftyp"
    assert data[layout.media_start + 4 : layout.media_start + 8] == b"moof"
    assert layout.init_end == layout.media_start
    assert len(layout.tfdt) == 3  # one fragment per GOP of 10 frames
    assert layout.first_decode_time == 0
    assert data[layout.media_end + 4 : layout.media_end + 8] == b"mfra"  # left out
    with av.open(str(path)) as container:
        assert layout.timescale == container.streams.video[0].time_base.denominator


def test_shifted_media_holds_the_same_packets_later_in_any_byte_range(tmp_path: Path) -> None:
    path = fragmented(tmp_path / "seg.mp4")
    layout = read_layout(path)
    shift = layout.timescale * 3600 + 7  # an hour and 7 ticks later
    with ShiftedMedia(path, layout, shift) as media:
        whole = media.read()
    assert len(whole) == layout.media_length
    served = demux(read_init(path, layout) + whole)
    stored = demux(path.read_bytes())
    assert [p[1] for p in served] == [p[1] for p in stored]
    assert [p[0] - shift for p in served] == [p[0] for p in stored]
    # Read in odd pieces, every tfdt field cut somewhere: the same bytes.
    for step in (1, 5, 7, 333):
        with ShiftedMedia(path, layout, shift) as media:
            pieces = b"".join(iter(lambda: media.read(step), b""))
        assert pieces == whole, step
    with ShiftedMedia(path, layout, shift) as media:
        media.seek(layout.tfdt[1][0] - layout.media_start - 3)
        assert media.read(11) == whole[media.tell() - 11 : media.tell()]


def test_joined_media_serves_runs_one_after_another_in_any_byte_range(tmp_path: Path) -> None:
    """A chain of segments continued without a keyframe is served as one HLS segment
    (docs/design/playback.md, "Continued segments"): each run shifted to its own place."""
    first, second = fragmented(tmp_path / "a.mp4"), fragmented(tmp_path / "b.mp4", frames=20)
    one, two = read_layout(first), read_layout(second)
    shifts = (one.timescale * 10, one.timescale * 13)
    with ShiftedMedia(first, one, shifts[0]) as a, ShiftedMedia(second, two, shifts[1]) as b:
        expected = a.read() + b.read()
    runs = ((first, one, shifts[0]), (second, two, shifts[1]))
    with JoinedMedia([ShiftedMedia(*run) for run in runs]) as media:
        assert media.length == len(expected) == one.media_length + two.media_length
        whole = media.read()
    assert whole == expected
    served = demux(read_init(first, one) + whole)
    assert len(served) == 50 and [p[0] for p in served] == sorted(p[0] for p in served)
    for step in (1, 7, 4096):
        with JoinedMedia([ShiftedMedia(*run) for run in runs]) as media:
            assert b"".join(iter(lambda: media.read(step), b"")) == expected, step
    with JoinedMedia([ShiftedMedia(*run) for run in runs]) as media:
        media.seek(one.media_length - 5)  # across the boundary between the runs
        assert media.read(20) == expected[one.media_length - 5 : one.media_length + 15]


def test_a_shift_before_zero_is_refused(tmp_path: Path) -> None:
    path = fragmented(tmp_path / "seg.mp4")
    with pytest.raises(FailedPrecondition, match="below zero"):
        ShiftedMedia(path, read_layout(path), -1)


def test_a_plain_mp4_is_not_served_as_fmp4(tmp_path: Path) -> None:
    path = tmp_path / "plain.mp4"
    make_video(path, seconds=1.0)
    with pytest.raises(FailedPrecondition, match="not a fragmented MP4"):
        read_layout(path)


def test_a_cut_off_file_is_data_loss(tmp_path: Path) -> None:
    whole = fragmented(tmp_path / "seg.mp4").read_bytes()
    layout = read_layout(tmp_path / "seg.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: layout.tfdt[1][0] - 40])  # inside the second fragment's moof
    with pytest.raises(DataLoss, match=r"overruns its container|cut off"):
        read_layout(cut)
