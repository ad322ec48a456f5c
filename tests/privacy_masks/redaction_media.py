"""Small videos for the redaction job tests: a generated street (two faces, a plate, each
with a signature colour; tests/privacy_masks/scenes.py) encoded as H.264 MP4, with or
without a tone as audio, and a reader of a rendered file's frames and audio."""

from __future__ import annotations

import functools
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.privacy_masks.scenes import Scene, street

WIDTH, HEIGHT, FPS, FRAMES = 320, 180, 15, 30
AUDIO_RATE = 48000


def scene() -> Scene:
    return street(WIDTH, HEIGHT, FRAMES)


@functools.cache
def street_video(audio: bool = False) -> bytes:
    """The street as H.264 (crf 12: the signature colours survive) and, with ``audio``,
    a 440 Hz tone for the whole length."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "street.mp4"
        with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
            video = out.add_stream(
                "libx264", rate=FPS, options={"preset": "ultrafast", "crf": "12"}
            )
            video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            tone = None
            if audio:
                tone = out.add_stream("aac", rate=AUDIO_RATE)
                tone.layout = "mono"
            for i, img in enumerate(scene().render()):
                frame = av.VideoFrame.from_ndarray(img, format="bgr24")
                frame.pts, frame.time_base = i, Fraction(1, FPS)
                out.mux(video.encode(frame))
            out.mux(video.encode())
            if tone is not None:
                total = AUDIO_RATE * FRAMES // FPS
                t = np.arange(total) / AUDIO_RATE
                samples = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                for start in range(0, total, 1024):
                    chunk = samples[start : start + 1024]
                    sound = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
                    sound.sample_rate = AUDIO_RATE
                    sound.pts, sound.time_base = start, Fraction(1, AUDIO_RATE)
                    out.mux(tone.encode(sound))
                out.mux(tone.encode())
        return path.read_bytes()


def frames_of(path: Path) -> list[np.ndarray]:
    """Every frame of ``path``'s video as BGR."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def audio_of(path: Path) -> tuple[np.ndarray, int]:
    """``path``'s audio as one mono float array and its rate."""
    with av.open(str(path)) as container:
        chunks, rate = [], AUDIO_RATE
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            data = frame.to_ndarray()
            chunks.append(data.reshape(-1, frame.samples).mean(axis=0))
        return np.concatenate(chunks), rate


def stream_info(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        v = container.streams.video[0]
        return {
            "codec": v.codec_context.name,
            "pix_fmt": v.codec_context.pix_fmt,
            "profile": v.codec_context.profile,
            "audio": bool(container.streams.audio),
        }


def moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")
