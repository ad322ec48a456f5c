"""The recorder's one adapter to PyAV (``av``): RTSP input, H.264 decode/encode, MP4
segment files, JPEG stills. Every ``av`` error leaves this module as
:class:`MediaUnavailable` (the camera or stream failed) or :class:`MediaDataError` (the
bytes are bad); nothing else in ``recorder`` imports ``av``.

All calls block: they run in the pipeline's named threads, never on an event loop.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from vms.errors import Unavailable, VMSError
from vms.urls import redact_credentials as redact

log = logging.getLogger(__name__)


class MediaUnavailable(Unavailable):
    """The camera cannot be reached, refused us, or the stream ended or stalled."""


class MediaDataError(VMSError):
    """The media bytes could not be decoded, encoded or written."""

    kind = "data_error"
    http_status = 502


@dataclass(frozen=True)
class StreamInfo:
    """Codec parameters of an H.264 stream (what a muxer needs besides the packets)."""

    codec: str
    width: int
    height: int
    time_base: Fraction
    extradata: bytes
    fps: float


@dataclass(frozen=True)
class RawPacket:
    """One demuxed packet: bytes, timestamps in ``time_base`` units, keyframe flag."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool


def _translate(exc: Exception, what: str) -> VMSError:
    # FFmpeg names the URL it failed on, credentials included (#10.11).
    said = redact(str(exc))
    if isinstance(exc, av.error.ExitError | av.error.ConnectionRefusedError | TimeoutError):
        return MediaUnavailable(f"{what}: {said}")
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.PermissionError):
        return MediaUnavailable(f"{what}: the camera refused the credentials ({said})")
    if isinstance(exc, av.error.InvalidDataError):
        return MediaDataError(f"{what}: invalid data ({said})")
    if isinstance(exc, av.error.FFmpegError | OSError):
        return MediaUnavailable(f"{what}: {said}")
    return MediaDataError(f"{what}: {redact(repr(exc))}")


class RtspInput:
    """An RTSP (or any FFmpeg URL) input over TCP with a read timeout.

    ``timeout`` bounds connecting and every read (seconds): a stalled camera raises
    :class:`MediaUnavailable` instead of blocking forever.
    """

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._container: Any = None
        self._stream: Any = None

    def open(self) -> StreamInfo:
        options = {
            "timeout": str(int(self.timeout * 1_000_000)),
            # Little probing: the SDP names the codec and parameter sets, and probing
            # would buffer seconds of packets whose arrival times then mislead the
            # capture clock.
            "analyzeduration": "0",
            "probesize": "32768",
        }
        if self.url.startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = "tcp"
        try:
            container = av.open(self.url, options=options, timeout=self.timeout)
        except Exception as exc:
            raise _translate(exc, f"opening {redact(self.url)}") from None
        video = [s for s in container.streams if s.type == "video"]
        if not video:
            container.close()
            raise MediaDataError(f"{redact(self.url)} has no video stream")
        stream = video[0]
        ctx: Any = stream.codec_context
        if ctx.name != "h264":
            container.close()
            raise MediaDataError(f"{redact(self.url)} sends {ctx.name}, not H.264")
        self._container, self._stream = container, stream
        rate = stream.average_rate or stream.guessed_rate or 15
        return StreamInfo(
            "h264",
            int(ctx.width or 0),
            int(ctx.height or 0),
            Fraction(stream.time_base or Fraction(1, 90000)),
            bytes(ctx.extradata or b""),
            float(rate),
        )

    def packets(self) -> Iterator[RawPacket]:
        """Packets until the stream ends (then MediaUnavailable) or fails."""
        if self._container is None:
            raise RuntimeError("open() first")
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue
                yield RawPacket(bytes(packet), packet.pts, packet.dts, bool(packet.is_keyframe))
        except Exception as exc:
            raise _translate(exc, f"reading {redact(self.url)}") from None
        raise MediaUnavailable(f"{redact(self.url)}: the stream ended")

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception as exc:  # closing a broken connection: log, go on
                log.warning("closing %s failed: %s", redact(self.url), redact(str(exc)))
            self._container = self._stream = None


class Decoder:
    """H.264 decoder for one stream; yields writable yuv420p frames."""

    def __init__(self, info: StreamInfo) -> None:
        self._ctx = av.CodecContext.create("h264", "r")
        if info.extradata:
            self._ctx.extradata = info.extradata
        self._ctx.thread_count = 1
        self._time_base = info.time_base

    def decode(self, packet: RawPacket) -> list[Any]:
        pkt = av.Packet(packet.data)
        pkt.pts, pkt.dts = packet.pts, packet.dts
        pkt.time_base = self._time_base
        try:
            frames = self._ctx.decode(pkt)
        except Exception as exc:
            raise _translate(exc, "decoding") from None
        out = []
        for frame in frames:
            if frame.format.name not in ("yuv420p", "yuvj420p"):
                frame = frame.reformat(format="yuv420p")
            # Decoded frames may share buffers with the decoder's reference pictures:
            # painting into them would corrupt later frames.
            frame.make_writable()
            out.append(frame)
        return out


