"""MP4 files through PyAV: the segment writer's muxer (:class:`Mp4Writer`) and the
start-up salvage's remux of a file a crash cut off (:func:`salvage_mp4`), both without
decoding (docs/design/recording.md, procedure of a segment).

Errors leave as :class:`~vms.errors.Unavailable` (the file could not be opened or
written, e.g. the disk is full) or :class:`~vms.errors.DataLoss` (bad bytes), through
:mod:`vms.media.errors`. All calls block.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vms.media.errors import translate
from vms.media.stream import RawPacket, StreamInfo

# Segment files: fragmented at keyframes, and every fragment handed to the kernel as it
# is written (``flush_packets``): without it FFmpeg's 32 KiB write buffer held seconds of
# a low-bitrate camera in our memory, lost by a kill -9 (issue 10, item 3). A fragment
# also ends after FRAGMENT_MAX_SECONDS without a keyframe (``frag_duration``, in
# microseconds): a camera sending P frames only had its whole segment held in the
# muxer's memory, none of it on disk for a crash to leave (docs/design/recording.md,
# "Segments without keyframes"). Cameras with a shorter GOP are not affected.
FRAGMENT_MAX_SECONDS = 10
_SEGMENT_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": str(FRAGMENT_MAX_SECONDS * 1_000_000),
    "flush_packets": "1",
}


class Mp4Writer:
    """One MP4 segment file: fragmented at keyframes (``frag_keyframe+empty_moov``) and
    every ``FRAGMENT_MAX_SECONDS`` without one, so a crash leaves every complete fragment
    playable (docs/design/recording.md).

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
            raise translate(exc, f"creating {path.name}") from None

    def write(self, packet: RawPacket, pts: int, dts: int) -> None:
        pkt = av.Packet(packet.data)
        pkt.pts, pkt.dts = pts, dts
        pkt.time_base = self._time_base
        pkt.is_keyframe = packet.keyframe
        pkt.stream = self._stream
        try:
            self._out.mux(pkt)
        except Exception as exc:
            raise translate(exc, f"writing {self.path.name}") from None

    def close(self) -> None:
        try:
            self._out.close()
        except Exception as exc:
            raise translate(exc, f"closing {self.path.name}") from None


@dataclass(frozen=True)
class Salvage:
    """What :func:`salvage_mp4` recovered: ``packets`` copied, covering ``seconds`` from
    the first keyframe; ``complete`` when the source was read to its end without damage
    (then nothing of it was left behind); ``problem`` says what stopped the read."""

    packets: int
    seconds: float
    complete: bool
    problem: str | None = None


def salvage_mp4(source: Path, target: Path, *, from_start: bool = False) -> Salvage:
    """Copy the readable packets of ``source`` (an MP4 a crash may have cut off) into a
    new MP4 ``target``, without decoding (the bytes are the camera's or our encoder's,
    unchanged). Copying starts at the first keyframe and stops at the first damaged
    packet (cut off by the end of the file) or read error, so every packet copied
    decodes. ``from_start``: copying starts at the first packet (a recorder segment that
    continues another without a keyframe: its packets decode after that one's).
    ``target`` is only written when there is something to copy.
    """
    try:
        container = av.open(str(source))
    except Exception as exc:
        return Salvage(0, 0.0, False, str(translate(exc, f"opening {source.name}")))
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
                    if not packet.is_keyframe and not from_start:
                        continue  # nothing decodes before the first keyframe
                    out = av.open(str(target), "w", format="mp4", options=_SEGMENT_OPTIONS)
                    copy = out.add_stream_from_template(stream)
                    first = end = int(packet.pts)
                packet.stream = copy
                end = max(end, int(packet.pts) + int(packet.duration or 0))
                out.mux(packet)
                packets += 1
        except Exception as exc:
            complete, problem = False, str(translate(exc, f"reading {source.name}"))
        if out is not None:
            out.close()
    except Exception as exc:
        raise translate(exc, f"salvaging {source.name} into {target.name}") from None
    finally:
        container.close()
    if packets == 0 and problem is None:
        complete, problem = False, f"{source.name} holds no keyframe"
    return Salvage(packets, float((end - first) * time_base), complete, problem)
