"""Frames through PyAV: the H.264 decoder, the libx264 encoder of masked streams, JPEG
stills of decoded frames, and blank frames. A frame is PyAV's ``VideoFrame`` (yuv420p),
handed on as an opaque value (``privacy_masks.paint.frame_planes`` reads its planes).

Errors leave as :class:`~vms.errors.DataLoss` (the bytes or the frame could not be
decoded or encoded) or :class:`~vms.errors.Unavailable` (:mod:`vms.media.errors`). All
calls block: they run in the pipeline's named threads.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any, ClassVar

import av

from vms.media.errors import translate
from vms.media.probe import MAX_FRAME_PIXELS
from vms.media.stream import RawPacket, StreamInfo

# A forced keyframe, or the encoder's own choice (keyint): looked up once, not a frame.
_FORCE_IDR = av.video.frame.PictureType.I
_ENCODER_CHOOSES = av.video.frame.PictureType.NONE


class Decoder:
    """H.264 decoder for one stream; yields yuv420p frames, writable unless
    ``writable=False``: then a frame's buffer is the decoder's reference picture, which
    the decoder reads again for the pictures after it (``MaskStage.paint_for_encode``
    paints it, ``put_back`` puts it back), and the whole-frame copy is saved. One
    thread: no picture is decoded while the caller holds a frame. Frames of more than
    ``max_pixels`` (default :data:`~vms.media.probe.MAX_FRAME_PIXELS`, 8K) are refused."""

    def __init__(
        self, info: StreamInfo, *, writable: bool = True, max_pixels: int = MAX_FRAME_PIXELS
    ) -> None:
        self._ctx = av.CodecContext.create("h264", "r")
        if info.extradata:
            self._ctx.extradata = info.extradata
        self._ctx.thread_count = 1
        # A camera's SPS may claim any size FFmpeg allows (16384 x 16384) for a picture
        # of a few bytes: 64x64 claiming 16000x16000 decoded to 1.2 GiB frames. FFmpeg
        # refuses a frame over max_pixels before allocating it (DataLoss here).
        self._ctx.options = {"max_pixels": str(max_pixels)}
        self._time_base = info.time_base
        self._writable = writable

    def decode(self, packet: RawPacket) -> list[Any]:
        pkt = packet.source  # the demuxer's packet: the same bytes and stamps
        if pkt is None:
            pkt = av.Packet(packet.data)
            pkt.pts, pkt.dts = packet.pts, packet.dts
            pkt.time_base = self._time_base
        try:
            frames = self._ctx.decode(pkt)
        except Exception as exc:
            raise translate(exc, "decoding") from None
        out = []
        for frame in frames:
            if frame.format.name not in ("yuv420p", "yuvj420p"):
                frame = frame.reformat(format="yuv420p")
            if self._writable:
                # Decoded frames share buffers with the decoder's reference pictures:
                # painting into them would corrupt later frames.
                frame.make_writable()
            out.append(frame)
        return out


class Encoder:
    """libx264 for masked streams: constrained baseline (every browser decodes it),
    ``ultrafast``/``zerolatency`` (no frame delay), an IDR every ``keyint`` frames with
    SPS/PPS repeated (live viewers and segments can start at any keyframe).

    ``Encoder.opened()`` counts the encoders opened in this process (tests prove that
    live viewers add none)."""

    _opened: ClassVar[itertools.count[int]] = itertools.count()
    _count: ClassVar[int] = 0

    @classmethod
    def opened(cls) -> int:
        return cls._count

    def __init__(self, width: int, height: int, fps: float, keyint: int, *, crf: int = 23) -> None:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = Fraction(1, 90000)
        ctx.framerate = Fraction(fps).limit_denominator(1001)
        ctx.thread_count = 1
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "crf": str(crf),
            "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:repeat-headers=1",
        }
        try:
            ctx.open()
        except Exception as exc:
            raise translate(exc, "opening libx264") from None
        self._ctx = ctx
        Encoder._count = next(Encoder._opened) + 1
        self.info = StreamInfo("h264", width, height, Fraction(1, 90000), b"", fps)

    def encode(self, frame: Any, pts: int, *, keyframe: bool = False) -> list[RawPacket]:
        """Encode ``frame`` at ``pts`` (90 kHz); ``keyframe`` forces an IDR."""
        frame.pts = pts
        frame.time_base = self.info.time_base
        frame.pict_type = _FORCE_IDR if keyframe else _ENCODER_CHOOSES
        try:
            packets = self._ctx.encode(frame)
        except Exception as exc:
            raise translate(exc, "encoding") from None
        return [RawPacket(bytes(p), p.pts, p.dts, bool(p.is_keyframe)) for p in packets]


def new_frame(width: int, height: int) -> Any:
    """A blank-able yuv420p frame (INV-5 fallback when decoding itself failed)."""
    return av.VideoFrame(width, height, "yuv420p")


class JpegEncoder:
    """JPEG stills of decoded yuv420p frames (snapshot and MJPEG), no RGB round trip."""

    def __init__(self, quality: int = 5) -> None:
        self._quality = quality
        self._ctx: Any = None
        self._size = (0, 0)
        self._pts = 0

    def encode(self, frame: Any) -> bytes:
        size = (int(frame.width), int(frame.height))
        if self._ctx is None or size != self._size:
            ctx = av.CodecContext.create("mjpeg", "w")
            ctx.width, ctx.height = size
            ctx.pix_fmt = "yuvj420p"
            ctx.time_base = Fraction(1, 90000)
            ctx.options = {"qmin": str(self._quality), "qmax": str(self._quality)}
            ctx.color_range = 2  # full range (JPEG); the frame is tagged to match
            try:
                ctx.open()
            except Exception as exc:
                raise translate(exc, "opening the JPEG encoder") from None
            self._ctx, self._size = ctx, size
        try:
            still = frame.reformat(format="yuvj420p")
            self._pts += 1  # the encoder wants increasing timestamps
            still.pts = self._pts
            packets = self._ctx.encode(still)
        except Exception as exc:
            raise translate(exc, "encoding a JPEG") from None
        return b"".join(bytes(p) for p in packets)
