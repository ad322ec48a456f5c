"""H.264 and JPEG encoding with PyAV (the simulator's only use of ``av``).

The simulated camera is an independent test peer of the recorder, so it keeps its own
encoder instead of using the media adapter (:mod:`vms.media`): a bug in the adapter must
not be mirrored in the camera that tests it. This is the one exception to "only
``vms.media`` imports ``av``" (docs/design/dependencies.md, tests/test_dependency_rule.py).

H.264 settings are chosen for browsers and low latency: constrained baseline profile
(no B-frames, CAVLC), x264 ``ultrafast`` + ``zerolatency``, a keyframe every
``gop_seconds`` (default 1 s), SPS/PPS repeated before every IDR so a client joining at
any keyframe can decode, and IDR frames on request (a new RTSP client gets one at once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: RTP clock rate for video (RFC 6184), also used as the encoder time base.
VIDEO_CLOCK_RATE = 90_000


class EncoderError(RuntimeError):
    """The encoder could not be opened or failed on a frame."""


@dataclass(frozen=True)
class EncodedFrame:
    """One access unit: its NAL units (no start codes), keyframe flag and 90 kHz time."""

    nals: tuple[bytes, ...]
    keyframe: bool
    pts: int


def split_annexb(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units without their start codes."""
    nals: list[bytes] = []
    i, n = 0, len(data)
    start = -1
    while i + 2 < n:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            if start >= 0:
                nals.append(data[start:i].rstrip(b"\x00"))
            i += 3
            start = i
        else:
            i += 1
    if start >= 0 and start < n:
        nals.append(data[start:])
    return [nal for nal in nals if nal]


class H264Encoder:
    """Encodes I420 frames (numpy, shape (h * 3 / 2, w)) to H.264 access units.

    Not thread-safe: one encoder thread per camera owns it.
    """

    def __init__(self, size: tuple[int, int], fps: int, gop_seconds: float = 1.0) -> None:
        width, height = size
        self.size = size
        self.fps = fps
        gop = max(1, round(fps * gop_seconds))
        try:
            ctx = av.CodecContext.create("libx264", "w")
        except (av.FFmpegError, ValueError) as exc:
            raise EncoderError(f"libx264 is not available in PyAV: {exc}") from exc
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, VIDEO_CLOCK_RATE)
        ctx.framerate = Fraction(fps, 1)
        ctx.gop_size = gop
        ctx.max_b_frames = 0
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "forced-idr": "1",
            "crf": "23",
            # One thread: no frame/slice threading overhead, the cost lands on the
            # camera's frame thread (measurable), and N cameras spread over the cores.
            "threads": "1",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1",
        }
        self._ctx = ctx
        self._sps: bytes | None = None
        self._pps: bytes | None = None

    def encode(self, i420: NDArray[np.uint8], pts: int, keyframe: bool = False) -> EncodedFrame:
        """Encode one frame with presentation time ``pts`` (90 kHz units).

        ``keyframe`` forces an IDR. With ``zerolatency`` every frame yields exactly one
        access unit at once, which the RTSP server relies on.
        """
        frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        frame.pts = pts
        frame.time_base = self._ctx.time_base
        if keyframe:
            frame.pict_type = PictureType.I
        try:
            packets = self._ctx.encode(frame)
        except av.FFmpegError as exc:
            raise EncoderError(f"libx264 failed on frame pts={pts}: {exc}") from exc
        nals: list[bytes] = []
        is_key = False
        for packet in packets:
            nals.extend(split_annexb(bytes(packet)))
            is_key = is_key or packet.is_keyframe
        for nal in nals:
            kind = nal[0] & 0x1F
            if kind == 7:
                self._sps = nal
            elif kind == 8:
                self._pps = nal
        return EncodedFrame(tuple(nals), is_key, pts)

    def parameter_sets(self) -> tuple[bytes, bytes]:
        """SPS and PPS (known after the first keyframe), for SDP ``sprop-parameter-sets``."""
        if self._sps is None or self._pps is None:
            raise EncoderError("no keyframe encoded yet: SPS/PPS unknown")
        return self._sps, self._pps


def encode_jpeg(rgb: NDArray[np.uint8], quality: int = 5) -> bytes:
    """Encode an RGB image (h, w, 3) as a baseline JPEG (``quality`` is mjpeg qscale 2..31)."""
    height, width = rgb.shape[:2]
    ctx = av.CodecContext.create("mjpeg", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuvj420p"
    ctx.time_base = Fraction(1, 1)
    ctx.options = {"qmin": str(quality), "qmax": str(quality)}
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    frame.pts = 0
    data = b"".join(bytes(p) for p in ctx.encode(frame))
    data += b"".join(bytes(p) for p in ctx.encode(None))
    return data
