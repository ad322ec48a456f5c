"""Clips cut from stored segments by wall-clock time (issue 15, item 4;
docs/design/exports.md).

:func:`cut_clips` turns an ordered list of a camera's stored MP4 segments and a range
``[start, end)`` into continuous MP4 files by stream copy:

- ``keyframe`` mode starts at the keyframe at or before ``start`` (up to one GOP early);
- ``exact`` mode starts with the frame shown at ``start`` (at most one frame early):
  the partial GOP there is decoded and its frames from that one re-encoded (libx264,
  the first as an IDR), then everything is copied from the next keyframe on.

Both end with the last frame that starts before ``end``, cut by copy (a GOP truncated at
its end still decodes when the stream has no frame reordering); a stream with reordering
(B-frames) has its partial GOP at the end re-encoded in ``exact`` mode and kept whole in
``keyframe`` mode.

Timestamps are rebuilt from the segments' wall-clock starts, so one clip plays as one
timeline from 0. A gap between segments (a ``next.start`` later than ``prev.end`` by
more than ``gap_tolerance``) is never bridged: the clip ends before it and the next one
starts after it, and the gap is listed in the result (exports.md, "Gaps"). Output files
have their index in front (``movflags=faststart``) so browsers play them while they load.

Errors leave as kinds of :mod:`vms.errors` (through :mod:`vms.media.errors`). All calls
block.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
from av.video.frame import PictureType

from vms.errors import InvalidArgument, VMSError
from vms.media.errors import translate

log = logging.getLogger(__name__)

CutMode = Literal["keyframe", "exact"]
CUT_MODES: tuple[str, ...] = ("keyframe", "exact")

# Re-encoded frames must look like the stored ones (PSNR >= 35 dB is tested): CRF 16 at
# a fast preset costs little, since only two partial GOPs per clip are encoded.
_ENCODER_OPTIONS = {"preset": "veryfast", "crf": "16", "threads": "1"}
_KNOWN_PROFILES = {
    "Baseline": "baseline",
    "Constrained Baseline": "baseline",
    "Main": "main",
    "High": "high",
}


@dataclass(frozen=True)
class Segment:
    """One stored segment: its file and the wall-clock span the catalog gives it (the
    first packet is at ``start``; ``end`` is where the next segment would start)."""

    path: Path
    start: dt.datetime
    end: dt.datetime
    label: str = ""  # e.g. the media id, named in the result's sources


@dataclass(frozen=True)
class Gap:
    """A span of the requested range without recording."""

    start: dt.datetime
    end: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Clip:
    """One continuous MP4 written by :func:`cut_clips`: its first frame is at ``start``
    (wall clock), it lasts ``seconds``; ``sources`` are the labels of the segments it
    took packets from; ``reencoded`` counts the frames encoded anew (``exact`` mode)."""

    path: Path
    start: dt.datetime
    seconds: float
    frames: int
    reencoded: int
    sources: tuple[str, ...]

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class CutResult:
    """What :func:`cut_clips` made: the clips in time order and the gaps of the range."""

    clips: tuple[Clip, ...]
    gaps: tuple[Gap, ...]
    mode: str


def runs(
    segments: Sequence[Segment], start: dt.datetime, end: dt.datetime, tolerance: dt.timedelta
) -> tuple[list[list[Segment]], list[Gap]]:
    """The segments overlapping ``[start, end)`` grouped into runs without gaps, and the
    gaps of the range (before the first run, between runs, after the last). Pure."""
    inside = [s for s in segments if s.end > start and s.start < end]
    inside.sort(key=lambda s: s.start)
    groups: list[list[Segment]] = []
    gaps: list[Gap] = []
    cursor = start
    for seg in inside:
        if seg.start - cursor > tolerance:
            gaps.append(Gap(max(cursor, start), min(seg.start, end)))
            groups.append([])
        elif not groups:
            groups.append([])
        groups[-1].append(seg)
        cursor = max(cursor, seg.end)
    if end - cursor > tolerance:
        gaps.append(Gap(max(cursor, start), end))
    return [g for g in groups if g], gaps


def cut_clips(
    segments: Sequence[Segment],
    start: dt.datetime,
    end: dt.datetime,
    out_dir: Path,
    *,
    mode: str = "keyframe",
    stem: str = "clip",
    gap_tolerance: dt.timedelta = dt.timedelta(milliseconds=500),
    progress: Callable[[float], None] | None = None,
) -> CutResult:
    """Cut ``[start, end)`` of ``segments`` (one camera's, any order) into
    ``out_dir/<stem>-NN.mp4``, one file per run of segments without a gap (see the
    module doc). ``mode`` is ``keyframe`` (default) or ``exact``; ``progress`` is called
    with the fraction of the range done. Raises ``InvalidArgument`` for an empty or
    inverted range, an unknown mode, or a range without recording."""
    if mode not in CUT_MODES:
        raise InvalidArgument(f"cut mode {mode!r}: expected one of {', '.join(CUT_MODES)}")
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidArgument("clip range: start and end need a time zone")
    if end <= start:
        raise InvalidArgument(f"clip range {start.isoformat()}..{end.isoformat()} is empty")
    groups, gaps = runs(segments, start, end, gap_tolerance)
    if not groups:
        raise InvalidArgument(f"no recording between {start.isoformat()} and {end.isoformat()}")
    total = (end - start).total_seconds()
    report = progress or (lambda _f: None)
    clips = []
    for n, group in enumerate(groups, 1):
        path = out_dir / f"{stem}-{n:02d}.mp4"
        done = lambda at: report(min(1.0, max(0.0, (at - start).total_seconds() / total)))  # noqa: E731
        clips.append(_Cutter(group, start, end, path, mode, done).run())
    report(1.0)
    return CutResult(tuple(clips), tuple(gaps), mode)


# -- the cutter -----------------------------------------------------------------------


@dataclass
class _Packet:
    """A demuxed packet with its wall-clock time (``at``, of its presentation)."""

    packet: Any
    at: dt.datetime
    offset: int  # added to pts/dts to put it on the clip's timeline (clip time base)
    until: dt.datetime  # the end of its display (the next frame's time)

    @property
    def pts(self) -> int:
        return int(self.packet.pts) + self.offset

    @property
    def dts(self) -> int:
        dts = self.packet.dts if self.packet.dts is not None else self.packet.pts
        return int(dts) + self.offset


@dataclass(frozen=True)
class _Source:
    """What the re-encoder needs of the stored stream (read while its file is open)."""

    codec: str
    extradata: bytes
    width: int
    height: int
    profile: str | None
    nal_length: int
    parameter_sets: tuple[bytes, ...]


@dataclass
class _Out:
    container: Any
    stream: Any
    time_base: Fraction
    source: _Source
    origin: dt.datetime | None = None
    shift: int = 0
    last_dts: int | None = None
    end_pts: int = 0
    last_duration: int = 0
    frames: int = 0
    reencoded: int = 0
    sources: list[str] = field(default_factory=list)


class _Cutter:
    """Cuts one run of segments (no gaps) into one MP4."""

    def __init__(
        self,
        segments: list[Segment],
        start: dt.datetime,
        end: dt.datetime,
        path: Path,
        mode: str,
        progress: Callable[[dt.datetime], None],
    ) -> None:
        self.segments = segments
        self.start = start
        self.end = end
        self.path = path
        self.mode = mode
        self.progress = progress
        self.out: _Out | None = None
        self.reordered = False
        self._segment = ""

    def run(self) -> Clip:
        try:
            self._cut()
            out = self.out
            if out is None or out.origin is None:
                raise InvalidArgument(
                    f"no frame between {self.start.isoformat()} and {self.end.isoformat()}"
                )
            out.container.close()
        except Exception as exc:
            if self.out is not None:
                with contextlib.suppress(Exception):
                    self.out.container.close()
            self.path.unlink(missing_ok=True)
            if isinstance(exc, VMSError):
                raise
            raise translate(exc, f"cutting {self.path.name}") from None
        seconds = float(out.end_pts * out.time_base)
        return Clip(self.path, out.origin, seconds, out.frames, out.reencoded, tuple(out.sources))

    def _cut(self) -> None:
        """Packets go GOP by GOP: ``gop`` holds those since the last keyframe until it is
        known whether they are copied, re-encoded or dropped."""
        gop: list[_Packet] = []
        for item in self._packets():
            if item.packet.is_keyframe:
                if gop:
                    self._gop(gop)
                gop = []
                if item.at >= self.end:
                    return
            if gop or item.packet.is_keyframe:  # nothing decodes before a keyframe
                gop.append(item)
        if gop:
            self._gop(gop)

    def _gop(self, gop: list[_Packet]) -> None:
        """Write what of one GOP belongs to the clip."""
        out = self.out
        assert out is not None
        started = out.origin is not None
        if not started and gop[-1].until <= self.start:
            return  # wholly before the range
        # The clip starts with the frame shown at ``start``: keyframe mode at the GOP's
        # keyframe, exact mode at that frame itself (re-encoded unless the keyframe).
        head = not started and gop[0].until <= self.start
        tail = gop[-1].at >= self.end
        if head and self.mode == "exact":
            self._reencode(gop, self.start)  # frames shown at or after ``start``
        elif tail and self.reordered:
            if self.mode == "exact":
                self._reencode(gop, gop[0].at)
            else:
                self._copy(gop)  # the whole GOP: truncated, it would not decode
        else:
            self._copy([p for p in gop if p.at < self.end])
        self.progress(min(gop[-1].at, self.end))

    # -- reading --------------------------------------------------------------------------

    def _packets(self) -> Iterator[_Packet]:
        anchor = self.segments[0].start
        for seg in self.segments:
            self._segment = seg.label
            try:
                container = av.open(str(seg.path))
            except Exception as exc:
                raise translate(exc, f"opening segment {seg.label or seg.path.name}") from None
            try:
                stream: Any = container.streams.video[0]
                time_base = Fraction(stream.time_base)
                rate = stream.average_rate or stream.guessed_rate or 25
                frame = float(1 / Fraction(rate))
                if self.out is None:
                    self._open_output(stream)
                assert self.out is not None
                if time_base != self.out.time_base:
                    raise InvalidArgument(
                        f"segment {seg.label or seg.path.name}: time base {time_base} differs "
                        f"from the clip's {self.out.time_base}"
                    )
                # This segment's first packet lands at its wall-clock time on the clip's
                # timeline (anchored at the run's first segment, shifted to 0 later).
                since = Fraction((seg.start - anchor) // dt.timedelta(microseconds=1), 10**6)
                first: int | None = None
                offset = 0
                max_pts: int | None = None
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.pts is None:
                        continue
                    pts = int(packet.pts)
                    if first is None:
                        first = pts
                        offset = round(since / time_base) - first
                    if max_pts is not None and pts < max_pts:
                        self.reordered = True
                    max_pts = pts if max_pts is None else max(max_pts, pts)
                    at = seg.start + dt.timedelta(seconds=float((pts - first) * time_base))
                    shown = float(int(packet.duration or 0) * time_base) or frame
                    yield _Packet(packet, at, offset, at + dt.timedelta(seconds=shown))
            finally:
                container.close()

    def _open_output(self, stream: Any) -> None:
        ctx = stream.codec_context
        extradata = bytes(ctx.extradata or b"")
        if ctx.name != "h264" or not extradata or extradata[0] != 1:
            raise InvalidArgument(
                f"segment {self._segment}: {ctx.name} without an avcC header: not a recorder "
                "segment"
            )
        source = _Source(
            ctx.name,
            extradata,
            ctx.width,
            ctx.height,
            _KNOWN_PROFILES.get(str(ctx.profile or "")),
            (extradata[4] & 3) + 1,
            tuple(_avcc_sets(extradata)),
        )
        container = av.open(str(self.path), "w", format="mp4", options={"movflags": "faststart"})
        out_stream = container.add_stream_from_template(stream)
        time_base = Fraction(stream.time_base)
        out_stream.time_base = time_base
        self.out = _Out(container, out_stream, time_base, source)

    # -- writing --------------------------------------------------------------------------

    def _copy(self, items: list[_Packet]) -> None:
        out = self.out
        assert out is not None
        for item in items:
            data = bytes(item.packet)
            if out.reencoded and item.packet.is_keyframe and item is items[0]:
                # The re-encoded frames brought our encoder's SPS/PPS: the stored
                # stream's own go in front of its first copied keyframe if missing.
                data = _with_parameter_sets(data, out.source)
            self._write(data, item.pts, item.dts, item.packet, item)

    def _write(
        self, data: bytes, pts: int, dts: int, like: Any, item: _Packet, *, new: bool = False
    ) -> None:
        out = self.out
        assert out is not None
        if out.origin is None:
            out.origin = item.at
            out.shift = pts  # the first frame at 0
        pts, dts = pts - out.shift, dts - out.shift
        if out.last_dts is not None and dts <= out.last_dts:
            dts = out.last_dts + 1  # clock jitter between segments: keep DTS rising
        pts = max(pts, dts)
        duration = int(like.duration or 0) or out.last_duration or 1
        packet = av.Packet(data)
        packet.pts, packet.dts, packet.duration = pts, dts, duration
        packet.time_base = out.time_base
        packet.is_keyframe = bool(like.is_keyframe)
        packet.stream = out.stream
        out.container.mux(packet)
        out.last_dts = dts
        out.end_pts = max(out.end_pts, pts + duration)
        out.last_duration = duration
        out.frames += 1
        out.reencoded += int(new)
        if self._segment and self._segment not in out.sources:
            out.sources.append(self._segment)

    def _reencode(self, gop: list[_Packet], lo: dt.datetime) -> None:
        """Decode one GOP and encode its frames in ``[lo, end)`` anew (the first as an
        IDR), each at the timestamp its stored frame had."""
        out = self.out
        assert out is not None
        src = out.source
        decoder: Any = av.CodecContext.create(src.codec, "r")
        decoder.extradata = src.extradata
        encoder: Any = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height = src.width, src.height
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = out.time_base
        encoder.max_b_frames = 0
        options = dict(_ENCODER_OPTIONS)
        if src.profile:
            options["profile"] = src.profile
        encoder.options = options
        by_source_pts = {int(p.packet.pts): p for p in gop}
        by_clip_pts = {p.pts: p for p in gop}
        frames = []
        for item in gop:
            frames.extend(decoder.decode(item.packet))
        frames.extend(decoder.decode(None))
        first = True
        for frame in sorted(frames, key=lambda f: int(f.pts)):
            found = by_source_pts.get(int(frame.pts))
            if found is None or not (found.until > lo and found.at < self.end):
                continue
            frame = frame.reformat(format="yuv420p")
            frame.pts = found.pts
            frame.time_base = out.time_base
            frame.pict_type = PictureType.I if first else PictureType.NONE
            first = False
            for packet in encoder.encode(frame):
                self._write_encoded(packet, by_clip_pts)
        for packet in encoder.encode(None):
            self._write_encoded(packet, by_clip_pts)

    def _write_encoded(self, packet: Any, by_clip_pts: dict[int, _Packet]) -> None:
        out = self.out
        assert out is not None
        item = by_clip_pts[int(packet.pts)]
        size = out.source.nal_length
        data = b"".join(len(n).to_bytes(size, "big") + n for n in _split_annexb(bytes(packet)))
        like = _Like(item.packet.duration, packet.is_keyframe)
        self._write(data, item.pts, item.pts, like, item, new=True)


@dataclass(frozen=True)
class _Like:
    duration: int | None
    is_keyframe: bool


def _with_parameter_sets(data: bytes, source: _Source) -> bytes:
    kinds = {nal[0] & 0x1F for nal in _split_length_prefixed(data, source.nal_length) if nal}
    if {7, 8} <= kinds:
        return data
    size = source.nal_length
    return b"".join(len(ps).to_bytes(size, "big") + ps for ps in source.parameter_sets) + data


def _avcc_sets(extradata: bytes) -> list[bytes]:
    """The SPS and PPS NAL units of an avcC record (ISO/IEC 14496-15, 5.3.3.1)."""
    sets: list[bytes] = []
    pos = 5
    for kind in ("sps", "pps"):
        count = extradata[pos] & (0x1F if kind == "sps" else 0xFF)
        pos += 1
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            sets.append(extradata[pos + 2 : pos + 2 + size])
            pos += 2 + size
    return sets


def _split_length_prefixed(data: bytes, size: int) -> list[bytes]:
    nals, pos = [], 0
    while pos + size <= len(data):
        length = int.from_bytes(data[pos : pos + size], "big")
        nals.append(data[pos + size : pos + size + length])
        pos += size + length
    return nals


def _split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (start codes of 3 or 4 bytes)."""
    nals: list[bytes] = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        begin = pos + 3
        pos = data.find(b"\x00\x00\x01", begin)
        nal = data[begin:pos] if pos >= 0 else data[begin:]
        if pos >= 0 and nal.endswith(b"\x00"):
            nal = nal[:-1]  # the leading zero of a 4-byte start code
        if nal:
            nals.append(nal)
    return nals