class Encoder:
    """libx264 for masked streams: constrained baseline (every browser decodes it),
    ``ultrafast``/``zerolatency`` (no frame delay), an IDR every ``keyint`` frames with
    SPS/PPS repeated (live viewers and segments can start at any keyframe)."""

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
            raise _translate(exc, "opening libx264") from None
        self._ctx = ctx
        self.info = StreamInfo("h264", width, height, Fraction(1, 90000), b"", fps)

    def encode(self, frame: Any, pts: int, *, keyframe: bool = False) -> list[RawPacket]:
        """Encode ``frame`` at ``pts`` (90 kHz); ``keyframe`` forces an IDR."""
        frame.pts = pts
        frame.time_base = self.info.time_base
        picture = av.video.frame.PictureType
        frame.pict_type = picture.I if keyframe else picture.NONE
        try:
            packets = self._ctx.encode(frame)
        except Exception as exc:
            raise _translate(exc, "encoding") from None
        return [RawPacket(bytes(p), p.pts, p.dts, bool(p.is_keyframe)) for p in packets]


def new_frame(width: int, height: int) -> Any:
    """A blank-able yuv420p frame (INV-5 fallback when decoding itself failed)."""
    return av.VideoFrame(width, height, "yuv420p")


# Segment files: fragmented at keyframes, and every fragment handed to the kernel as it
# is written (``flush_packets``): without it FFmpeg's 32 KiB write buffer held seconds of
# a low-bitrate camera in our memory, lost by a kill -9 (issue 10, item 3).
_SEGMENT_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "flush_packets": "1",
}


class Mp4Writer:
    """One MP4 segment file: fragmented at keyframes (``frag_keyframe+empty_moov``), so a
    crash leaves every complete fragment playable (docs/design/recording.md).

    The stream's codec parameters come from a template parsed from the extradata and
    first keyframe (Annex B), so no encoder is opened to mux.
    """

    def __init__(self, path: Path, info: StreamInfo, first_keyframe: bytes) -> None:
        self.path = path
        self._time_base = info.time_base
        try:
            probe = av.open(io.BytesIO(info.extradata + first_keyframe), format="h264")
            template = probe.streams.video[0]
            self._out = av.open(
                str(path),
                "w",
                format="mp4",
                options=_SEGMENT_OPTIONS,
            )
            self._stream = self._out.add_stream_from_template(template)
            self._stream.time_base = info.time_base
            probe.close()
        except Exception as exc:
            raise _translate(exc, f"creating {path.name}") from None

    def write(self, packet: RawPacket, pts: int, dts: int) -> None:
        pkt = av.Packet(packet.data)
        pkt.pts, pkt.dts = pts, dts
        pkt.time_base = self._time_base
        pkt.is_keyframe = packet.keyframe
        pkt.stream = self._stream
        try:
            self._out.mux(pkt)
        except Exception as exc:
            raise _translate(exc, f"writing {self.path.name}") from None

    def close(self) -> None:
        try:
            self._out.close()
        except Exception as exc:
            raise _translate(exc, f"closing {self.path.name}") from None


@dataclass(frozen=True)
class Salvage:
    """What :func:`salvage_mp4` recovered: ``packets`` copied, covering ``seconds`` from
    the first keyframe; ``complete`` when the source was read to its end without damage
    (then nothing of it was left behind); ``problem`` says what stopped the read."""

    packets: int
    seconds: float
    complete: bool
    problem: str | None = None


def salvage_mp4(source: Path, target: Path) -> Salvage:
    """Copy the readable packets of ``source`` (an MP4 a crash may have cut off) into a
    new MP4 ``target``, without decoding (the bytes are the camera's or our encoder's,
    unchanged). Copying starts at the first keyframe and stops at the first damaged
    packet (cut off by the end of the file) or read error, so every packet copied
    decodes. ``target`` is only written when there is something to copy.
    """
    try:
        container = av.open(str(source))
    except Exception as exc:
        return Salvage(0, 0.0, False, str(_translate(exc, f"opening {source.name}")))
    out: Any = None
    copy: Any = None
    packets, first, end = 0, 0, 0
    complete, problem = True, None
    try:
        video = [s for s in container.streams if s.type == "video"]
        if not video:
            return Salvage(0, 0.0, False, f"{source.name} has no video stream")
        stream = video[0]
        time_base = Fraction(stream.time_base or Fraction(1, 90000))
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                if packet.is_corrupt or packet.pts is None:
                    complete, problem = False, f"damaged packet at {packet.pts} (cut off)"
                    break
                if out is None:
                    if not packet.is_keyframe:
                        continue  # nothing decodes before the first keyframe
                    out = av.open(str(target), "w", format="mp4", options=_SEGMENT_OPTIONS)
                    copy = out.add_stream_from_template(stream)
                    first = end = int(packet.pts)
                packet.stream = copy
                end = max(end, int(packet.pts) + int(packet.duration or 0))
                out.mux(packet)
                packets += 1
        except Exception as exc:
            complete, problem = False, str(_translate(exc, f"reading {source.name}"))
        if out is not None:
            out.close()
    except Exception as exc:
        raise _translate(exc, f"salvaging {source.name} into {target.name}") from None
    finally:
        container.close()
    if packets == 0 and problem is None:
        complete, problem = False, f"{source.name} holds no keyframe"
    return Salvage(packets, float((end - first) * time_base), complete, problem)


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
            ctx.open()
            self._ctx, self._size = ctx, size
        try:
            still = frame.reformat(format="yuvj420p")
            self._pts += 1  # the encoder wants increasing timestamps
            still.pts = self._pts
            packets = self._ctx.encode(still)
        except Exception as exc:
            raise _translate(exc, "encoding a JPEG") from None
        return b"".join(bytes(p) for p in packets)
