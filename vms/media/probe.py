"""What a stored file is (the ingest path's probe, INV-1), part of the media adapter
:mod:`vms.media`, the one importer of PyAV (``av``).

Audio/video files are opened, their first frame decoded and every packet demuxed, so a
truncated or corrupt file is refused rather than catalogued (a file whose index is
intact but whose data is cut short opens fine; only reading it to the end shows it).
Documents (PDF forms, JPEG and PNG photos) are recognised by their signatures and checked
for a complete ending. Errors come out as :class:`~vms.errors.InvalidArgument` saying
what was wrong (the file was handed to us: it is the argument that is bad), with FFmpeg's
words from :func:`vms.media.errors.reason`.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.error

from vms.db.models import MediaType
from vms.errors import InvalidArgument
from vms.media.errors import reason

log = logging.getLogger(__name__)

# A container may claim a little more than its packets cover (edit lists, last frame).
DURATION_SLACK_SECONDS = 0.5
DURATION_SLACK_FRACTION = 0.02

# The most pixels a video frame may have ([ingest] probe_max_frame_pixels). Decoding the
# first frame allocates it whole, up to 8 bytes a pixel, and a header may claim what
# FFmpeg allows (16384 x 16384): a 1 MiB MJPEG file claiming 16200 x 16200 at 12 bits
# took 1.6 GiB and was catalogued. 8K UHD and a 360-degree camera's 8192 x 4096 fit.
MAX_FRAME_PIXELS = 8192 * 4320
# How many pixels' worth of video packets may be decoded before the first frame comes
# out: 3,000 frames at 1080p (750 at 4K, a partial GOP of 25 s at 30 fps). Each packet
# is decoded until a frame comes, and a frame that never comes costs a decode each: a
# 97 KiB file of 3,000 26-byte 4K P-frames without a keyframe took 12.6 s of CPU
# (4 ms a packet; minutes for a few MiB).
FIRST_FRAME_PIXEL_BUDGET = 3000 * 1920 * 1080


@dataclass(frozen=True)
class ProbeResult:
    media_type: MediaType
    content_type: str
    duration_seconds: float | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    recorded_start: dt.datetime | None = None


ZIP = "application/zip"

_DOCUMENTS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    # Export packages only (the ingest path refuses a ZIP of any other source).
    (b"PK\x03\x04", ZIP),
)

_CONTAINER_TYPES = {
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/x-matroska",
    "mpegts": "video/mp2t",
    "avi": "video/x-msvideo",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "nut": "video/x-nut",
    "asf": "video/x-ms-asf",
    "flv": "video/x-flv",
    "mpeg": "video/mpeg",
    "aac": "audio/aac",
}

# The same containers holding sound only (an interview .m4a, a radio log in Matroska):
# the media type of what is in them, not of the family's usual contents, so that a
# download says what it is (RFC 4337, audio/mp4) and a player takes it.
_AUDIO_ONLY_TYPES = {
    "video/mp4": "audio/mp4",
    "video/x-matroska": "audio/x-matroska",
    "video/x-ms-asf": "audio/x-ms-wma",
    "video/webm": "audio/webm",
}
# And the other way: Ogg is known for sound, but may carry video (VP8, Theora): RFC 5334.
_WITH_VIDEO_TYPES = {"audio/ogg": "video/ogg"}

# FFmpeg names one format for Matroska and WebM; the file's EBML header says which
# (DocType "webm", written with a one-byte size), read from the file's first bytes.
_WEBM_DOCTYPE = b"\x42\x82\x84webm"
_HEAD_BYTES = 64


def probe(
    path: Path,
    *,
    filename: str | None = None,
    max_frame_pixels: int = MAX_FRAME_PIXELS,
    before_keyframe: bool = False,
) -> ProbeResult:
    """Identify and validate the file at ``path``; ``filename`` only improves messages.
    A video frame of more than ``max_frame_pixels`` is refused before it is decoded.
    ``before_keyframe``: frames before the first keyframe count as decoded (FFmpeg's
    ``showall``, missing references grey): a recorder segment that continues another
    without a keyframe (``IngestRequest.continues_without_keyframe``)."""
    label = filename or path.name
    size = path.stat().st_size
    if size == 0:
        raise InvalidArgument(f"{label}: the file is empty")
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
        f.seek(max(0, size - 2048))
        tail = f.read()
        if head[4:8] in _MP4_TOP_BOXES:
            _check_mp4_sample_tables(f, label, size)
    for magic, content_type in _DOCUMENTS:
        if head.startswith(magic):
            _check_document_end(label, content_type, tail)
            return ProbeResult(MediaType.DOCUMENT, content_type)
    return _probe_av(path, label, head, max_frame_pixels, before_keyframe)


# An MP4/MOV file's first box, and the boxes that lead to a track's sample table.
_MP4_TOP_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
_MP4_PARENT_BOXES = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl"})
_MP4_MAX_BOXES = 100_000


def _check_mp4_sample_tables(f: BinaryIO, label: str, size: int) -> None:
    """Refuse an MP4/MOV whose sample size box (``stsz``) says every sample has the same
    size and claims more sample bytes than the file holds. FFmpeg's demuxer allocates
    its index from that count alone, 24 bytes a sample, on opening: a 105 KiB file
    claiming 40 million samples of one byte took 1.7 GiB (up to 4 GiB by the count's
    limit). A table of sizes is read from the file, so it is as big as the file allows.
    Boxes this walk does not understand are left to FFmpeg."""
    ranges = [(0, size)]
    boxes = 0
    while ranges:
        pos, end = ranges.pop()
        while pos + 8 <= end and boxes < _MP4_MAX_BOXES:
            boxes += 1
            f.seek(pos)
            header = f.read(16)
            box_size, kind = struct.unpack(">I4s", header[:8])
            header_size = 8
            if box_size == 1 and len(header) == 16:
                box_size, header_size = struct.unpack(">Q", header[8:])[0], 16
            elif box_size == 0:
                box_size = end - pos
            if box_size < header_size or pos + box_size > end:
                break
            if kind in _MP4_PARENT_BOXES:
                ranges.append((pos + header_size, pos + box_size))
            elif kind == b"stsz" and box_size >= header_size + 12:
                f.seek(pos + header_size + 4)  # after version and flags
                sample_size, count = struct.unpack(">II", f.read(8))
                if sample_size * count > size:
                    raise InvalidArgument(
                        f"{label}: the MP4 index claims {count} samples of {sample_size} "
                        f"bytes, more than the file's {size} bytes (corrupt or hostile)"
                    )
            pos += box_size


def _check_document_end(label: str, content_type: str, tail: bytes) -> None:
    complete = {
        "application/pdf": b"%%EOF" in tail,
        "image/jpeg": tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"),
        "image/png": b"IEND\xaeB`\x82" in tail[-16:],
        # The end of central directory record (22 bytes, plus a comment of up to 64 KiB:
        # ours have none).
        ZIP: b"PK\x05\x06" in tail,
    }[content_type]
    if not complete:
        raise InvalidArgument(f"{label}: the {content_type} document is truncated (no end marker)")


# Opening a file (``avformat_find_stream_info``) decodes frames to learn what the
# container already says (pixel format, decoder delay): for an H.264 MP4 segment most of
# the probe's time (5 of 9 ms). The probe decodes its first frame itself, so the opening
# decodes none. Only for streams a container lists before it is read (MP4, Matroska):
# an MPEG-TS file is still read to find its streams.
_OPEN_OPTIONS = {"skip_frame": "all"}


def _probe_av(
    path: Path, label: str, head: bytes, max_frame_pixels: int, before_keyframe: bool = False
) -> ProbeResult:
    try:
        container = av.open(str(path), metadata_errors="ignore", options=_OPEN_OPTIONS)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            f"{label}: not a decodable audio/video file nor an accepted document "
            f"(PDF, JPEG, PNG): {reason(exc)}"
        ) from None
    try:
        return _inspect(container, label, head, max_frame_pixels, before_keyframe)
    finally:
        container.close()


def _inspect(
    container: av.container.InputContainer,
    label: str,
    head: bytes,
    max_frame_pixels: int,
    before_keyframe: bool = False,
) -> ProbeResult:
    fmt = container.format.name
    video = _recorded_video(container)
    audio = next(iter(container.streams.audio), None)
    if fmt not in _CONTAINER_TYPES:
        # FFmpeg opens almost anything (text as "tty", images as "image2"): only
        # recording containers are media; documents were recognised before.
        raise InvalidArgument(
            f"{label}: format {fmt!r} is not an accepted audio/video container "
            f"({', '.join(sorted(_CONTAINER_TYPES.values()))}) nor a PDF, JPEG or PNG document"
        )
    if video is None and audio is None:
        raise InvalidArgument(
            f"{label}: the {fmt} file has no audio or video stream (truncated or corrupt?)"
        )
    main = video if video is not None else audio
    assert main is not None

    # One pass over the packets. Demuxed to the end: a file cut short shows here (packets
    # past EOF, read errors). The first frame is decoded on the way (proves the codec is
    # one we can play). One frame needs no decoder threads (FFmpeg would start one per
    # core, for every file ingested). No seek back to the start: seeking to 0 skips a
    # packet stamped before it (AAC's priming packet, under an edit list), and a valid
    # audio file was counted one packet short, refused as truncated.
    decoder = main.codec_context
    decoder.thread_count = 1
    if video is not None:
        _check_frame_size(
            label, video.codec_context.width, video.codec_context.height, max_frame_pixels
        )
        # The frames' own headers may claim another size than the container: FFmpeg
        # refuses a frame over max_pixels before allocating it.
        decoder.options = {**decoder.options, "max_pixels": str(max_frame_pixels)}
        if before_keyframe:
            decoder.options = {**decoder.options, "flags2": "+showall"}
    decoded = False
    first: Any = None
    # What each packet decoded before the first frame costs (a size unknown until the
    # frames say it: the most accepted); audio is cheap.
    cost = 0
    if video is not None:
        cost = video.codec_context.width * video.codec_context.height or max_frame_pixels
    spent = 0
    # Packets of one stream share its time base: keep the latest end in ticks and convert
    # once (Fraction arithmetic per packet cost a third of this pass on a 1 GiB file).
    # None until a packet has a time: FFmpeg unwraps an MPEG-TS file's 33-bit timestamps
    # (they wrap every 26.5 h) to below 0 when it starts within 60 s of the wrap, and one
    # that ends before it has no time above 0 (its 6 s were measured as 30 from -30 s).
    last_end_ticks: int | None = None
    packets = 0
    # The other sound and picture streams are demuxed too (their bytes are read anyway):
    # their ends, so that a file whose picture stops before its sound (or one of two
    # pictures before the other) is measured whole.
    attached = av.stream.Disposition.attached_pic
    others = [
        s
        for s in (*container.streams.video, *container.streams.audio)
        if s is not main and not s.disposition & attached
    ]
    other_ends: dict[int, int] = {}
    try:
        for packet in container.demux(main, *others):
            if packet.size == 0:
                continue
            if packet.stream is not main:
                if packet.pts is not None:
                    index = packet.stream.index
                    end = packet.pts + (packet.duration or 0)
                    other_ends[index] = max(other_ends.get(index, end), end)
                continue
            packets += 1
            pts = packet.pts
            if pts is not None:
                end = pts + (packet.duration or 0)
                if last_end_ticks is None or end > last_end_ticks:
                    last_end_ticks = end
            if not decoded:
                frames = _decodes(decoder, packet, label, main.type, max_frame_pixels)
                decoded, first = bool(frames), (frames[0] if frames else None)
                spent += cost
                if not decoded and spent > FIRST_FRAME_PIXEL_BUDGET:
                    raise InvalidArgument(
                        f"{label}: no video frame decodes from its first {packets} packets "
                        f"({FIRST_FRAME_PIXEL_BUDGET} pixels' worth: no keyframe?)"
                    )
    except av.error.FFmpegError as exc:
        raise InvalidArgument(f"{label}: the file is truncated or corrupt: {reason(exc)}") from None
    if not decoded:
        drained = _decodes(decoder, None, label, main.type, max_frame_pixels) if packets else []
        if not drained:
            raise InvalidArgument(f"{label}: the {main.type} stream holds no frames")
        first = drained[0]
    last_end = 0.0
    if last_end_ticks is not None and main.time_base is not None:
        last_end = float(last_end_ticks * main.time_base)

    if main.frames and packets < main.frames:
        # MP4/MOV index every sample: fewer readable than indexed means the data was cut.
        raise InvalidArgument(
            f"{label}: the file is truncated: its index lists {main.frames} {main.type} "
            f"packets but only {packets} are present"
        )
    start = float(main.start_time * main.time_base) if main.start_time and main.time_base else 0.0
    covered = max(0.0, last_end - start)
    # The other streams' data, from the earliest start to the latest end.
    spans = [(start, last_end)] + [
        (_seconds(s.start_time, s.time_base), _seconds(other_ends[s.index], s.time_base))
        for s in others
        if s.index in other_ends
    ]
    whole = max(0.0, max(e for _, e in spans) - min(b for b, _ in spans))
    duration = _duration(container, main)
    # Checked against all the streams' data: the duration a header gives the main stream
    # may be the container's, the longest stream's (FFmpeg fills it in for Matroska), and
    # a picture stopping before the sound is not a file cut short. A file cut short ends
    # all its interleaved streams early (and an MP4's index shows it, above).
    if duration is not None and duration > 0:
        missing = duration - whole
        if missing > DURATION_SLACK_SECONDS + DURATION_SLACK_FRACTION * duration:
            raise InvalidArgument(
                f"{label}: the file is truncated: its header says {duration:.2f} s but its "
                f"{main.type} data ends at {covered:.2f} s"
                + (f" (all its streams' at {whole:.2f} s)" if whole > covered else "")
            )
        # The recording lasts as long as its longest stream (sound running on after the
        # picture stopped is part of it).
        duration = max(duration, whole)
    elif whole > 0:
        duration = whole

    content_type = _content_type(fmt, head, video is not None)
    width = height = None
    if video is not None:
        width, height = video.codec_context.width, video.codec_context.height
        if _quarter_turned(first):
            # As shown: a phone held upright stores 1920x1080 frames and a display
            # matrix that every player turns them by (1080x1920 on the media page).
            width, height = height, width
    return ProbeResult(
        media_type=MediaType.VIDEO if video is not None else MediaType.AUDIO,
        content_type=content_type,
        duration_seconds=round(duration, 3) if duration else None,
        codec=main.codec_context.name,
        width=width,
        height=height,
        recorded_start=_creation_time(container),
    )


def _recorded_video(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is footage. A cover picture (an MP3's ID3 picture, an
    .m4a's artwork) is listed by FFmpeg as a video stream of one frame marked
    ``attached_pic``: not the recording. A voice memo with artwork was probed as a video
    whose data "ends at 0.00 s" and refused as truncated."""
    attached = av.stream.Disposition.attached_pic
    return next((s for s in container.streams.video if not s.disposition & attached), None)


