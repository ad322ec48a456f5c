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
from dataclasses import dataclass, field, replace
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


# What the cut copies: H.264 with an avcC header (its parameter sets out of band), which
# the MP4/MOV, Matroska and FLV families carry. MPEG-TS, AVI and MPEG-PS (a dashboard
# camera's files) carry H.264 as an Annex B byte stream, without avcC: such a file is
# first remuxed into an MP4 (:func:`remux_for_cut`: FFmpeg's MP4 muxer builds the avcC
# from the stream's own SPS/PPS; no frame is decoded). Other codecs are not re-encoded in
# ``exact`` mode, so not cut.
_CUT_CODECS = frozenset({"h264"})
_AVCC_CONTAINERS = frozenset({"video/mp4", "video/x-matroska", "video/x-flv"})
_ANNEX_B_CONTAINERS = frozenset({"video/mp2t", "video/x-msvideo", "video/mpeg"})


def cut_refusal(codec: str | None, content_type: str | None) -> str | None:
    """Why a stored video of ``codec`` in a ``content_type`` file cannot be cut into
    clips (None: it can), to refuse an export request up front instead of failing its
    job on "not a recorder segment". Pure."""
    if codec not in _CUT_CODECS:
        return f"its video is {codec or 'of an unknown codec'}: clips are cut from H.264 only"
    if content_type not in _AVCC_CONTAINERS | _ANNEX_B_CONTAINERS:
        return (
            f"its H.264 is in a {content_type or 'unknown'} file: clips are cut from MP4, "
            "MOV, Matroska, FLV, MPEG-TS, AVI and MPEG-PS files"
        )
    return None


def needs_remux(content_type: str | None) -> bool:
    """Whether a stored file of ``content_type`` is remuxed (:func:`remux_for_cut`)
    before it is cut. Pure."""
    return content_type in _ANNEX_B_CONTAINERS


def remux_for_cut(source: Path, target: Path, label: str) -> None:
    """``source``'s first video stream copied packet for packet into the MP4 ``target``,
    which then has the avcC header the cut needs (FFmpeg's MP4 muxer builds it from the
    in-band SPS/PPS). Packets without a decode time (none in a readable file) are left
    out. The timestamps are moved as one so that the first decode time is 0: the cut
    places packets by the segment's wall-clock start and their differences, which this
    keeps, and times below 0 are lost. FFmpeg unwraps an MPEG-TS file's 33-bit
    timestamps (they wrap every 26.5 h) to below 0 when its clock starts within 60 s of
    the wrap, and the MP4 muxer hid the frames before 0 behind an edit list: a dash
    camera's court copy lost them. A failure removes ``target`` and raises our kinds."""
    try:
        with av.open(str(source), metadata_errors="ignore") as src:
            video = src.streams.video[0]
            with av.open(str(target), "w", format="mp4") as out:
                stream = out.add_stream_from_template(video)
                shift: int | None = None
                for packet in src.demux(video):
                    if packet.dts is None:
                        continue
                    if shift is None:
                        shift = packet.dts
                    packet.dts -= shift
                    if packet.pts is not None:
                        packet.pts -= shift
                    packet.stream = stream
                    out.mux(packet)
    except Exception as exc:
        target.unlink(missing_ok=True)
        if isinstance(exc, VMSError):
            raise
        raise translate(exc, f"{label}: remuxing for the cut") from None


@dataclass(frozen=True)
class LeftOut:
    """A stream of a stored file that its clips do not carry (its index in the file,
    ``video``/``audio``/``subtitle``/``data``/..., its codec)."""

    index: int
    type: str
    codec: str | None

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "type": self.type, "codec": self.codec}


