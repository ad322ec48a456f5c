"""Court copies (REL-2) of odd but valid uploaded videos: a phone held upright (a display
matrix), non-square pixels, a variable frame rate, B-frames, a start far from zero, one
frame, H.265. The export job cuts them like any other item: the clip shows as the
original shows (size, turn, pixel shape, frame times), or the request is refused up
front naming what cannot be cut."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from sqlalchemy import func, select

from tests.media import (
    displayed_frames,
    encode_pictures,
    make_audio,
    make_several_videos,
    make_video,
    make_wrapping_ts,
)
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import Export, SourceKind
from vms.errors import InvalidArgument
from vms.exports.service import ExportSource, NewExport
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
FRAMES = 30


def pictures(width: int, height: int, frames: int = FRAMES) -> list[np.ndarray]:
    out = []
    for f in range(frames):
        img = np.full((height, width, 3), 96, np.uint8)
        img[:, : width // 3] = (40, 120, 40)
        img[10:40, 10 + 3 * f : 40 + 3 * f] = (0, 0, 255)
        out.append(img)
    return out


CASES: dict[str, tuple[dict[str, Any], tuple[int, int], int]] = {
    "turned-90": ({"rotation": 90}, (180, 320), FRAMES),
    "non-square-pixels": ({"sar": Fraction(4, 3)}, (320, 180), FRAMES),
    "variable-frame-rate": (
        {"pts": [i if i < 15 else 15 + (i - 15) * 3 for i in range(FRAMES)]},
        (320, 180),
        FRAMES,
    ),
    "b-frames": ({"options": {"preset": "medium", "bf": "3", "crf": "12"}}, (320, 180), FRAMES),
    "start-at-1000-s": ({"pts": range(15000, 15000 + FRAMES)}, (320, 180), FRAMES),
    "one-frame": ({}, (320, 180), 1),
}


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_frames", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
        text=True,
    ).stdout
    return dict(json.loads(out))


def ingest(services: Services, data: bytes) -> str:
    return services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id


def export_whole(services: Services, actor: Actor, media_id: str, tmp_path: Path) -> Path:
    record = services.exports.create(
        actor, NewExport(purpose="court", sources=(ExportSource(None, media_id),))
    )
    assert services.exports.run_pending() == 1
    done = services.exports.get(actor, record.id)
    assert done.state == "done" and done.package, done.error
    download = services.exports.package(actor, record.id, remote="test")
    assert download.path is not None  # a local store
    with zipfile.ZipFile(download.path) as zf:
        clips = [n for n in zf.namelist() if n.startswith("clips/")]
        assert len(clips) == 1
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(zf.read(clips[0]))
    return clip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_court_copy_of_an_odd_upload_shows_as_the_original_REL_2(
    services: Services, actors: dict[str, Actor], tmp_path: Path, case: str
) -> None:
    options, shown, frames = CASES[case]
    original = tmp_path / "original.mp4"
    original.write_bytes(encode_pictures(pictures(*shown, frames), fps=15, **options))
    media_id = ingest(services, original.read_bytes())
    clip = export_whole(services, actors["investigator"], media_id, tmp_path)
    seen, copied = displayed_frames(original), displayed_frames(clip)
    assert len(copied) == len(seen) == frames
    assert copied[0].shape == seen[0].shape
    a, b = ffprobe(original), ffprobe(clip)
    assert b["streams"][0].get("sample_aspect_ratio") == a["streams"][0].get("sample_aspect_ratio")
    times = [float(f["pts_time"]) for f in a["frames"]]
    assert [float(f["pts_time"]) for f in b["frames"]] == pytest.approx(
        [t - times[0] for t in times], abs=2e-3
    )
    for x, y in zip(seen, copied, strict=True):
        assert np.abs(x.astype(int) - y.astype(int)).mean() < 3


def test_an_upload_the_cut_cannot_copy_is_refused_up_front_REL_2(
    services: Services, actors: dict[str, Actor]
) -> None:
    """An H.265 body-camera video: the clip cut copies and re-encodes H.264 only. The
    request is a 400 naming the item and its codec, not a job that fails later on "not a
    recorder segment"."""
    data = encode_pictures(
        pictures(320, 180), codec="libx265", options={"preset": "ultrafast", "crf": "12"}
    )
    media_id = ingest(services, data)
    command = NewExport(purpose="court", sources=(ExportSource(None, media_id),))
    expected = rf"sources\[0\]\.media_id: {media_id} cannot .*hevc"
    with pytest.raises(InvalidArgument, match=expected):
        services.exports.create(actors["investigator"], command)
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Export)) == 0


