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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error

from vms.db.models import MediaType
from vms.errors import InvalidArgument
from vms.media.errors import reason

log = logging.getLogger(__name__)

# A container may claim a little more than its packets cover (edit lists, last frame).
DURATION_SLACK_SECONDS = 0.5
DURATION_SLACK_FRACTION = 0.02


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


def probe(path: Path, *, filename: str | None = None) -> ProbeResult:
    """Identify and validate the file at ``path``; ``filename`` only improves messages."""
    label = filename or path.name
    size = path.stat().st_size
    if size == 0:
        raise InvalidArgument(f"{label}: the file is empty")
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
        f.seek(max(0, size - 2048))
        tail = f.read()
    for magic, content_type in _DOCUMENTS:
        if head.startswith(magic):
            _check_document_end(label, content_type, tail)
            return ProbeResult(MediaType.DOCUMENT, content_type)
    return _probe_av(path, label, head)


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


def _probe_av(path: Path, label: str, head: bytes) -> ProbeResult:
    try:
        container = av.open(str(path), metadata_errors="ignore", options=_OPEN_OPTIONS)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            f"{label}: not a decodable audio/video file nor an accepted document "
            f"(PDF, JPEG, PNG): {reason(exc)}"
        ) from None
    try:
        return _inspect(container, label, head)
    finally:
        container.close()


def _inspect(container: av.container.InputContainer, label: str, head: bytes) -> ProbeResult:
    fmt = container.format.name
    video = next(iter(container.streams.video), None)
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
    decoded = False
    # Packets of one stream share its time base: keep the latest end in ticks and convert
    # once (Fraction arithmetic per packet cost a third of this pass on a 1 GiB file).
    last_end_ticks = 0
    packets = 0
    try:
        for packet in container.demux(main):
            if packet.size == 0:
                continue
            packets += 1
            pts = packet.pts
            if pts is not None:
                last_end_ticks = max(last_end_ticks, pts + (packet.duration or 0))
            if not decoded:
                decoded = _decodes(decoder, packet, label, main.type)
    except av.error.FFmpegError as exc:
        raise InvalidArgument(f"{label}: the file is truncated or corrupt: {reason(exc)}") from None
    if not decoded and not (packets and _decodes(decoder, None, label, main.type)):
        raise InvalidArgument(f"{label}: the {main.type} stream holds no frames")
    last_end = float(last_end_ticks * main.time_base) if main.time_base is not None else 0.0

    if main.frames and packets < main.frames:
        # MP4/MOV index every sample: fewer readable than indexed means the data was cut.
        raise InvalidArgument(
            f"{label}: the file is truncated: its index lists {main.frames} {main.type} "
            f"packets but only {packets} are present"
        )
    start = float(main.start_time * main.time_base) if main.start_time and main.time_base else 0.0
    duration = _duration(container, main)
    covered = max(0.0, last_end - start)
    if duration is not None and duration > 0:
        missing = duration - covered
        if missing > DURATION_SLACK_SECONDS + DURATION_SLACK_FRACTION * duration:
            raise InvalidArgument(
                f"{label}: the file is truncated: its header says {duration:.2f} s but its "
                f"{main.type} data ends at {covered:.2f} s"
            )
    elif covered > 0:
        duration = covered

    content_type = _content_type(fmt, head, video is not None)
    return ProbeResult(
        media_type=MediaType.VIDEO if video is not None else MediaType.AUDIO,
        content_type=content_type,
        duration_seconds=round(duration, 3) if duration else None,
        codec=main.codec_context.name,
        width=video.codec_context.width if video is not None else None,
        height=video.codec_context.height if video is not None else None,
        recorded_start=_creation_time(container),
    )


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


def _decodes(decoder: Any, packet: av.Packet | None, label: str, kind: str) -> bool:
    """Whether ``packet`` (None: the end, drain the decoder) gave a frame; a packet the
    decoder refuses is the file's fault, said so."""
    try:
        return bool(decoder.decode(packet))
    except (av.error.FFmpegError, ValueError) as exc:
        message = f"{label}: the {kind} stream does not decode: {reason(exc)}"
        raise InvalidArgument(message) from None


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
    return value.astimezone(dt.UTC)
