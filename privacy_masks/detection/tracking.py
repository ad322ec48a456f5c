"""Tracking: detections linked into tracks across frames, gaps filled. Pure.

A greedy IoU tracker of our own (no OpenCV tracker: those follow pixels between
detections, cost a correlation filter per object per frame, and add nothing when the
detector runs on the frames in between anyway). Per analysed frame, each live track's box
is predicted at constant velocity (from its last two observations), and detections of the
same class are matched to the predictions by IoU, best pairs first, above
``iou_threshold``. An unmatched detection overlapping an already matched one of its class
by that much is a duplicate (a cascade's overlapping hits) and dropped; any other starts
a track. A track not observed for more than ``max_gap_frames`` frames beyond the stride
ends.

:meth:`IouTracker.finish` turns the observations into a box for every frame: linear
interpolation between consecutive observations (the gaps, and with ``detect_every`` k > 1
the k - 1 frames that were not analysed), and at each end ``max_gap_frames + k - 1``
frames more (clipped to the video), where the object may already or still be there
undetected (turning away, occluded), like in a gap: covered by the union of the held box
and its constant-velocity extrapolation (a redaction box errs on the large side). When
that extrapolation crosses the picture's border, the extension goes on (up to 60 frames)
while it does: a detector misses an object that is half out of the picture, entering or
leaving it. See docs/design/redaction.md.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from privacy_masks.detection.model import Box, Detection, ObjectClass
from vms.errors import InvalidArgument

# Frames over which a track end's velocity is measured (steadier than the last step).
_VELOCITY_SPAN = 5
# Longest edge extension (frames): an object leaving the picture slower than this is slow
# enough to be detected while half out.
_EDGE_FRAMES = 60


@dataclass(frozen=True)
class TrackerSettings:
    """``iou_threshold``: least IoU of a detection with a track's predicted box to
    continue it. ``max_gap_frames``: frames a track may go undetected (beyond the stride)
    and still be continued, the gap filled by interpolation. ``detect_every``: the stride,
    1 = every frame analysed. ``detect_max_interval``: seconds at most between two
    analysed frames whatever the stride (a frame is analysed sooner when the next
    analysed one would be later; the job's :func:`vms.media.transcode.sample_frames`),
    None: the stride alone; analysed frames are never more than ``detect_every`` apart."""

    iou_threshold: float = 0.3
    max_gap_frames: int = 5
    detect_every: int = 1
    detect_max_interval: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.iou_threshold <= 1:
            raise InvalidArgument(
                f"[redaction] iou_threshold must be in (0, 1], not {self.iou_threshold}"
            )
        if self.max_gap_frames < 0:
            raise InvalidArgument(
                f"[redaction] max_gap_frames must be 0 or more, not {self.max_gap_frames}"
            )
        if self.detect_every < 1:
            raise InvalidArgument(
                f"[redaction] detect_every must be 1 or more, not {self.detect_every}"
            )
        if self.detect_max_interval is not None and not self.detect_max_interval > 0:
            raise InvalidArgument(
                "[redaction] detect_max_interval_seconds must be above 0, not "
                f"{self.detect_max_interval}"
            )


@dataclass(frozen=True)
class Track:
    """One object through the video: a box for each frame from ``frames[0]`` to
    ``frames[-1]`` (consecutive indices), ``observed`` the frames where it was detected
    (the others interpolated or extended)."""

    id: int
    cls: ObjectClass
    frames: tuple[int, ...]
    boxes: tuple[Box, ...]
    observed: frozenset[int]
    score: float

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def box_at(self, frame: int) -> Box | None:
        """The box at frame index ``frame``, None outside the track."""
        i = bisect.bisect_left(self.frames, frame)
        if i < len(self.frames) and self.frames[i] == frame:
            return self.boxes[i]
        return None

    def timed(self, fps: float) -> list[tuple[float, Box]]:
        """``(seconds from the first frame, box)`` per frame, for a constant ``fps``."""
        return [(f / fps, b) for f, b in zip(self.frames, self.boxes, strict=True)]


@dataclass
class _Live:
    id: int
    cls: ObjectClass
    seen: list[tuple[int, Box]] = field(default_factory=list)
    score: float = 0.0

    def predict(self, frame: int) -> Box:
        last_f, last = self.seen[-1]
        if len(self.seen) < 2:
            return last
        prev_f, prev = self.seen[-2]
        t = (frame - prev_f) / (last_f - prev_f)
        return prev.lerp(last, t)


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    x1, y1 = max(a.x + a.w, b.x + b.w), max(a.y + a.h, b.y + b.h)
    return Box(x0, y0, x1 - x0, y1 - y0)


class IouTracker:
    """Feed it the detections of each analysed frame in order (:meth:`update`), then
    :meth:`finish` for the tracks."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._live: list[_Live] = []
        self._done: list[_Live] = []
        self._next_id = 1
        self._last_frame = -1

    @property
    def _reach(self) -> int:
        """Largest distance in frames between two observations of one track."""
        return self.settings.max_gap_frames + self.settings.detect_every

    def update(self, frame: int, detections: Sequence[Detection]) -> None:
        if frame <= self._last_frame:
            raise InvalidArgument(f"frame {frame} is not after frame {self._last_frame}")
        self._last_frame = frame
        still: list[_Live] = []
        for live in self._live:
            (self._done if frame - live.seen[-1][0] > self._reach else still).append(live)
        self._live = still

        threshold = self.settings.iou_threshold
        pairs = sorted(
            (
                (live.predict(frame).iou(det.box), li, di)
                for li, live in enumerate(self._live)
                for di, det in enumerate(detections)
                if det.cls == live.cls
            ),
            key=lambda p: -p[0],
        )
        taken_tracks: set[int] = set()
        matched: dict[int, int] = {}  # detection index -> track index
        for iou, li, di in pairs:
            if iou < threshold:
                break
            if li in taken_tracks or di in matched:
                continue
            taken_tracks.add(li)
            matched[di] = li
        for di, li in matched.items():
            live = self._live[li]
            live.seen.append((frame, detections[di].box))
            live.score = max(live.score, detections[di].score)
        kept = [detections[di] for di in matched]
        for di, det in enumerate(detections):
            if di in matched:
                continue
            if any(k.cls == det.cls and k.box.iou(det.box) >= threshold for k in kept):
                continue  # a duplicate hit on an object already followed
            self._live.append(_Live(self._next_id, det.cls, [(frame, det.box)], det.score))
            self._next_id += 1
            kept.append(det)

    def finish(
        self, frame_count: int | None = None, picture: tuple[int, int] | None = None
    ) -> list[Track]:
        """Every track, by id, its boxes filled per frame. ``frame_count`` bounds the end
        extension (default: the last frame fed); ``picture`` (width, height) enables the
        edge extension (a track moving across the picture's border is followed out)."""
        end = (frame_count - 1) if frame_count is not None else self._last_frame
        lives = sorted([*self._done, *self._live], key=lambda t: t.id)
        self._done, self._live = lives, []
        return [self._fill(live, end, picture) for live in lives]

    def _ends(self, seen: list[tuple[int, Box]], sign: int) -> tuple[int, Box, Box | None]:
        """At one end (sign -1: the start, +1: the end): the end frame, its box, and the
        box one frame further out at the object's velocity (None for a single
        observation), the velocity measured over up to ``_VELOCITY_SPAN`` frames."""
        obs = seen if sign > 0 else seen[::-1]
        f0, b0 = obs[-1]
        ref = None
        for f, b in reversed(obs[:-1]):
            ref = (f, b)
            if abs(f0 - f) >= _VELOCITY_SPAN:
                break
        if ref is None:
            return f0, b0, None
        f1, b1 = ref
        return f0, b0, b1.lerp(b0, 1 + 1 / abs(f0 - f1))

    def _extension(
        self, seen: list[tuple[int, Box]], sign: int, end: int, picture: tuple[int, int] | None
    ) -> list[tuple[int, Box]]:
        f0, b0, step = self._ends(seen, sign)
        pad = self.settings.detect_every - 1 + self.settings.max_gap_frames
        out: list[tuple[int, Box]] = []
        n = 1
        while True:
            f = f0 + sign * n
            if f < 0 or f > end:
                break
            ahead = b0.lerp(step, n) if step is not None else b0
            # beyond the gap: only while the object is on its way out of the picture
            if n > pad and (
                picture is None or n > _EDGE_FRAMES or not _crosses_border(ahead, picture)
            ):
                break
            out.append((f, _union(b0, ahead)))
            n += 1
        return out if sign > 0 else out[::-1]

    def _fill(self, live: _Live, end: int, picture: tuple[int, int] | None) -> Track:
        seen = live.seen
        filled: list[tuple[int, Box]] = self._extension(seen, -1, end, picture)
        for (fa, a), (fb, b) in itertools.pairwise(seen):
            filled.extend((f, a.lerp(b, (f - fa) / (fb - fa))) for f in range(fa, fb))
        filled.append(seen[-1])
        filled.extend(self._extension(seen, 1, end, picture))
        return Track(
            id=live.id,
            cls=live.cls,
            frames=tuple(f for f, _ in filled),
            boxes=tuple(b for _, b in filled),
            observed=frozenset(f for f, _ in seen),
            score=live.score,
        )


def _crosses_border(box: Box, picture: tuple[int, int]) -> bool:
    """Whether ``box`` is partly inside and partly outside the picture."""
    width, height = picture
    inside = box.x < width and box.y < height and box.x + box.w > 0 and box.y + box.h > 0
    whole = box.x >= 0 and box.y >= 0 and box.x + box.w <= width and box.y + box.h <= height
    return inside and not whole


def track(
    analysed: Iterable[tuple[int, Sequence[Detection]]],
    settings: TrackerSettings | None = None,
    frame_count: int | None = None,
    picture: tuple[int, int] | None = None,
) -> list[Track]:
    """The tracks of ``(frame index, detections)`` pairs given in frame order."""
    tracker = IouTracker(settings)
    for frame, detections in analysed:
        tracker.update(frame, detections)
    return tracker.finish(frame_count, picture)