@pytest.mark.parametrize("container_format", ["mpegts", "avi"])
def test_a_dashboard_cameras_mpeg_ts_is_cut_into_a_court_copy_REL_2(
    services: Services, actors: dict[str, Actor], tmp_path: Path, container_format: str
) -> None:
    """A dashboard camera's H.264 in MPEG-TS (or AVI): an Annex B stream, no avcC header.
    Its court copy is cut like an MP4's: every frame, the same pictures."""
    original = tmp_path / f"dash.{container_format}"
    original.write_bytes(make_video(seconds=2, container_format=container_format, faststart=False))
    media_id = ingest(services, original.read_bytes())
    clip = export_whole(services, actors["investigator"], media_id, tmp_path)
    seen, copied = displayed_frames(original), displayed_frames(clip)
    assert len(copied) == len(seen) == 30
    for x, y in zip(seen, copied, strict=True):
        assert np.abs(x.astype(int) - y.astype(int)).mean() < 3


@pytest.mark.parametrize(("seconds", "before_wrap"), [(6, 30), (6, 2), (63, 61)])
def test_a_dash_cameras_ts_near_the_timestamp_wrap_is_cut_whole_REL_2(
    services: Services, actors: dict[str, Actor], tmp_path: Path, seconds: int, before_wrap: int
) -> None:
    """A dash camera's MPEG-TS whose clock starts 30 s, 2 s or 61 s before the 33-bit
    wrap (tests/vms/test_ingest.py): FFmpeg unwraps its times, to below 0 when it starts
    within 60 s of the wrap. Its court copy holds every frame, the same pictures, and
    lasts as long. The MP4 it was remuxed into for the cut kept those times below 0 and
    FFmpeg's MP4 muxer wrote an edit list hiding the frames before 0: the copy of the 6 s
    file crossing the wrap 2 s in lost its first second, and that of the one ending
    before it all but its first frame's."""
    original = tmp_path / "dash.ts"
    original.write_bytes(make_wrapping_ts(seconds=seconds, before_wrap=before_wrap))
    media_id = ingest(services, original.read_bytes())
    clip = export_whole(services, actors["investigator"], media_id, tmp_path)
    seen, copied = displayed_frames(original), displayed_frames(clip)
    shown, kept = len(seen), len(copied)
    assert shown == seconds * 15
    assert kept == shown
    for x, y in zip(seen, copied, strict=True):
        assert np.abs(x.astype(int) - y.astype(int)).mean() < 3
    frames = ffprobe(clip)["frames"]
    assert float(frames[0]["pts_time"]) == pytest.approx(0.0, abs=2e-3)
    assert float(frames[-1]["pts_time"]) == pytest.approx(seconds - 1 / 15, abs=2e-3)


@pytest.mark.parametrize(
    ("pix_fmt", "size"),
    [
        ("yuv444p", (320, 180)),
        ("yuv422p", (320, 180)),
        ("yuv420p10le", (320, 180)),
        ("yuv444p", (641, 361)),
        ("yuvj420p", (320, 180)),
    ],
)
def test_an_exact_cut_keeps_the_pictures_format_REL_2(
    services: Services,
    actors: dict[str, Actor],
    tmp_path: Path,
    pix_fmt: str,
    size: tuple[int, int],
) -> None:
    """H.264 in High 4:4:4, 4:2:2 or High 10 (some cameras and every editing tool write
    them), or full-range 4:2:0 (phones), cut exactly from inside a GOP: the frames
    re-encoded up to the next keyframe are in the original's format like the copied
    ones, so the court copy is one stream of one format (a change of chroma format, bit
    depth or range mid-stream is a stream many players refuse or show wrong), with every
    frame of the range."""
    original = encode_pictures(
        pictures(*size),
        fps=15,
        pix_fmt=pix_fmt,
        options={"preset": "ultrafast", "crf": "12", "g": "15"},
    )
    media_id = ingest(services, original)
    record = services.exports.create(
        actors["investigator"],
        NewExport(
            purpose="court",
            sources=(
                ExportSource(
                    None,
                    media_id,
                    T0 + dt.timedelta(seconds=0.5),
                    T0 + dt.timedelta(seconds=1.7),
                ),
            ),
            cut="exact",
        ),
    )
    assert services.exports.run_pending() == 1
    done = services.exports.get(actors["investigator"], record.id)
    assert done.state == "done" and done.package, done.error
    download = services.exports.package(actors["investigator"], record.id, remote="test")
    assert download.path is not None
    with zipfile.ZipFile(download.path) as zf:
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(zf.read(next(n for n in zf.namelist() if n.startswith("clips/"))))
    formats = [f.get("pix_fmt") for f in ffprobe(clip)["frames"]]
    assert len(formats) == 19  # frames 7 (shown at 0.467 s) to 25 (1.667 s)
    assert set(formats) == {pix_fmt}, formats


