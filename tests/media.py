"""Test media made with PyAV at test time (nothing is committed)."""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections.abc import Iterable
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
) -> bytes:
    """An AAC MP4 (.m4a) with its index first (faststart): AAC's encoder writes a priming
    packet stamped before 0, which the MP4 muxer covers with an edit list. Or AAC in
    another ``container_format`` (``matroska``), or another ``codec`` (``libopus`` for
    WebM and Ogg)."""
    with tempfile.NamedTemporaryFile(suffix=f".{container_format}", delete=False) as tmp:
        pass
    options = {"movflags": "faststart"} if container_format == "mp4" else {}
    container = av.open(tmp.name, "w", format=container_format, options=options)
    stream = container.add_stream(codec, rate=rate)
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