def streams_left_out(path: Path, label: str, *, with_audio: bool = False) -> tuple[LeftOut, ...]:
    """Every stream of ``path`` but the one picture the cut copies (its first video
    stream) and, ``with_audio``, the first audio stream (what a redaction's render
    keeps): a second camera view, sound, subtitles, timed data. A court copy or a
    release says what it leaves out (REL-2, INV-8; docs/design/exports.md, "Streams").
    Errors as our kinds."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            kept: list[Any] = [*container.streams.video[:1]]
            if with_audio:
                kept += container.streams.audio[:1]
            return tuple(
                LeftOut(
                    int(s.index),
                    str(s.type),
                    getattr(s.codec_context, "name", None) if s.codec_context else None,
                )
                for s in container.streams
                if all(s is not k for k in kept)
            )
    except Exception as exc:
        raise translate(exc, f"{label}: reading its streams") from None


@dataclass(frozen=True)
class Segment:
    """One stored segment: its file and the wall-clock span the catalog gives it (the
    first packet is at ``start``; ``end`` is where the next segment would start);
    ``left_out``: the streams of the stored file its clips do not carry."""

    path: Path
    start: dt.datetime
    end: dt.datetime
    label: str = ""  # e.g. the media id, named in the result's sources
    left_out: tuple[LeftOut, ...] = ()
    # It continues the segment before it without a keyframe (a camera with an endless
    # GOP, docs/design/recording.md): its frames decode only after that one's packets.
    continued: bool = False


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


def chain_of(segments: Sequence[Segment], first: Segment, tolerance: dt.timedelta) -> list[Segment]:
    """The segments before ``first`` that its frames depend on when it continues its
    predecessor without a keyframe: back to the one that starts at the keyframe, each
    ending where the next starts, in time order (none for a segment that starts at a
    keyframe). Pure. A clip starting inside a continued segment is cut from them: its
    frames are decoded from that keyframe, never shown against missing references."""
    chain: list[Segment] = []
    earlier = sorted((s for s in segments if s.start < first.start), key=lambda s: s.start)
    current = first
    while current.continued and earlier:
        before = earlier.pop()
        if abs(before.end - current.start) > tolerance:
            break
        chain.append(before)
        current = before
    chain.reverse()
    return chain


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
    groups[0][:0] = chain_of(segments, groups[0][0], gap_tolerance)
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


@dataclass(slots=True)
class _Packet:
    """A demuxed packet placed on the clip's timeline: ``pts``/``dts`` in ticks of the
    clip's time base from the run's first segment start (``until``: the end of its
    display, the next frame's time)."""

    packet: Any
    pts: int
    dts: int
    until: int
    segment: str


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
    # The stored pixel format: the re-encoded frames keep it (4:4:4, 4:2:2, 10 bits).
    pix_fmt: str = "yuv420p"


@dataclass
class _Out:
    container: Any
    stream: Any
    time_base: Fraction
    source: _Source
    lo: int  # the range in ticks of the timeline
    hi: int
    origin: int | None = None  # the first frame's tick (then shifted to 0)
    last_dts: int | None = None
    end_pts: int = 0
    last_duration: int = 0
    frames: int = 0
    reencoded: int = 0
    copied_after_reencode: bool = False
    sources: list[str] = field(default_factory=list)

    def source_of(self, label: str) -> None:
        """Name the segment ``label`` among the clip's sources (once, in time order)."""
        if label and label not in self.sources:
            self.sources.append(label)


class _Cutter:
    """Cuts one run of segments (no gaps) into one MP4.

    Per-packet work stays in integer ticks (no datetimes or fractions in the loop: an
    hour at 15 fps is 54,000 packets)."""

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
        self.anchor = segments[0].start
        self.start = start
        self.end = end
        self.path = path
        self.mode = mode
        self.progress = progress
        self.out: _Out | None = None
        self.reordered = False
        self._segment = ""
        self._media_end: int | None = None  # the end of the last frame read, in ticks

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
        return Clip(
            self.path,
            self._at(out.origin),
            seconds,
            out.frames,
            out.reencoded,
            tuple(out.sources),
        )

    def _ticks(self, when: dt.datetime, time_base: Fraction) -> int:
        micros = (when - self.anchor) // dt.timedelta(microseconds=1)
        return round(Fraction(micros, 10**6) / time_base)

    def _at(self, ticks: int) -> dt.datetime:
        assert self.out is not None
        micros = round(ticks * self.out.time_base * 10**6)
        return self.anchor + dt.timedelta(microseconds=micros)

    def _cut(self) -> None:
        """Packets go GOP by GOP: ``gop`` holds those since the last keyframe until it is
        known whether they are copied, re-encoded or dropped."""
        gop: list[_Packet] = []
        for item in self._packets():
            if item.packet.is_keyframe:
                if gop:
                    self._gop(gop)
                gop = []
                assert self.out is not None
                if item.pts >= self.out.hi:
                    return
            if gop or item.packet.is_keyframe:  # nothing decodes before a keyframe
                gop.append(item)
        if gop:
            self._gop(gop)

    def _gop(self, gop: list[_Packet]) -> None:
        """Write what of one GOP belongs to the clip."""
        out = self.out
        assert out is not None
        lo, hi = out.lo, out.hi
        started = out.origin is not None
        if not started and gop[-1].until <= lo:
            return  # wholly before the range
        # The clip starts with the frame shown at ``start``: keyframe mode at the GOP's
        # keyframe, exact mode at that frame itself (re-encoded unless the keyframe).
        head = not started and gop[0].until <= lo
        tail = gop[-1].pts >= hi
        if head and self.mode == "exact":
            self._reencode(gop, lo)  # frames shown at or after ``start``
        elif tail and self.reordered:
            if self.mode == "exact":
                self._reencode(gop, gop[0].pts)
            else:
                self._copy(gop)  # the whole GOP: truncated, it would not decode
        else:
            self._copy([p for p in gop if p.pts < hi])
        self.progress(self._at(min(gop[-1].pts, hi)))

    # -- reading --------------------------------------------------------------------------

    def _packets(self) -> Iterator[_Packet]:
        for seg in self.segments:
            self._segment = seg.label
            try:
                # A camera's title in Latin-1 is no reason to refuse its court copy.
                container = av.open(str(seg.path), metadata_errors="ignore")
            except Exception as exc:
                raise translate(exc, f"opening segment {seg.label or seg.path.name}") from None
            try:
                stream: Any = container.streams.video[0]
                time_base = Fraction(stream.time_base)
                if self.out is None:
                    self._open_output(stream, time_base)
                assert self.out is not None
                if time_base != self.out.time_base:
                    raise InvalidArgument(
                        f"segment {seg.label or seg.path.name}: time base {time_base} differs "
                        f"from the clip's {self.out.time_base}"
                    )
                rate = stream.average_rate or stream.guessed_rate or 25
                frame = round(1 / (Fraction(rate) * time_base))  # ticks of one frame
                # This segment's first packet lands at its wall-clock time on the timeline,
                # or right after the previous segment's last frame if that is later: the
                # capture clock's estimate improves while it runs (recorder/timing.py), so
                # a segment may start a little before its predecessor's media time ends.
                since = self._ticks(seg.start, time_base)
                if self._media_end is not None and self._media_end > since:
                    since = self._media_end
                offset: int | None = None
                max_pts: int | None = None
                for packet in container.demux(stream):
                    raw = packet.pts
                    if raw is None or packet.size == 0:
                        continue
                    if offset is None:
                        offset = since - raw
                    if max_pts is not None and raw < max_pts:
                        self.reordered = True
                    max_pts = raw if max_pts is None or raw > max_pts else max_pts
                    dts = packet.dts
                    pts = raw + offset
                    until = pts + (packet.duration or frame)
                    if self._media_end is None or until > self._media_end:
                        self._media_end = until
                    yield _Packet(
                        packet, pts, (raw if dts is None else dts) + offset, until, seg.label
                    )
            finally:
                container.close()

    def _open_output(self, stream: Any, time_base: Fraction) -> None:
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
            str(ctx.pix_fmt or "yuv420p"),
        )
        container = av.open(str(self.path), "w", format="mp4", options={"movflags": "faststart"})
        out_stream = container.add_stream_from_template(stream)
        out_stream.time_base = time_base
        lo, hi = self._ticks(self.start, time_base), self._ticks(self.end, time_base)
        self.out = _Out(container, out_stream, time_base, source, lo, hi)

    # -- writing --------------------------------------------------------------------------

    def _copy(self, items: list[_Packet]) -> None:
        out = self.out
        assert out is not None
        for item in items:
            packet = item.packet
            if out.reencoded and not out.copied_after_reencode and packet.is_keyframe:
                # The re-encoded frames brought our encoder's SPS/PPS: the stored
                # stream's own go in front of its first copied keyframe if missing.
                data = _with_parameter_sets(bytes(packet), out.source)
                fresh = av.Packet(data)
                fresh.duration = packet.duration
                fresh.is_keyframe = True
                packet = fresh
            if out.reencoded:
                out.copied_after_reencode = True
            self._write(packet, item)

    def _write(self, packet: Any, item: _Packet, *, new: bool = False) -> None:
        """Mux ``packet`` at ``item``'s place on the timeline (shifted: first frame 0)."""
        out = self.out
        assert out is not None
        if out.origin is None:
            out.origin = item.pts
        pts, dts = item.pts - out.origin, item.dts - out.origin
        if out.last_dts is not None and dts <= out.last_dts:
            dts = out.last_dts + 1  # clock jitter between segments: keep DTS rising
        if pts < dts:
            pts = dts
        duration = packet.duration or (item.until - item.pts) or out.last_duration or 1
        packet.pts, packet.dts, packet.duration = pts, dts, duration
        packet.time_base = out.time_base
        packet.stream = out.stream
        out.container.mux(packet)
        out.last_dts = dts
        if pts + duration > out.end_pts:
            out.end_pts = pts + duration
        out.last_duration = duration
        out.frames += 1
        if new:
            out.reencoded += 1
        if not out.sources or out.sources[-1] != item.segment:
            out.source_of(item.segment)

    def _reencode(self, gop: list[_Packet], lo: int) -> None:
        """Decode one GOP and encode its frames shown in ``[lo, hi)`` anew (the first as
        an IDR), each at the timestamp its stored frame had."""
        out = self.out
        assert out is not None
        src = out.source
        decoder: Any = av.CodecContext.create(src.codec, "r")
        decoder.extradata = src.extradata
        encoder: Any = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height = src.width, src.height
        # The stored format, not always 4:2:0 8-bit: a High 4:4:4 / 4:2:2 / High 10
        # stream whose first partial GOP came out 4:2:0 changed format mid-stream (many
        # players refuse that), and an odd-sized 4:4:4 one could not be encoded at all.
        # libx264 picks the profile that fits the format.
        encoder.pix_fmt = src.pix_fmt
        encoder.time_base = out.time_base
        encoder.max_b_frames = 0
        options = dict(_ENCODER_OPTIONS)
        if src.profile:
            options["profile"] = src.profile
        encoder.options = options
        by_clip_pts = {p.pts: p for p in gop}
        # The re-encoded frames come from every segment the GOP was decoded from (a GOP
        # of a camera with an endless GOP spans several): all are the clip's sources.
        for item in gop:
            if item.pts < out.hi:
                out.source_of(item.segment)
        first = True
        # Decoded frames leave the decoder in presentation order: encoded as they come,
        # so a GOP of minutes (an endless GOP's chain) is never held decoded in memory.
        for entry in [*gop, None]:
            if entry is not None:
                # Decoded at its place on the clip's timeline: a GOP spanning segments
                # has the same stored times in each (every file starts at 0).
                entry.packet.pts, entry.packet.dts = entry.pts, entry.dts
            for frame in decoder.decode(None if entry is None else entry.packet):
                found = by_clip_pts.get(int(frame.pts))
                if found is None or not (found.until > lo and found.pts < out.hi):
                    continue
                frame = frame.reformat(format=src.pix_fmt)
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
        fresh = av.Packet(data)
        fresh.duration = item.until - item.pts
        fresh.is_keyframe = packet.is_keyframe
        self._write(fresh, replace(item, dts=item.pts), new=True)


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
