"""Stored segments as HLS fMP4, without remuxing (docs/design/playback.md).

The recorder writes every segment as a fragmented MP4 (``frag_keyframe+empty_moov``,
:mod:`vms.media.mp4`): ``ftyp`` + ``moov`` (no samples) then ``moof``/``mdat`` pairs, one
per GOP, then an ``mfra`` index. That is already what HLS calls an fMP4 media segment:
the ``ftyp``+``moov`` bytes are its initialisation section (``EXT-X-MAP``) and the
``moof``/``mdat`` run is the media. Only one thing differs: each file's decode times
start at 0, so consecutive segments would overlap on the player's timeline. The media
bytes are therefore served with each fragment's base media decode time (``tfdt``)
shifted by a constant (:class:`ShiftedMedia`), which puts every segment at its
wall-clock place on one continuous timeline. No byte moves (the field is rewritten in
place, same width), so HTTP byte ranges of the served media map 1:1 onto the file.

This module reads box headers only (a few hundred bytes of a 60 s segment); it imports
no media library. Files written otherwise (not fragmented, 32-bit ``tfdt``) are refused
with :class:`~vms.errors.FailedPrecondition`; damaged box structure is
:class:`~vms.errors.DataLoss`.
"""

from __future__ import annotations

import bisect
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vms.errors import DataLoss, FailedPrecondition

# Boxes whose children we walk to reach the timescale (mdhd) and the fragments' tfdt.
_INIT_PATH = (b"moov", b"trak", b"mdia", b"mdhd")
_HEADER = struct.Struct(">I4s")
_LARGE = struct.Struct(">Q")


@dataclass(frozen=True)
class Fmp4Layout:
    """Where the parts of one fragmented MP4 file are.

    ``init``: ``[0, init_end)`` (ftyp + moov); ``media``: ``[media_start, media_end)``
    (the moof/mdat run; a trailing ``mfra`` index is left out, its times would be
    unshifted). ``tfdt``: for every fragment, the file offset of its 64-bit base media
    decode time and the value stored there, in ``timescale`` ticks per second.
    """

    size: int
    init_end: int
    media_start: int
    media_end: int
    timescale: int
    tfdt: tuple[tuple[int, int], ...]

    @property
    def media_length(self) -> int:
        return self.media_end - self.media_start

    @property
    def first_decode_time(self) -> int:
        return self.tfdt[0][1]


def _box(f: BinaryIO, offset: int, end: int, name: str) -> tuple[bytes, int, int]:
    """The box at ``offset``: (type, header size, total size)."""
    f.seek(offset)
    head = f.read(8)
    if len(head) < 8:
        raise DataLoss(f"{name}: box header cut off at byte {offset}")
    size, kind = _HEADER.unpack(head)
    header = 8
    if size == 1:
        large = f.read(8)
        if len(large) < 8:
            raise DataLoss(f"{name}: box header cut off at byte {offset}")
        size = _LARGE.unpack(large)[0]
        header = 16
    elif size == 0:
        size = end - offset  # to the end of the enclosing box
    if size < header or offset + size > end:
        raise DataLoss(f"{name}: box {kind!r} at byte {offset} overruns its container")
    return kind, header, size


def _children(f: BinaryIO, start: int, end: int, name: str) -> list[tuple[bytes, int, int, int]]:
    out = []
    offset = start
    while offset < end:
        kind, header, size = _box(f, offset, end, name)
        out.append((kind, offset, header, size))
        offset += size
    return out


def _timescale(f: BinaryIO, moov: tuple[int, int, int], name: str) -> int:
    """The timescale of the first video track (mdhd) of ``moov`` (offset, header, size)."""
    offset, header, size = moov
    for kind, t_off, t_head, t_size in _children(f, offset + header, offset + size, name):
        if kind != b"trak":
            continue
        mdia = [c for c in _children(f, t_off + t_head, t_off + t_size, name) if c[0] == b"mdia"]
        for _, m_off, m_head, m_size in mdia:
            parts = {c[0]: c for c in _children(f, m_off + m_head, m_off + m_size, name)}
            hdlr, mdhd = parts.get(b"hdlr"), parts.get(b"mdhd")
            if hdlr is None or mdhd is None:
                continue
            f.seek(hdlr[1] + hdlr[2] + 8)  # version/flags, pre_defined, handler_type
            if f.read(4) != b"vide":
                continue
            f.seek(mdhd[1] + mdhd[2])
            version = f.read(1)
            # version 0: 4-byte creation and modification times; version 1: 8-byte.
            f.seek(mdhd[1] + mdhd[2] + (20 if version == b"\x01" else 12))
            (scale,) = struct.unpack(">I", f.read(4))
            if scale <= 0:
                raise DataLoss(f"{name}: video timescale {scale}")
            return int(scale)
    raise FailedPrecondition(f"{name} has no video track")


