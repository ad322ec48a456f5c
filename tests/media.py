"""Test media made with PyAV at test time (nothing is committed)."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np


def make_video(
    path: Path | None = None,
    *,
    seconds: float = 2.0,
    fps: int = 15,
    size: tuple[int, int] = (160, 120),
    creation_time: dt.datetime | None = None,
    seed: int = 0,
    faststart: bool = True,
    container_format: str = "mp4",
    codec: str = "libx264",
) -> bytes:
    """An H.264 MP4 (or another ``container_format``: NUT keeps a ``creation_time`` that
    MP4's 32-bit field cannot hold; or another ``codec``: VP8 is ``libvpx``); returns its
    bytes (and writes ``path`` if given)."""
    options = {"movflags": "faststart"} if faststart and container_format == "mp4" else {}
    with tempfile.NamedTemporaryFile(suffix=f".{container_format}", delete=False) as tmp:
        pass  # a real file: faststart re-reads what it wrote
    container = av.open(tmp.name, "w", format=container_format, options=options)
    if creation_time is not None:
        container.metadata["creation_time"] = creation_time.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.options = {"preset": "ultrafast"}
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    frames = (
        av.VideoFrame.from_ndarray(np.roll(base, i * 3, axis=1), format="rgb24")
        for i in range(int(seconds * fps))
    )
    data = _written(tmp.name, container, stream, frames)
    if path is not None:
        path.write_bytes(data)
    return data


def make_audio(
    *,
    seconds: float = 2.0,
    rate: int = 48000,
    container_format: str = "mp4",
    codec: str = "aac",
    cover: bool = False,
) -> bytes:
    """An AAC MP4 (.m4a) with its index first (faststart): AAC's encoder writes a priming
    packet stamped before 0, which the MP4 muxer covers with an edit list. Or AAC in
    another ``container_format`` (``matroska``), or another ``codec`` (``libopus`` for
    WebM and Ogg, ``libmp3lame`` for MP3). With ``cover``, a cover picture (a JPEG that
    FFmpeg lists as a video stream of one frame, marked ``attached_pic``: an MP3's ID3
    picture, an .m4a's artwork)."""
    with tempfile.NamedTemporaryFile(suffix=f".{container_format}", delete=False) as tmp:
        pass
    options = {"movflags": "faststart"} if container_format == "mp4" else {}
    container = av.open(tmp.name, "w", format=container_format, options=options)
    stream = container.add_stream(codec, rate=rate)
    if cover:
        picture: Any = container.add_stream("mjpeg", rate=1)
        picture.width, picture.height, picture.pix_fmt = 64, 64, "yuvj420p"
        picture.disposition = av.stream.Disposition.attached_pic
        art = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")
        for packet in [*picture.encode(art), *picture.encode()]:
            container.mux(packet)
    t = np.arange(1024) / rate
    # libopus takes interleaved samples; mono's layout is the same either way.
    sample_format = "flt" if codec == "libopus" else "fltp"

    def tone(i: int) -> av.AudioFrame:
        wave = np.sin(2 * np.pi * 440 * (t + i * 1024 / rate)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(wave[None, :], format=sample_format, layout="mono")
        frame.sample_rate, frame.pts = rate, i * 1024
        return frame

    return _written(tmp.name, container, stream, map(tone, range(int(seconds * rate / 1024))))


def _written(name: str, container: Any, stream: Any, frames: Iterable[Any]) -> bytes:
    """Encode ``frames`` into ``stream``, close ``container`` (the file ``name``) and
    return the file's bytes; the file is removed."""
    for frame in frames:
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    data = Path(name).read_bytes()
    Path(name).unlink()
    return data


def make_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def noise(size: int, seed: int = 0) -> bytes:
    """``size`` random-looking bytes, the same every run. Not ``os.urandom``: about 1 in
    100 random payloads of a few KiB sniffs as FFmpeg's ``lrc`` (a lyrics text format)
    and is refused as "not an accepted container" instead of "not a decodable file", so
    a test naming the message would fail one run in a hundred."""
    return random.Random(seed).randbytes(size)


def encode_pictures(
    pictures: Iterable[np.ndarray],
    *,
    fps: int = 15,
    rotation: int = 0,
    pts: Iterable[int] | None = None,
    time_base: Fraction | None = None,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    sar: Fraction | None = None,
    pix_fmt: str = "yuv420p",
) -> bytes:
    """An MP4 of ``pictures`` (BGR arrays, as a viewer should *see* them). With
    ``rotation`` (90, 180, 270: a phone held upright) each picture is stored turned the
    other way with a display matrix saying ``rotation`` (FFmpeg's sense: counter-clockwise
    degrees), so a player that honours the matrix shows the pictures as given; the coded
    frames are the pictures turned. ``pts`` (in ``time_base``, default ``1/fps``) gives
    each frame's timestamp (a variable frame rate, a start far from zero); ``sar`` a
    sample aspect ratio (pixels ``sar`` times as wide as high: a player stretches them);
    ``pix_fmt`` the coded pixel format (``yuv444p``, ``yuv420p10le``: H.264's High 4:4:4
    and High 10 profiles)."""
    with tempfile.NamedTemporaryFile(suffix=".mp4", delete=False) as tmp:
        pass
    frames = list(pictures)
    turns = rotation // 90 % 4
    coded = [np.ascontiguousarray(np.rot90(p, -turns)) for p in frames]
    height, width = coded[0].shape[:2]
    base = time_base or Fraction(1, fps)
    stamps = list(pts) if pts is not None else list(range(len(frames)))
    container = av.open(tmp.name, "w", format="mp4", options={"movflags": "faststart"})
    stream: Any = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.time_base = base
    stream.options = options if options is not None else {"preset": "ultrafast", "crf": "12"}
    if turns:
        stream.set_display_rotation(rotation)
    if sar is not None:
        stream.codec_context.sample_aspect_ratio = sar

    def frame(i: int) -> av.VideoFrame:
        out = av.VideoFrame.from_ndarray(coded[i], format="bgr24")
        out.pts, out.time_base = stamps[i], base
        return out

    return _written(tmp.name, container, stream, map(frame, range(len(frames))))


# Every decoded frame once (no frames duplicated or dropped to a constant rate).
_PPM_PIPE = ("-fps_mode", "passthrough", "-f", "image2pipe", "-vcodec", "ppm", "-")


def displayed_frames(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` as a player shows it (BGR): decoded by the ``ffmpeg``
    program, which turns them by the display matrix (autorotate): a reader independent
    of our media adapter."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), *_PPM_PIPE],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    frames = []
    pos = 0
    while pos < len(raw):
        # "P6\n<w> <h>\n255\n" then w * h * 3 bytes (RGB).
        magic, dims, depth, pos = _ppm_header(raw, pos)
        assert magic == b"P6" and depth == b"255"
        w, h = (int(v) for v in dims.split())
        rgb = np.frombuffer(raw, np.uint8, w * h * 3, pos).reshape(h, w, 3)
        frames.append(rgb[:, :, ::-1].copy())
        pos += w * h * 3
    return frames


def _ppm_header(raw: bytes, pos: int) -> tuple[bytes, bytes, bytes, int]:
    fields = []
    for _ in range(3):
        end = raw.index(b"\n", pos)
        fields.append(raw[pos:end])
        pos = end + 1
    return fields[0], fields[1], fields[2], pos


def make_recording(
    *,
    video_seconds: float,
    audio_seconds: float,
    container_format: str = "matroska",
    audio_start: float = 0.0,
) -> bytes:
    """Video (H.264, 15 fps, 160x120) and a 440 Hz tone (AAC) of their own lengths in one
    file: a camera whose picture stops before its microphone (or after it); the sound
    starting ``audio_start`` seconds after the picture (a microphone that starts late)."""
    with tempfile.NamedTemporaryFile(suffix=f".{container_format}", delete=False) as tmp:
        pass
    container = av.open(tmp.name, "w", format=container_format)
    video: Any = container.add_stream("libx264", rate=15, options={"preset": "ultrafast"})
    video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
    audio: Any = container.add_stream("aac", rate=48000)
    audio.layout = "mono"
    for i in range(round(video_seconds * 15)):
        frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), i, np.uint8), format="rgb24")
        frame.pts, frame.time_base = i, Fraction(1, 15)
        for packet in video.encode(frame):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    t = np.arange(1024) / 48000
    offset = round(audio_start * 48000)
    for i in range(round(audio_seconds * 48000 / 1024)):
        wave = (0.5 * np.sin(2 * np.pi * 440 * (t + i * 1024 / 48000))).astype(np.float32)
        sound = av.AudioFrame.from_ndarray(wave[None, :], format="fltp", layout="mono")
        sound.sample_rate, sound.time_base = 48000, Fraction(1, 48000)
        sound.pts = offset + i * 1024
        for packet in audio.encode(sound):
            container.mux(packet)
    return _written(tmp.name, container, audio, [])


# MPEG-TS timestamps count 90 kHz ticks in 33 bits: they wrap every 2**33 ticks (26.5 h).
TS_WRAP = 1 << 33


def make_wrapping_ts(*, seconds: float, before_wrap: float, fps: int = 15) -> bytes:
    """A dashboard camera's MPEG-TS (H.264, ``fps``, 160x120, a keyframe a second, and a
    440 Hz AAC tone as long) whose timestamps start ``before_wrap`` seconds before the
    33-bit wrap (a camera's running clock, not 0): shorter than that, the file ends
    before the wrap; longer, its raw timestamps fall back to near 0 after it (the muxer
    writes them modulo 2**33; :func:`ts_raw_pts` reads them as stored)."""
    with tempfile.NamedTemporaryFile(suffix=".ts", delete=False) as tmp:
        pass
    container = av.open(tmp.name, "w", format="mpegts")
    options = {"preset": "ultrafast", "g": str(fps)}
    video: Any = container.add_stream("libx264", rate=fps, options=options)
    video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
    audio: Any = container.add_stream("aac", rate=48000)
    audio.layout = "mono"
    start = TS_WRAP - round(before_wrap * 90000)
    for i in range(round(seconds * fps)):
        frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), i % 256, np.uint8), "rgb24")
        frame.pts, frame.time_base = start + i * 90000 // fps, Fraction(1, 90000)
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    t = np.arange(1024) / 48000
    first = start * 48000 // 90000
    for i in range(round(seconds * 48000 / 1024)):
        wave = (0.5 * np.sin(2 * np.pi * 440 * (t + i * 1024 / 48000))).astype(np.float32)
        sound = av.AudioFrame.from_ndarray(wave[None, :], format="fltp", layout="mono")
        sound.sample_rate, sound.time_base, sound.pts = 48000, Fraction(1, 48000), first + i * 1024
        container.mux(audio.encode(sound))
    return _written(tmp.name, container, audio, [])


def ts_raw_pts(path: Path) -> list[int]:
    """The video packets' timestamps as stored in the MPEG-TS ``path`` (ffprobe, FFmpeg's
    unwrapping off), in file order."""
    out = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-correct_ts_overflow", "0", "-select_streams", "v"),
            *("-show_entries", "packet=pts", "-of", "csv=p=0", str(path)),
        ],
        capture_output=True,
        check=True,
        timeout=30,
        text=True,
    ).stdout
    return [int(line.strip(",")) for line in out.split() if line.strip(",")]


def make_several_videos(
    streams: Sequence[Sequence[np.ndarray]], *, fps: int = 15, audio: bool = False
) -> bytes:
    """An MP4 with one H.264 video stream per entry of ``streams`` (BGR pictures, all
    the same size and count; a camera recording two views, a dash camera's front and
    cabin), interleaved, and with ``audio`` a 440 Hz AAC tone as long: the first stream
    is what players show."""
    with tempfile.NamedTemporaryFile(suffix=".mp4", delete=False) as tmp:
        pass
    container = av.open(tmp.name, "w", format="mp4", options={"movflags": "faststart"})
    height, width = streams[0][0].shape[:2]
    outs: list[Any] = []
    for _ in streams:
        out: Any = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        out.width, out.height, out.pix_fmt = width, height, "yuv420p"
        outs.append(out)
    sound: Any = container.add_stream("aac", rate=48000) if audio else None
    if sound is not None:
        sound.layout = "mono"
    count = len(streams[0])
    for i in range(count):
        for out, pictures in zip(outs, streams, strict=True):
            frame = av.VideoFrame.from_ndarray(pictures[i], format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(out.encode(frame))
    for out in outs:
        container.mux(out.encode(None))
    if sound is not None:
        t = np.arange(1024) / 48000
        for i in range(round(count / fps * 48000 / 1024)):
            wave = (0.5 * np.sin(2 * np.pi * 440 * (t + i * 1024 / 48000))).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(wave[None, :], format="fltp", layout="mono")
            chunk.sample_rate, chunk.time_base, chunk.pts = 48000, Fraction(1, 48000), i * 1024
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    container.close()
    data = Path(tmp.name).read_bytes()
    Path(tmp.name).unlink()
    return data
