"""Test media made with PyAV at test time (nothing is committed)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

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
) -> bytes:
    """An H.264 MP4 (or another ``container_format``: NUT keeps a ``creation_time`` that
    MP4's 32-bit field cannot hold); returns its bytes (and writes ``path`` if given)."""
    options = {"movflags": "faststart"} if faststart and container_format == "mp4" else {}
    with tempfile.NamedTemporaryFile(suffix=f".{container_format}", delete=False) as tmp:
        pass  # a real file: faststart re-reads what it wrote
    container = av.open(tmp.name, "w", format=container_format, options=options)
    if creation_time is not None:
        container.metadata["creation_time"] = creation_time.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "ultrafast"}
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    for i in range(int(seconds * fps)):
        frame = av.VideoFrame.from_ndarray(np.roll(base, i * 3, axis=1), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    data = Path(tmp.name).read_bytes()
    Path(tmp.name).unlink()
    if path is not None:
        path.write_bytes(data)
    return data


def make_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