def test_a_court_copy_of_a_file_with_two_pictures_says_what_it_left_out_REL_2(
    services: Services, actors: dict[str, Actor], tmp_path: Path
) -> None:
    """A file holding two pictures (a dash camera's front and cabin views) and sound:
    the clip is cut from the first picture (the one players show), and the court copy
    must not drop the rest silently: the signed manifest lists, per source item, every
    stream of it the clips do not carry (docs/design/exports.md, "Streams")."""
    front = [np.full((120, 160, 3), 40 + 8 * i, np.uint8) for i in range(15)]
    cabin = [np.full((120, 160, 3), (0, 0, 200), np.uint8) for _ in range(15)]
    media_id = ingest(services, make_several_videos([front, cabin], audio=True))
    actor = actors["investigator"]
    record = services.exports.create(
        actor, NewExport(purpose="court", sources=(ExportSource(None, media_id),))
    )
    assert services.exports.run_pending() == 1
    done = services.exports.get(actor, record.id)
    assert done.state == "done", done.error
    download = services.exports.package(actor, record.id, remote="test")
    assert download.path is not None
    with zipfile.ZipFile(download.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(zf.read(next(n for n in zf.namelist() if n.startswith("clips/"))))
    kinds = [s["codec_type"] for s in ffprobe(clip)["streams"]]
    assert kinds == ["video"], kinds
    (source,) = [s for s in manifest["sources"] if s["media_id"] == media_id]
    # Before: KeyError: 'streams_left_out' (the second picture and the sound were dropped
    # without a word).
    left = source["streams_left_out"]
    assert [(s["index"], s["type"], s["codec"]) for s in left] == [
        (1, "video", "h264"),
        (2, "audio", "aac"),
    ], left


def test_a_court_copy_of_a_file_with_latin_1_metadata_is_cut_REL_2(
    services: Services, actors: dict[str, Actor], tmp_path: Path
) -> None:
    """A camera that writes its title in Latin-1 ("Caméra 3" as bytes that are not
    UTF-8), in the file and in its video stream: the file is catalogued (the probe
    ignores undecodable metadata) and its court copy is cut like any other; before, the
    cut opened it strictly and the export failed on a UnicodeDecodeError."""
    original = tmp_path / "latin1.mp4"
    container = av.open(str(original), "w", format="mp4")
    container.metadata["title"] = "QQQQQQQQ"
    stream: Any = container.add_stream("libx264", rate=15, options={"preset": "ultrafast"})
    stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
    stream.metadata["title"] = "ZZZZZZZZ"
    for i in range(15):
        picture = np.full((120, 160, 3), i * 10, np.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
    container.mux(stream.encode(None))
    container.close()
    data = original.read_bytes()
    data = data.replace(b"QQQQQQQQ", b"Cam\xe9ra 3").replace(b"ZZZZZZZZ", b"Vid\xe9o 01")
    media_id = ingest(services, data)
    clip = export_whole(services, actors["investigator"], media_id, tmp_path)
    assert len(displayed_frames(clip)) == 15


@pytest.mark.parametrize("container_format", ["mp4", "matroska"])
def test_an_audio_only_item_is_refused_up_front_as_having_no_video_REL_2(
    services: Services, actors: dict[str, Actor], container_format: str
) -> None:
    """An interview recorded as sound only: a court copy is clips of the item's video
    (audio export is a non-goal, docs/design/exports.md), so there is nothing to cut. The
    400 says so (no video stream, the sound's codec), not "is a audio item"."""
    media_id = ingest(services, make_audio(seconds=2.0, container_format=container_format))
    command = NewExport(purpose="court", sources=(ExportSource(None, media_id),))
    with pytest.raises(InvalidArgument) as info:
        services.exports.create(actors["investigator"], command)
    message = info.value.message
    assert message.startswith(f"sources[0].media_id: {media_id} ")
    assert "has no video stream to export" in message and "aac" in message, message
    assert "a audio" not in message
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Export)) == 0
