"""One step of a redaction job run by the jobs role (docs/design/redaction.md, "The
job").

**Analyse** (``analysing`` -> ``review``): the original is read from the store
(:func:`vms.media.transcode.video_info`: an undecodable file fails the job, naming it),
every ``[redaction] detect_every``-th frame decoded at the detection size
(:func:`vms.media.transcode.sample_frames`), the configured detector run on it and the
detections linked by the IoU tracker; the tracks (a box per frame, ``[t, x, y, w, h]``)
are stored on the row.

**Render** (``rendering`` -> ``done``), in the work folder ``<data_dir>/redactions/<id>/``:

1. every frame decoded, the enabled tracks' boxes burned into its yuv420p planes
   (:func:`privacy_masks.detection.render.redact_yuv`), encoded H.264 yuv420p with
   faststart, audio ranges muted (:func:`vms.media.transcode.rewrite_video`);
2. signed with C2PA Content Credentials (``c2pa.redacted`` actions with the original's
   SHA-256, :func:`vms.exports.credentials.sign_redacted`);
3. ingested through the one ingest path (INV-1) as a derived item of source
   ``redacted``, derived from the original;
4. one transaction: the ``media_links`` row (INV-2), the original's restriction carried
   over (ACC-7), the custody event ``redacted`` on the original (who, when, tracks,
   method), the audit entry ``media.redact``, the row ``done``.

The runner holds the job's lease meanwhile (:data:`privacy_masks.redaction.REDACTIONS`):
each progress step, the ingest and the last transaction (``analysing`` -> ``review``,
``rendering`` -> ``done``) check it, so a runner stalled past its lease and taken over
(the recovery failed the job) stops where it is instead of finishing it after all.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import math
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import update
from sqlalchemy.orm import Session

from privacy_masks.detection import build_detector, track_samples, tracker_settings
from privacy_masks.detection.model import Box, Detector, Frame, ObjectClass
from privacy_masks.detection.render import Method, redact_yuv
from privacy_masks.detection.tracking import Track, TrackerSettings
from privacy_masks.paint import frame_planes
from privacy_masks.redaction_values import stamped_after
from vms.audit.log import Who
from vms.continued import continued_ids
from vms.db.models import CustodyEvent, MediaItem, MediaLink, Redaction, SourceKind
from vms.errors import InvalidArgument, NotFound
from vms.exports.credentials import RedactionProvenance, load_or_create_chain, sign_redacted
from vms.exports.reads import item_chain
from vms.faults import crash_point
from vms.ingest import IngestRequest
from vms.leases import rows_changed
from vms.media.clip import Segment, cut_clips, streams_left_out
from vms.media.transcode import VideoInfo, rewrite_video, sample_frames, video_info
from vms.row_leases import Held
from vms.store import require_room

if TYPE_CHECKING:
    from privacy_masks.redaction import RedactionRecord
    from privacy_masks.redaction_runner import RedactionRunner

# The share of the render's progress bar the pixels take (signing, ingest: the rest).
RENDER_SHARE = 0.9


class RedactionJob:
    def __init__(
        self,
        service: RedactionRunner,
        record: RedactionRecord,
        creator: Who,
        folder: Path,
        held: Held,
    ) -> None:
        self.service = service
        self.record = record
        self.creator = creator
        self.folder = folder
        # The job's lease (vms/row_leases.py): a runner it was taken from stops.
        self.held = held
        # The segments before the original its frames were decoded from (see _source).
        self.decoded_from: list[str] = []

    def _finish(self, s: Session, running: str, state: str) -> None:
        """The last transaction's first write: the row from ``running`` to ``state``,
        only under this runner's lease (LeaseLost once a recovery took it over: the job
        is not finished after it was failed). Locks the row until the commit."""
        from privacy_masks.redaction import REDACTIONS

        held = self.held
        fence = REDACTIONS.fence(self.record.id, held.token) & (Redaction.state == running)
        if rows_changed(s, update(Redaction).where(fence).values(state=state)) != 1:
            held.lost.set()
            held.check()

    def _original(self) -> MediaItem:
        with self.service.db.session() as s:
            item = s.get(MediaItem, self.record.media_id)
            if item is None:
                raise NotFound(f"media item {self.record.media_id} is no longer in the catalog")
            s.expunge(item)
            return item

    @contextlib.contextmanager
    def _source(self, item: MediaItem) -> Iterator[Path]:
        """The original's local file for the block (the object store's: a checked copy).

        A recorder segment continued without a keyframe (an endless GOP,
        :mod:`vms.continued`) does not decode alone: its own span is cut from the chain
        back to its keyframe instead (``exact``: the frames from its start decoded from
        that keyframe and re-encoded, :func:`vms.media.clip.cut_clips`), one file of
        exactly its frames (docs/design/redaction.md, "Segments that continue without a
        keyframe"). :attr:`decoded_from` names the chain's segments."""
        store = self.service.store
        store.servable(item.sha256, f"the file of media item {item.id} is missing from the store")
        with self.service.db.session() as s:
            chain = item_chain(s, item)
            continued = continued_ids(s, [c.id for c in chain] + [item.id])
            s.expunge_all()
        self.decoded_from = [c.id for c in chain]
        if not chain:
            with store.local_copy(item.sha256) as path:
                yield path
            return
        with contextlib.ExitStack() as copies:
            segments = []
            for row in [*chain, item]:
                store.servable(row.sha256, f"the file of media item {row.id} is missing")
                path = copies.enter_context(store.local_copy(row.sha256))
                end = row.recorded_end or row.recorded_start + dt.timedelta(
                    seconds=row.duration_seconds or 0.0
                )
                segments.append(
                    Segment(path, row.recorded_start, end, row.id, (), row.id in continued)
                )
            work = self.folder / "chain"
            work.mkdir(parents=True, exist_ok=True)
            copies.callback(shutil.rmtree, work, ignore_errors=True)
            cut = cut_clips(
                segments, item.recorded_start, segments[-1].end, work, mode="exact", stem="source"
            )
            if len(cut.clips) != 1:
                raise InvalidArgument(
                    f"media item {item.id} continues a segment without a keyframe and its "
                    f"chain back to the keyframe has a gap: it cannot be decoded to redact"
                )
            yield cut.clips[0].path

    def _require_room(self, needed: int) -> None:
        """InsufficientStorage when ``needed`` more bytes in the work folder would leave
        less than ``[ingest] upload_min_free_bytes`` free: a render is a person's work,
        like an upload, and never takes the recorder's room."""
        service = self.service
        require_room(
            [service.store.root, service.work_dir],
            needed,
            service.reserve_bytes,
            f"redaction {self.record.id}",
        )

    # -- analyse -------------------------------------------------------------------

    def analyse(self) -> None:
        from privacy_masks.redaction import ANALYSING, REVIEW, Progress

        service, record = self.service, self.record
        item = self._original()
        label = f"media item {item.id}"
        config = service.config
        classes = [ObjectClass(c) for c in record.classes]
        detector = build_detector(config, classes, settings_dir=service.settings_dir)

        def step(value: float) -> None:
            self.held.check()
            service.set_progress(record, ANALYSING, value)

        report = Progress(step)
        with self._source(item) as path:
            info = video_info(path, label)
            tracks, frames, times = analyse_video(
                path, label, info, detector, tracker_settings(config), config.detect_width, report
            )

        def shown(f: int) -> float:
            # The frame's own presentation time (a variable frame rate: not f / fps),
            # the time the page shows the row at; past the decoded frames (a container
            # counting more), a step of the average rate each.
            if f < len(times):
                return times[f]
            return (times[-1] if times else 0.0) + (f - len(times) + 1) / info.fps

        stored = [
            {
                "id": n,
                "class": track.cls.value,
                "enabled": True,
                "manual": False,
                "score": round(track.score, 3),
                "frames": [
                    [round(shown(f), 4), *(round(v, 2) for v in (b.x, b.y, b.w, b.h))]
                    for f, b in zip(track.frames, track.boxes, strict=True)
                ],
            }
            for n, track in enumerate(tracks, 1)
        ]
        video = {
            "width": info.width,
            "height": info.height,
            "fps": step_rate(times, info.fps),
            "frames": frames,
            "duration": info.duration,
            "has_audio": info.has_audio,
            "start": info.start,
            "backend": detector.name,
            # Detected rows are at their frames' presentation times (before: f / fps).
            "timed": True,
        }
        with service.db.transaction() as s:
            self._finish(s, ANALYSING, REVIEW)
            row = s.get(Redaction, record.id)
            assert row is not None
            row.tracks = stored
            row.request = {**row.request, "video": video}
            row.state, row.progress = REVIEW, 1.0
            row.updated_at = stamped_after(row.updated_at, service.clock.now())
            service.audit.append(
                s,
                self.creator,
                "redaction.analyse",
                f"media:{item.id}",
                details={
                    "redaction_id": record.id,
                    "backend": detector.name,
                    "tracks": len(stored),
                    "frames": frames,
                },
            )

    # -- render --------------------------------------------------------------------

    def render(self) -> None:
        from privacy_masks.redaction import DONE, RENDERING, Progress

        service, record = self.service, self.record
        item = self._original()
        label = f"media item {item.id}"
        renderer = record.render_by or self.creator
        enabled = [t for t in record.tracks if t.enabled]
        method = Method.parse(record.method)
        # The rendered video, then its signed copy beside it: refused before a frame is
        # written when they would take the room recording keeps, and checked again at
        # each progress step (the estimate can be short).
        self._require_room(2 * item.size_bytes)

        def step(value: float) -> None:
            self.held.check()
            self._require_room(0)
            service.set_progress(record, RENDERING, value)

        report = Progress(step)
        expected = max(1, record.video.frames if record.video else 1)
        self.folder.mkdir(parents=True, exist_ok=True)
        rendered = self.folder / "rendered.mp4"
        spans = _Spans()
        with self._source(item) as path:
            # What the render does not carry (a second picture, more sound, data): never
            # released, so never unredacted (REL-3), and recorded as left out (INV-8).
            left_out = [s.to_json() for s in streams_left_out(path, label, with_audio=True)]
            fps = record.video.fps if record.video else video_info(path, label).fps
            # Detected boxes are the analysis's, at their frames' presentation times
            # (jobs analysed before: t = index / fps, by index); drawn ones are the
            # page's, by its steps of 1 / fps on the player's clock (see render_video).
            by_time = bool(record.video and record.video.timed)
            boxes: dict[int, list[Box]] = {}
            timed: list[tuple[float, int, Box]] = []
            drawn: dict[int, list[tuple[int, Box]]] = {}
            for track in enabled:
                for t, x, y, w, h in track.frames:
                    if track.manual:
                        drawn.setdefault(round(t * fps), []).append((track.id, Box(x, y, w, h)))
                    elif by_time:
                        timed.append((t, track.id, Box(x, y, w, h)))
                    else:
                        boxes.setdefault(round(t * fps), []).append(Box(x, y, w, h))
            render_video(
                path,
                rendered,
                label,
                boxes,
                method,
                margin=service.config.margin,
                mute=record.audio_mute,
                progress=lambda n: report(RENDER_SHARE * min(1.0, n / expected)),
                drawn=drawn,
                fps=fps,
                timed=timed,
                painted=spans.note,
            )
        crash_point("redaction.after-render")
        self.held.check()
        now = service.clock.now()
        # The frames each track was burned into (rows are at frame times or page steps,
        # not frame indices, on a variable frame rate); by index for jobs analysed before.
        regions = [
            {
                "id": t.id,
                "class": t.cls,
                "manual": t.manual,
                "first_frame": spans.first(t.id, round(t.frames[0][0] * fps) if t.frames else 0),
                "last_frame": spans.last(t.id, round(t.frames[-1][0] * fps) if t.frames else 0),
            }
            for t in enabled
        ]
        muted = list(record.audio_mute) if record.video and record.video.has_audio else []
        chain = load_or_create_chain(service.secrets_dir, now)
        name = f"redacted-{record.id[:8]}-{item.original_filename or item.id}"
        if not name.lower().endswith(".mp4"):
            name += ".mp4"
        signed = self.folder / _safe(name)
        sign_redacted(
            rendered,
            signed,
            chain,
            RedactionProvenance(
                redaction_id=record.id,
                title=f"Redacted copy of {item.title or item.id}",
                recorded_start=item.recorded_start,
                original_media_id=item.id,
                original_sha256=item.sha256,
                redacted_by=renderer.name,
                redacted_at=now,
                method=method.value,
                tracks=regions,
                audio_muted=muted,
            ),
        )
        rendered.unlink(missing_ok=True)
        report(RENDER_SHARE + 0.05)
        self.held.check()
        result = service.ingestor.ingest(
            signed,
            IngestRequest(
                source=SourceKind.REDACTED,
                device_id=item.device_id,
                officer_badge=item.officer_badge,
                recorded_at=item.recorded_start,
                recorded_end=item.recorded_end,
                title=f"Redacted: {item.title or item.id}"[:500],
                case_number=item.case_number,
                original_filename=signed.name,
                derived_from=item.id,
                custody_details={"redaction_id": record.id},
            ),
            renderer,
            adopt=True,
        )
        service.note_catalogued(record.id, result.media_id)
        crash_point("redaction.after-ingest")
        with service.db.transaction() as s:
            self._finish(s, RENDERING, DONE)
            original = s.get(MediaItem, item.id)
            derived = s.get(MediaItem, result.media_id)
            if derived is not None:
                if s.get(MediaLink, (derived.id, item.id)) is None:
                    s.add(MediaLink(media_id=derived.id, source_id=item.id))
                if original is not None and original.restricted:
                    derived.restricted = True  # ACC-7 carries over
            details: dict[str, Any] = {
                "redaction_id": record.id,
                "redacted_media_id": result.media_id,
                "sha256": result.sha256,
                "method": method.value,
                "tracks": regions,
                "audio_muted": muted,
                "at": now.isoformat(),
            }
            if left_out:
                details["streams_left_out"] = left_out
            if self.decoded_from:
                # A continued segment: decoded from its chain's keyframe (vms/continued.py).
                details["decoded_from"] = self.decoded_from
            s.add(
                CustodyEvent(
                    media_id=item.id,
                    at=now,
                    actor=renderer.name,
                    action="redacted",
                    details=details,
                )
            )
            service.audit.append(s, renderer, "media.redact", f"media:{item.id}", details=details)
            row = s.get(Redaction, record.id)
            assert row is not None
            row.state, row.progress = DONE, 1.0
            row.updated_at = stamped_after(row.updated_at, now)
            row.rendered_media_id = result.media_id
            row.error = None


class Analysis(NamedTuple):
    tracks: list[Track]
    frames: int
    # Each decoded frame's presentation time, seconds from the first frame's.
    times: list[float]


def analyse_video(
    path: Path,
    label: str,
    info: VideoInfo,
    detector: Detector,
    settings: TrackerSettings,
    detect_width: int,
    progress: Callable[[float], None] | None = None,
) -> Analysis:
    """The analysis of a job (and of ``bench/bench_redaction.py``): every
    ``settings.detect_every``-th frame of ``path`` (sooner when that would leave more
    than ``settings.detect_max_interval`` seconds between two: a low frame rate, REL-3)
    decoded at most ``detect_width`` wide
    (even dimensions; decoded in a thread of its own), ``detector`` run on it, its boxes
    scaled back to the picture, linked by the IoU tracker. Returns the tracks (a box per
    frame), the frame count and each decoded frame's presentation time;
    ``progress(0..0.99)`` as it goes."""
    width = min(info.width, detect_width)
    size = (max(2, width // 2 * 2), max(2, round(info.height * width / info.width) // 2 * 2))
    scale = info.width / size[0]
    expected = info.frames or max(1, round(info.duration * info.fps))
    count = 0
    times: list[float] = []

    def samples() -> Iterator[tuple[int, Frame]]:
        nonlocal count
        for index, frame in sample_frames(
            path, label, settings.detect_every, size, times, settings.detect_max_interval
        ):
            yield index, frame
            count = index + 1
            if progress is not None:
                progress(min(0.99, count / expected))

    tracker = track_samples(samples(), detector, settings, scale)
    # The frames after the last analysed one were decoded too (sample_frames walks
    # them all); the container's count is the truth when it has one.
    frames = max(count, info.frames)
    return Analysis(tracker.finish(frames, (info.width, info.height)), frames, times)


def render_video(
    path: Path,
    target: Path,
    label: str,
    boxes: dict[int, list[Box]],
    method: Method,
    *,
    margin: float,
    mute: Sequence[tuple[float, float]] = (),
    progress: Callable[[int], None] | None = None,
    drawn: dict[int, list[tuple[int, Box]]] | None = None,
    fps: float = 15.0,
    timed: Sequence[tuple[float, int, Box]] = (),
    painted: Callable[[int, int], None] | None = None,
) -> int:
    """The render of a job (and of the benchmark): ``boxes`` (frame index -> boxes)
    burned into the decoded yuv420p planes with ``method``, encoded to ``target``
    (:func:`vms.media.transcode.rewrite_video`). Returns the frames written.

    ``drawn`` (step -> (track id, box)): the boxes drawn on the review page, which steps
    through the video at ``n / fps`` seconds on the player's clock, showing at each step
    the frame playing then. With a constant frame rate step n is frame n. With a
    variable one (a phone going from 15 to 5 fps in the dark; ``fps`` is the average)
    the steps are not the frames: each frame is painted with every drawn track's box at
    the steps that fall while it is shown, joined with the next step's when the step
    before it showed an earlier frame (the box is keyed where the face was seen on
    either side: the joined box covers it in between), :func:`drawn_steps`.

    ``timed`` ((t, track id, box)): boxes at a frame's presentation time (seconds from
    the first frame, as the analysis stores detections), each burned into the frame
    shown at ``t``: the one the review page showed it over. ``painted(track id, frame
    index)`` is told of each ``timed`` and ``drawn`` box burned in."""
    at = sorted(timed, key=lambda row: row[0])
    keys = [t for t, _, _ in at]

    def paint(index: int, start: float, end: float, frame: Any) -> None:
        found = list(boxes.get(index, ()))
        # Rows are rounded to 0.1 ms: half of it either side.
        lo, hi = bisect.bisect_left(keys, start - 5e-5), bisect.bisect_left(keys, end - 5e-5)
        tracked = [(track, box) for _, track, box in at[lo:hi]]
        if drawn:
            tracked += _joined(drawn, drawn_steps(start, end, fps))
        for track, box in tracked:
            found.append(box)
            if painted is not None:
                painted(track, index)
        if found:
            planes = frame_planes(frame)
            redact_yuv(planes.y, planes.u, planes.v, found, method, margin=margin)

    return rewrite_video(path, target, label, paint, mute=mute, progress=progress)


def step_rate(times: Sequence[float], average: float) -> float:
    """The review page's steps per second (its ``video.fps``): it steps through the video
    at ``n / fps`` for n in 0..frames - 1, so the last step must be the last frame's
    time (``times``: each frame's presentation time from the first). With a constant
    rate that is the frame rate. With a variable one the container's ``average``
    (frames over its duration) put the last step before the last frame's time whenever
    that frame lasts less than the average interval (a phone's 15-then-5 fps video
    whose last frame is stored 1/15 s long): the last frames were never shown nor
    keyed, and the render held the last step's box on them while the face moved on.
    One frame (or no time): ``average``. Pure."""
    if len(times) < 2 or times[-1] <= 0:
        return average
    return (len(times) - 1) / times[-1]


def drawn_steps(start: float, end: float, fps: float) -> range:
    """The review page's steps (``n / fps`` seconds) that concern a frame shown from
    ``start`` to ``end`` seconds: those falling while it is shown, and the step before
    (showing an earlier frame) with the one after it when the frame starts between two
    steps. Pure; with a constant frame rate, frame ``n``'s is ``range(n, n + 1)``."""
    eps = 1e-3
    first = math.floor(start * fps + eps)
    last = max(first, math.ceil(end * fps - eps) - 1)
    if first / fps < start - eps:
        last = max(last, first + 1)
    return range(first, last + 1)


def _joined(drawn: dict[int, list[tuple[int, Box]]], steps: range) -> list[tuple[int, Box]]:
    """Per drawn track, the box enclosing its boxes at ``steps``."""
    hulls: dict[int, tuple[float, float, float, float]] = {}
    for n in steps:
        for track, b in drawn.get(n, ()):
            x0, y0, x1, y1 = b.x, b.y, b.x + b.w, b.y + b.h
            if track in hulls:
                a = hulls[track]
                x0, y0, x1, y1 = min(a[0], x0), min(a[1], y0), max(a[2], x1), max(a[3], y1)
            hulls[track] = (x0, y0, x1, y1)
    return [(track, Box(x0, y0, x1 - x0, y1 - y0)) for track, (x0, y0, x1, y1) in hulls.items()]


class _Spans:
    """The first and last frame each track was burned into (render_video's
    ``painted``), for the redaction's record (custody, audit, Content Credentials)."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[int, int]] = {}

    def note(self, track: int, index: int) -> None:
        lo, hi = self.seen.get(track, (index, index))
        self.seen[track] = (min(lo, index), max(hi, index))

    def first(self, track: int, default: int) -> int:
        return self.seen[track][0] if track in self.seen else default

    def last(self, track: int, default: int) -> int:
        return self.seen[track][1] if track in self.seen else default


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120]