def read_layout(path: Path) -> Fmp4Layout:
    """The :class:`Fmp4Layout` of the fragmented MP4 at ``path`` (reads box headers)."""
    name = path.name
    try:
        with path.open("rb") as f:
            size = f.seek(0, io.SEEK_END)
            boxes = _children(f, 0, size, name)
            kinds = [b[0] for b in boxes]
            if b"moov" not in kinds or b"moof" not in kinds:
                raise FailedPrecondition(f"{name} is not a fragmented MP4 (no moov/moof)")
            first_moof = kinds.index(b"moof")
            moov = boxes[kinds.index(b"moov")]
            if kinds.index(b"moov") > first_moof:
                raise FailedPrecondition(f"{name}: the moov box follows the fragments")
            timescale = _timescale(f, moov[1:], name)
            media_end = boxes[first_moof][1]
            tfdt: list[tuple[int, int]] = []
            for kind, offset, header, box_size in boxes[first_moof:]:
                if kind == b"moof":
                    tfdt.append(_tfdt(f, offset + header, offset + box_size, name))
                elif kind != b"mdat":
                    break  # mfra (or anything else) ends the media run
                media_end = offset + box_size
            return Fmp4Layout(
                size=size,
                init_end=boxes[first_moof][1],
                media_start=boxes[first_moof][1],
                media_end=media_end,
                timescale=timescale,
                tfdt=tuple(tfdt),
            )
    except OSError as exc:
        raise DataLoss(f"{name}: {exc.strerror or exc}") from None


def _tfdt(f: BinaryIO, start: int, end: int, name: str) -> tuple[int, int]:
    """(offset of the 64-bit value, value) of the single track fragment of a moof."""
    trafs = [c for c in _children(f, start, end, name) if c[0] == b"traf"]
    if len(trafs) != 1:
        raise FailedPrecondition(f"{name}: a fragment at byte {start} has {len(trafs)} tracks")
    _, t_off, t_head, t_size = trafs[0]
    for kind, offset, header, _ in _children(f, t_off + t_head, t_off + t_size, name):
        if kind == b"tfdt":
            f.seek(offset + header)
            full = f.read(12)
            if full[:1] != b"\x01":
                raise FailedPrecondition(f"{name}: 32-bit tfdt at byte {offset}")
            return offset + header + 4, _LARGE.unpack(full[4:12])[0]
    raise FailedPrecondition(f"{name}: a fragment at byte {start} has no tfdt")


class _Seekable(io.RawIOBase):
    """A readable, seekable run of ``length`` bytes (the position: ``_pos``)."""

    length: int
    _pos: int = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.length}
        self._pos = max(0, base[whence] + offset)
        return self._pos


class ShiftedMedia(_Seekable):
    """The media run of ``layout`` (positions 0..media_length) read from ``path`` with
    every fragment's decode time plus ``shift`` ticks. Seekable, so a byte range of the
    served media is read directly."""

    def __init__(self, source: Path | BinaryIO, layout: Fmp4Layout, shift: int) -> None:
        """``source``: the file's path, or the file opened (it is closed with this)."""
        super().__init__()
        if layout.first_decode_time + shift < 0:
            name = source.name if isinstance(source, Path) else "the segment"
            raise FailedPrecondition(f"{name}: decode times shifted below zero")
        self._file = source.open("rb") if isinstance(source, Path) else source
        self._layout = layout
        self.length = layout.media_length
        self._patches = [
            (offset - layout.media_start, _LARGE.pack(value + shift))
            for offset, value in layout.tfdt
        ]

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        want = min(len(buffer), self._layout.media_length - self._pos)
        if want <= 0:
            return 0
        self._file.seek(self._layout.media_start + self._pos)
        data = bytearray(self._file.read(want))
        if len(data) < want:
            raise DataLoss(f"{self._file.name}: shorter than when it was read")
        start, stop = self._pos, self._pos + want
        for at, value in self._patches:
            if at + len(value) <= start or at >= stop:
                continue
            lo, hi = max(at, start), min(at + len(value), stop)
            data[lo - start : hi - start] = value[lo - at : hi - at]
        buffer[:want] = data
        self._pos = stop
        return want

    def close(self) -> None:
        self._file.close()
        super().close()


class JoinedMedia(_Seekable):
    """Media runs served one after another as one (positions 0..length): a chain of
    segments continued without a keyframe served as one HLS media segment, each part
    shifted to its own place on the timeline. Seekable; closes its parts."""

    def __init__(self, parts: Sequence[ShiftedMedia]) -> None:
        super().__init__()
        self._parts = list(parts)
        self._starts: list[int] = []
        total = 0
        for part in self._parts:
            self._starts.append(total)
            total += part.length
        self.length = total

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        done = 0
        while done < len(view) and self._pos < self.length:
            n = bisect.bisect_right(self._starts, self._pos) - 1
            part = self._parts[n]
            part.seek(self._pos - self._starts[n])
            got = part.readinto(view[done : done + self._starts[n] + part.length - self._pos])
            if got <= 0:
                break
            done += got
            self._pos += got
        return done

    def close(self) -> None:
        for part in self._parts:
            part.close()
        super().close()


def read_init(path: Path, layout: Fmp4Layout) -> bytes:
    """The initialisation section (ftyp + moov) of ``path``: small, read whole."""
    with path.open("rb") as f:
        data = f.read(layout.init_end)
    if len(data) < layout.init_end:
        raise DataLoss(f"{path.name}: shorter than when it was read")
    return data