def _content_type(fmt: str, head: bytes, has_video: bool) -> str:
    """The media type of a file in the container ``fmt`` (FFmpeg's name), whose first
    bytes are ``head``: of what it holds (sound only, or video too), not only of the
    container family."""
    content_type = _CONTAINER_TYPES[fmt]
    if fmt == "matroska,webm" and head.startswith(b"\x1a\x45\xdf\xa3") and _WEBM_DOCTYPE in head:
        content_type = "video/webm"
    if has_video:
        return _WITH_VIDEO_TYPES.get(content_type, content_type)
    return _AUDIO_ONLY_TYPES.get(content_type, content_type)


def _check_frame_size(label: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InvalidArgument(
            f"{label}: the video's frames are {width}x{height} ({width * height} pixels), "
            f"more than the {max_pixels} accepted"
        )


def _quarter_turned(frame: Any) -> bool:
    """Whether a decoded video ``frame``'s display matrix turns it by 90 or 270 degrees."""
    degrees = round(float(getattr(frame, "rotation", 0) or 0)) if frame is not None else 0
    return degrees % 180 == 90


def _decodes(
    decoder: Any, packet: av.Packet | None, label: str, kind: str, max_pixels: int
) -> list[Any]:
    """The frames ``packet`` (None: the end, drain the decoder) gave; a packet the
    decoder refuses is the file's fault, said so."""
    try:
        return list(decoder.decode(packet))
    except (av.error.FFmpegError, ValueError) as exc:
        message = f"{label}: the {kind} stream does not decode: {reason(exc)}"
        if kind == "video" and isinstance(exc, ValueError):
            # FFmpeg's EINVAL, also its refusal of a frame over max_pixels.
            message += f" (are its frames over the {max_pixels} pixels accepted?)"
        raise InvalidArgument(message) from None


def _seconds(ticks: int | None, time_base: Any) -> float:
    return float(ticks * time_base) if ticks and time_base is not None else 0.0


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _creation_time(container: av.container.InputContainer) -> dt.datetime | None:
    """The recording time from the container's ``creation_time`` tag, when plausible."""
    text = container.metadata.get("creation_time")
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        log.info("ignoring unparsable creation_time %r", text)
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if value.year < 2000:  # cameras with an unset clock write 1970 or 1904
        return None
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC (INV-7)
        log.info("ignoring creation_time %r: not representable in UTC", text)
        return None
