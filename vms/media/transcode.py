"""A stored video decoded frame by frame and encoded anew (redaction, issue 16 item 3;
docs/design/redaction.md, "The job").

- :func:`video_info`: size, frame rate, frame count and audio of a stored video;
- :func:`sample_frames`: every ``every``-th frame as a BGR array at a chosen size (the
  detectors' input), scaled by swscale straight from the decoded picture;
- :func:`rewrite_video`: every frame decoded (yuv420p, writable), handed to a painter,
  encoded with libx264 (yuv420p, High profile, no frame dropped or added: the painter's
  frame indices are the analysis's), audio decoded with the ranges given set to silence
  and encoded as AAC, into an MP4 with ``movflags=faststart`` (browsers play it while it
  loads).

**Upright** (a phone held upright stores its frames sideways with a display matrix that
players honour): all three work on the picture *as shown*. :func:`video_info` gives the
shown width and height, the samples are turned before detection and the frames before
painting, so a box drawn on the review page over the shown picture (the browser turns
it too) and a box a detector found both land on the pixels they name; the rewritten copy
is stored upright, with no matrix (docs/design/redaction.md, "Turned videos").

Both decode in a thread of their own, a few frames ahead of the caller
(:func:`read_ahead`): FFmpeg's decoder and swscale release the GIL, and so do the
detectors (OpenCV) and the encoder (libx264) the caller runs, so on two cores decoding
overlaps detection or encoding instead of adding to it.

Errors leave as kinds of :mod:`vms.errors`: a file that does not open or decode is
:class:`~vms.errors.DataLoss` naming it; a file without video is
:class:`~vms.errors.InvalidArgument`. A failed rewrite removes its output. All calls block.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np

from vms.errors import DataLoss, InvalidArgument, VMSError
from vms.media.errors import reason, translate

# Quality of a released copy: visually lossless on the parts not redacted (a redaction
# release is looked at closely), at a preset fast enough for the 1x real-time target.
_X264 = {"preset": "veryfast", "crf": "18", "profile": "high", "threads": "2"}
_AUDIO_RATE = 48000
# Decoded frames a reader thread keeps ready (720p yuv420p: 1.4 MB each).
_AHEAD = 8

T = TypeVar("T")


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


def read_ahead(items: Generator[T, None, None], depth: int = _AHEAD) -> Iterator[T]:
    """``items``, produced in a thread of their own at most ``depth`` ahead of the
    consumer. An exception in the thread is raised to the consumer at that point; a
    consumer that stops early (or fails) stops the thread and closes ``items``."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            items.close()

    thread = threading.Thread(target=run, name="decode-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int  # from the container's index; 0 when it has none
    duration: float  # seconds
    has_audio: bool
    # The display matrix's turn (counter-clockwise degrees, FFmpeg's sense): width and
    # height above are the picture's as shown, after it.
    rotation: int = 0
    # The first frame's time on a player's clock (its presentation time; a negative one
    # is shifted to 0 by players, as by Chromium): a file written with a camera's running
    # timestamps starts at 1000 s, and a player shows its frame n at start + n / fps.
    start: float = 0.0


def _turns(frame: Any, label: str) -> int:
    """Quarter turns (counter-clockwise, for ``np.rot90``) that show ``frame`` as a
    player does. A turn that is not a multiple of 90 degrees is refused: the picture
    cannot be turned pixel for pixel, and a box drawn on the shown picture would not
    land on the pixels it covers."""
    degrees = round(float(frame.rotation or 0))
    if degrees % 90:
        raise InvalidArgument(
            f"{label}: the video's display matrix turns it by {degrees} degrees; "
            "only multiples of 90 can be redacted"
        )
    return degrees // 90 % 4


def video_info(path: Path, label: str) -> VideoInfo:
    """What ``path`` holds (``label`` names it in errors); its first frame is decoded to
    prove it decodes."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video = next(iter(container.streams.video), None)
            if video is None:
                raise InvalidArgument(f"{label}: the file has no video stream")
            try:
                first = next(container.decode(video), None)
            except (av.error.FFmpegError, ValueError) as exc:
                raise DataLoss(f"{label}: the video does not decode: {reason(exc)}") from None
            if first is None:
                raise DataLoss(f"{label}: the video holds no frames")
            rate = video.average_rate or video.guessed_rate or Fraction(15)
            duration = 0.0
            if video.duration is not None and video.time_base is not None:
                duration = float(video.duration * video.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            width, height = int(first.width), int(first.height)
            turns = _turns(first, label)
            if turns % 2:
                width, height = height, width
            return VideoInfo(
                width=width,
                height=height,
                fps=float(rate),
                frames=int(video.frames or 0),
                duration=duration,
                has_audio=bool(container.streams.audio),
                rotation=turns * 90,
                start=max(0.0, float(first.time or 0.0)),
            )
    except VMSError:
        raise
    except Exception as exc:
        raise DataLoss(f"{label}: the video cannot be read: {reason(exc)}") from None


def sample_frames(
    path: Path,
    label: str,
    every: int,
    size: tuple[int, int],
    times: list[float] | None = None,
    max_interval: float | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, BGR array of size (width, height))`` for every ``every``-th frame of
    ``path``'s video as shown (turned by its display matrix; ``size`` is the shown
    picture's), in order (indices count every decoded frame from 0). With
    ``max_interval`` (seconds) a frame is also sampled when skipping it would leave more
    than that between two samples (the next frame shown later than that after the last
    sample): a stride of frames bounded in time, so a low or falling frame rate does not
    stretch it (REL-3: at 5 fps a stride of 3 was 0.6 s, and a fast face moved past its
    interpolated box). Decoded and scaled
    in a thread of their own (:func:`read_ahead`). ``times``, when given, gets every
    decoded frame's presentation time in seconds from the first frame's, the time
    :func:`rewrite_video`'s painter is told and a player shows it at (with a variable
    frame rate, not ``index / fps``)."""
    try:
        yield from read_ahead(_samples(path, label, every, size, times, max_interval))
    except VMSError:
        raise
    except Exception as exc:
        raise DataLoss(f"{label}: the video does not decode: {reason(exc)}") from None


def _samples(
    path: Path,
    label: str,
    every: int,
    size: tuple[int, int],
    times: list[float] | None,
    max_interval: float | None = None,
) -> Generator[tuple[int, np.ndarray], None, None]:
    turns: int | None = None
    origin: int | None = None
    last: tuple[int, float] | None = None  # the last sample's index and time
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or Fraction(15)
        tick = stream.time_base or Fraction(1, 90000)
        for index, frame in enumerate(container.decode(stream)):
            if turns is None:
                turns = _turns(frame, label)
            if origin is None:
                origin = frame.pts if frame.pts is not None else 0
            at = _shown_at(frame, origin, index, stream)
            if times is not None:
                times.append(at)
            due = last is None or index - last[0] >= every
            if not due and max_interval is not None and last is not None:
                lasts = float(frame.duration * tick) if frame.duration else 1 / float(rate)
                # Skipped, this frame would leave the next sample at least this late.
                due = at + lasts - last[1] > max_interval + 1e-6
            if due:
                last = (index, at)
                # Scaled in the stored orientation, then turned as shown.
                width, height = (size[1], size[0]) if turns % 2 else size
                small = frame.reformat(width=width, height=height, format="bgr24")
                yield index, np.ascontiguousarray(np.rot90(small.to_ndarray(), turns))


# paint(index, start, end, frame): the frame's index among the decoded frames, the
# seconds from the first frame at which it is shown and at which the next one is, and
# the writable yuv420p frame.
Painter = Callable[[int, float, float, Any], None]


def rewrite_video(
    source: Path,
    target: Path,
    label: str,
    paint: Painter,
    *,
    mute: Sequence[tuple[float, float]] = (),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Decode ``source``, call ``paint(index, start, end, frame)`` on every video frame
    (:data:`Painter`; a writable yuv420p PyAV frame:
    :func:`privacy_masks.paint.frame_planes` reads its planes),
    encode it to ``target`` (H.264 yuv420p + AAC when the source has audio, the ``mute``
    ranges in seconds from the copy's start silenced, faststart; the copy starts with the
    earlier of picture and sound, so sound from before the first frame is kept).
    Frames are painted and written as shown: turned by the source's display matrix
    (:func:`video_info`), the copy upright with none; an odd width or height gets a
    black line to make it even (4:2:0 H.264), the picture's pixels keeping their
    coordinates; non-square pixels keep their sample aspect ratio. Returns the frames
    written; ``progress(frames so far)`` is called as it goes."""
    try:
        turns = video_info(source, label).rotation // 90
        return _rewrite(source, target, paint, mute, progress, turns)
    except Exception as exc:
        target.unlink(missing_ok=True)
        if isinstance(exc, VMSError):
            raise
        raise DataLoss(f"{label}: {translate(exc, 'rendering').message}") from None


def _rewrite(
    source: Path,
    target: Path,
    paint: Painter,
    mute: Sequence[tuple[float, float]],
    progress: Callable[[int], None] | None,
    turns: int,
) -> int:
    with av.open(str(source), metadata_errors="ignore") as src:
        video = src.streams.video[0]
        video.thread_type = "AUTO"
        audio = next(iter(src.streams.audio), None)
        rate = video.average_rate or video.guessed_rate or Fraction(15)
        out = av.open(str(target), "w", format="mp4", options={"movflags": "faststart"})
        try:
            v_out: Any = out.add_stream("libx264", rate=rate, options=dict(_X264))
            v_out.width = video.codec_context.width
            v_out.height = video.codec_context.height
            if turns % 2:
                v_out.width, v_out.height = v_out.height, v_out.width
            v_out.width, v_out.height = _even(v_out.width), _even(v_out.height)
            sar = video.sample_aspect_ratio or video.codec_context.sample_aspect_ratio
            if sar and sar != 1:
                # Non-square pixels keep their shape (turned with the picture): without
                # it, a 4:3-pixel camera's release shows everyone squeezed.
                v_out.codec_context.sample_aspect_ratio = 1 / sar if turns % 2 else sar
            v_out.pix_fmt = "yuv420p"
            v_out.time_base = video.time_base
            # The source's clock, not 1 / the average rate: a variable frame rate (15
            # fps, then 5 in the dark) has frames closer than the average's ticks, and
            # they collapsed on one tick (the muxer refused the file).
            v_out.codec_context.time_base = video.time_base
            a_out: Any = None
            resampler: Any = None
            if audio is not None:
                a_out = out.add_stream("aac", rate=_AUDIO_RATE)
                a_out.layout = "stereo"
                resampler = av.AudioResampler(format="fltp", layout="stereo", rate=_AUDIO_RATE)
            origin: int | None = None
            start = float((video.start_time or 0) * video.time_base if video.time_base else 0)
            # The copy starts with the earlier of picture and sound: a microphone that
            # started before the picture keeps that sound (before, it was cut off), the
            # picture starting ``lead`` ticks in; audio ranges count from there too.
            if audio is not None:
                heard = _first_sound(source, audio.index, video.index)
                if heard is not None and heard < start:
                    start = heard
            tick = video.time_base or Fraction(1, 90000)
            first_shown = (video.start_time or 0) * tick
            lead = max(0, round((first_shown - Fraction(start)) / tick))
            count = 0
            streams = [video] if audio is None else [video, audio]
            for is_video, frame in read_ahead(_decoded(src, streams, video, turns)):
                if is_video:
                    if origin is None:
                        origin = frame.pts if frame.pts is not None else 0
                    pts = (frame.pts if frame.pts is not None else origin + count) - origin
                    shown = _shown_at(frame, origin, count, video)
                    lasts = float(frame.duration * tick) if frame.duration else 1 / float(rate)
                    paint(count, shown, shown + lasts, frame)
                    frame.pts, frame.time_base = pts + lead, video.time_base
                    frame.pict_type = av.video.frame.PictureType.NONE
                    out.mux(v_out.encode(frame))
                    count += 1
                    if progress is not None:
                        progress(count)
                else:
                    for chunk in resampler.resample(frame):
                        _silence(chunk, mute, start)
                        # On the copy's timeline, whose 0 is the earlier of picture and
                        # sound: a microphone that started 1 s late still starts 1 s in
                        # (it was stamped from 0 and spoke a second before the lips
                        # moved), one that started 1 s early starts 1 s before them.
                        _retime(chunk, start)
                        out.mux(a_out.encode(chunk))
            if resampler is not None:
                for chunk in resampler.resample(None):
                    chunk.pts = None
                    out.mux(a_out.encode(chunk))
                out.mux(a_out.encode(None))
            out.mux(v_out.encode(None))
        finally:
            with contextlib.suppress(Exception):
                out.close()
    if count == 0:
        raise DataLoss(f"{source.name}: the video holds no frames")
    return count


def _first_sound(source: Path, index: int, video_index: int) -> float | None:
    """When the first decoded sound of stream ``index`` of ``source`` plays (seconds,
    the encoder's priming already trimmed by the decoder); None when none plays before
    the picture's first 10 s (sound that starts later starts after the picture: the
    file is not read to its end for it) or it does not decode (the render then keeps
    the picture's start as the copy's)."""
    try:
        with av.open(str(source), metadata_errors="ignore") as container:
            audio: Any = container.streams[index]
            video: Any = container.streams[video_index]
            limit: float | None = None
            for packet in container.demux(audio, video):
                if packet.stream is video:
                    if packet.pts is None or packet.time_base is None:
                        continue
                    at = float(packet.pts * packet.time_base)
                    limit = at + 10.0 if limit is None else limit
                    if at > limit:
                        return None
                    continue
                frame: Any
                for frame in packet.decode():
                    if frame.time is not None:
                        return float(frame.time)
    except (av.error.FFmpegError, ValueError, IndexError):
        return None
    return None


def _shown_at(frame: Any, origin: int, index: int, stream: Any) -> float:
    """Seconds from the first frame (whose timestamp is ``origin``) at which the
    ``index``-th decoded ``frame`` of ``stream`` is shown (one without a timestamp:
    ``index`` ticks after the first). The one clock of the analysis's rows and the
    render's painter (:data:`Painter`)."""
    pts = (frame.pts if frame.pts is not None else origin + index) - origin
    return float(pts * (stream.time_base or Fraction(1, 90000)))


def _decoded(
    src: Any, streams: list[Any], video: Any, turns: int
) -> Generator[tuple[bool, Any], None, None]:
    """``(is video, frame)`` in demux order: video frames writable yuv420p turned
    ``turns`` quarter turns (as shown), audio frames as decoded (the reader thread of
    :func:`_rewrite`)."""
    for packet in src.demux(*streams):
        for frame in packet.decode():
            if packet.stream is video:
                yield True, _writable(frame, turns)
            else:
                yield False, frame


def _writable(frame: Any, turns: int = 0) -> Any:
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    if turns or frame.width % 2 or frame.height % 2:
        return _shown(frame, turns)
    frame.make_writable()
    return frame


def _even(n: int) -> int:
    return n + n % 2


def _shown(frame: Any, turns: int) -> Any:
    """A new yuv420p frame: ``frame``'s picture turned ``turns`` quarter turns
    counter-clockwise (each plane turned; the chroma planes' half size turns with
    them), at its top left, with a black line on the right or at the bottom when a
    side is odd (libx264 encodes 4:2:0 only in even sizes: a 641x361 video could not be
    redacted at all; the chroma planes already cover the even size). Keeps the
    timestamp."""
    width, height = int(frame.width), int(frame.height)
    out_w, out_h = (height, width) if turns % 2 else (width, height)
    out = av.VideoFrame(_even(out_w), _even(out_h), frame.format.name)
    for source, target, black in zip(frame.planes[:3], out.planes[:3], (16, 128, 128), strict=True):
        picture = np.rot90(_plane(source, int(source.width), int(source.height)), turns)
        canvas = _plane(target, int(target.width), int(target.height))
        canvas[:] = black
        canvas[: picture.shape[0], : picture.shape[1]] = picture
    out.pts, out.time_base, out.duration = frame.pts, frame.time_base, frame.duration
    return out


def _plane(plane: Any, width: int, height: int) -> np.ndarray:
    """The ``width`` x ``height`` picture in ``plane`` (lines padded to ``line_size``)."""
    line = int(plane.line_size)
    return np.frombuffer(plane, dtype=np.uint8)[: line * height].reshape(height, line)[:, :width]


def _retime(frame: Any, origin: float) -> None:
    """Stamp ``frame`` (resampled to :data:`_AUDIO_RATE`) at its time from ``origin``
    (the video's start) in samples, or leave it to the encoder when it has no time."""
    if frame.pts is None or frame.time_base is None:
        frame.pts = None
        return
    at = float(frame.pts * frame.time_base) - origin
    frame.pts, frame.time_base = round(at * _AUDIO_RATE), Fraction(1, _AUDIO_RATE)


def _silence(frame: Any, ranges: Sequence[tuple[float, float]], origin: float) -> None:
    """Zero the samples of ``frame`` (planar float) that fall in ``ranges`` (seconds from
    the video's start)."""
    if not ranges or frame.pts is None or frame.time_base is None:
        return
    begin = float(frame.pts * frame.time_base) - origin
    rate = frame.sample_rate
    n = frame.samples
    for lo, hi in ranges:
        a = max(0, round((lo - begin) * rate))
        b = min(n, round((hi - begin) * rate))
        if b <= a:
            continue
        for plane in frame.planes:
            samples = np.frombuffer(plane, dtype=np.float32)
            samples[a:b] = 0.0
