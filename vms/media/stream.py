"""Camera streams through PyAV: an RTSP (or any FFmpeg URL) input and the values that
describe what it carries (:class:`StreamInfo`, :class:`RawPacket`).

Errors leave as the kinds of :mod:`vms.media.errors`: :class:`~vms.errors.Unavailable`
(the camera failed, refused us, stalled or ended), :class:`~vms.errors.DataLoss` (bad
bytes), :class:`~vms.errors.FailedPrecondition` (no H.264 video to record).

All calls block: they run in the pipeline's named threads, never on an event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

import av

from vms.errors import FailedPrecondition, Unavailable
from vms.media.errors import translate
from vms.media.probe import MAX_FRAME_PIXELS
from vms.media.rtsps import CameraTls, Relay, relay_for
from vms.urls import redact_credentials as redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamInfo:
    """Codec parameters of an H.264 stream (what a muxer needs besides the packets)."""

    codec: str
    width: int
    height: int
    time_base: Fraction
    extradata: bytes
    fps: float


class RawPacket:
    """One demuxed packet: bytes, timestamps in ``time_base`` units, keyframe flag.
    ``source``: the demuxer's own packet of the same bytes and timestamps, when there is
    one (:class:`RtspInput`): a decoder takes it as it is, instead of a new packet made
    from the bytes (copied) and stamped again, every frame. Not part of the value.

    A value (compared by bytes, timestamps and flag; read-only by convention and, for
    the type checker, ``Final``). Not a frozen dataclass: one is made for every packet
    of every camera, and a frozen dataclass sets each field through a call. Made from
    a ``source`` with no ``data``, its bytes are copied out of the source at the first
    read of :attr:`data`, never when nobody reads them: a masked camera's packets go
    only to its decoder, which takes the source (bench/README.md, session 21)."""

    __slots__ = ("_data", "dts", "keyframe", "pts", "source")

    def __init__(
        self,
        data: bytes | None,
        pts: int | None,
        dts: int | None,
        keyframe: bool,
        source: Any = None,
    ) -> None:
        if data is None and source is None:
            raise ValueError("a packet needs its bytes or the packet that holds them")
        self._data = data
        self.pts: Final = pts
        self.dts: Final = dts
        self.keyframe: Final = keyframe
        self.source: Final[Any] = source

    @property
    def data(self) -> bytes:
        data = self._data
        if data is None:
            # Two threads reading at once both copy the same bytes: harmless.
            data = self._data = bytes(self.source)
        return data

    def _key(self) -> tuple[bytes, int | None, int | None, bool]:
        return self.data, self.pts, self.dts, self.keyframe

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawPacket):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"RawPacket({len(self.data)} bytes, pts={self.pts}, dts={self.dts}, "
            f"keyframe={self.keyframe})"
        )


class RtspInput:
    """An RTSP (or any FFmpeg URL) input over TCP with a read timeout.

    ``timeout`` bounds connecting and every read (seconds): a stalled camera raises
    :class:`~vms.errors.Unavailable` instead of blocking forever. A stream whose frames
    have more than ``max_pixels`` (default 8K) is not one we record (FailedPrecondition).

    ``tls``: how an ``rtsps://`` camera's certificate is checked (its pin or CA bundle):
    our own TLS connection is opened and checked before FFmpeg sends a byte, and FFmpeg
    reads through a relay on 127.0.0.1 (:mod:`vms.media.rtsps`). A changed certificate
    fails the open (:class:`~vms.tls_pins.CertificateChanged`, a FailedPrecondition);
    nothing was sent. Without it an ``rtsps://`` URL is refused (FailedPrecondition):
    FFmpeg's own TLS checks no certificate.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        max_pixels: int = MAX_FRAME_PIXELS,
        tls: CameraTls | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.max_pixels = max_pixels
        self.tls = tls
        self._relay: Relay | None = None
        self._container: Any = None
        self._stream: Any = None

    def open(self) -> StreamInfo:
        options = {
            # FFmpeg's socket I/O timeout (microseconds): a read that waits longer fails.
            "timeout": str(int(self.timeout * 1_000_000)),
            # Little probing: the SDP names the codec and parameter sets, and probing
            # would buffer seconds of packets whose arrival times then mislead the
            # capture clock.
            "analyzeduration": "0",
            "probesize": "32768",
        }
        if self.url.startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = "tcp"
        target = self.url
        if self.url[:8].lower() == "rtsps://":
            if self.tls is None:
                # FFmpeg's own TLS checks no certificate: never opened unchecked.
                raise FailedPrecondition(
                    f"opening {redact(self.url)}: an rtsps stream is opened only with its "
                    "certificate checked, and it has no pin, CA bundle or first use to "
                    "check it against; nothing was sent to it"
                )
            # Checked before FFmpeg runs: a changed certificate raises here, nothing sent.
            self._relay = relay_for(self.url, self.tls, self.timeout)
            target = self._relay.url_for(self.url)
            # FFmpeg may open nothing but the relay's TCP connection: a redirect from
            # the camera to another rtsps address would otherwise go unchecked.
            options["protocol_whitelist"] = "tcp"
        try:
            return self._open(target, options)
        except BaseException:
            self._close_relay()
            raise

    def _open(self, target: str, options: dict[str, str]) -> StreamInfo:
        try:
            # PyAV's own timeout bounds the open only. Its read timeout would take the GIL
            # in FFmpeg's interrupt callback, called some 25 times a frame (counted:
            # bench/README.md, session 13); reads are bounded by FFmpeg's socket timeout
            # above instead (tests/vms/test_media.py, the stalled stream).
            container = av.open(target, options=options, timeout=(self.timeout, None))
        except Exception as exc:
            raise translate(exc, f"opening {redact(self.url)}") from None
        video = [s for s in container.streams if s.type == "video"]
        if not video:
            container.close()
            raise FailedPrecondition(f"{redact(self.url)} has no video stream")
        stream = video[0]
        ctx: Any = stream.codec_context
        if ctx.name != "h264":
            container.close()
            raise FailedPrecondition(f"{redact(self.url)} sends {ctx.name}, not H.264")
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width * height > self.max_pixels:
            # Its blank frames and a masked camera's encoder would be that size; the
            # ingest probe would refuse its segments.
            container.close()
            raise FailedPrecondition(
                f"{redact(self.url)} sends {width}x{height} frames ({width * height} "
                f"pixels), more than the {self.max_pixels} accepted"
            )
        self._container, self._stream = container, stream
        rate = stream.average_rate or stream.guessed_rate or 15
        return StreamInfo(
            "h264",
            width,
            height,
            Fraction(stream.time_base or Fraction(1, 90000)),
            bytes(ctx.extradata or b""),
            float(rate),
        )

    def packets(self) -> Iterator[RawPacket]:
        """Packets until the stream ends (then :class:`~vms.errors.Unavailable`) or fails."""
        if self._container is None:
            raise RuntimeError("open() first")
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue
                yield RawPacket(None, packet.pts, packet.dts, packet.is_keyframe, packet)
        except Exception as exc:
            raise translate(exc, f"reading {redact(self.url)}") from None
        raise Unavailable(f"{redact(self.url)}: the stream ended")

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception as exc:  # closing a broken connection: log, go on
                log.warning("closing %s failed: %s", redact(self.url), redact(str(exc)))
            self._container = self._stream = None
        self._close_relay()

    def _close_relay(self) -> None:
        if self._relay is not None:
            self._relay.close()
            self._relay = None
