"""Detection, tracking and redaction rendering for releases (issue 16, items 1-2;
docs/design/redaction.md).

:func:`build_detector` picks the backend from the configuration (``[redaction] model``
set: ultralytics, otherwise opencv) and fails at construction on a bad model file;
:func:`analyse` runs it over frames (every ``detect_every``-th) and links the detections
into tracks; :func:`.render.redact` burns tracks into frames.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

from privacy_masks.detection.model import (
    Box,
    Detection,
    Detector,
    Frame,
    ObjectClass,
    parse_class_table,
)
from privacy_masks.detection.tracking import IouTracker, Track, TrackerSettings
from vms.config import RedactionConfig

__all__ = [
    "Box",
    "Detection",
    "Detector",
    "ObjectClass",
    "Track",
    "TrackerSettings",
    "analyse",
    "analyse_samples",
    "build_detector",
    "track_samples",
    "tracker_settings",
]


def build_detector(
    config: RedactionConfig,
    classes: Collection[ObjectClass] | None = None,
    *,
    settings_dir: Path | None = None,
) -> Detector:
    """The configured detector for ``classes`` (default: all the backend finds).
    ``settings_dir``: where ultralytics may keep its settings (the data dir's)."""
    if config.model:
        from privacy_masks.detection.yolo import YoloDetector

        return YoloDetector(
            Path(config.model),
            parse_class_table(config.classes),
            tuple(ObjectClass) if classes is None else classes,
            min_score=config.min_score,
            imgsz=config.model_imgsz,
            settings_dir=settings_dir,
        )
    from privacy_masks.detection.opencv import SUPPORTED, OpenCvDetector

    return OpenCvDetector(
        SUPPORTED if classes is None else classes, detect_width=config.detect_width
    )


def tracker_settings(config: RedactionConfig) -> TrackerSettings:
    return TrackerSettings(
        iou_threshold=config.iou_threshold,
        max_gap_frames=config.max_gap_frames,
        detect_every=config.detect_every,
        detect_max_interval=config.detect_max_interval_seconds,
    )


def analyse(
    frames: Iterable[Frame], detector: Detector, settings: TrackerSettings | None = None
) -> list[Track]:
    """Detect in every ``settings.detect_every``-th of ``frames`` (numbered from 0,
    starting with the first) and track; the tracks cover every frame index."""
    settings = settings or TrackerSettings()
    count = 0
    picture = (0, 0)

    def samples() -> Iterator[tuple[int, Frame]]:
        nonlocal count, picture
        for index, frame in enumerate(frames):
            count = index + 1
            picture = (frame.shape[1], frame.shape[0])
            if index % settings.detect_every == 0:
                yield index, frame

    tracker = track_samples(samples(), detector, settings)
    return tracker.finish(count, picture)


def analyse_samples(
    samples: Iterable[tuple[int, Frame]],
    detector: Detector,
    settings: TrackerSettings,
    *,
    frame_count: int,
    picture: tuple[int, int],
    scale: float = 1.0,
) -> list[Track]:
    """Like :func:`analyse`, for a caller that decodes only the analysed frames (every
    ``settings.detect_every``-th index, in order) and possibly at a smaller size: their
    detections' boxes are multiplied by ``scale`` into the pixels of the ``picture``
    (width, height) the tracks are for; ``frame_count`` frames in all."""
    tracker = track_samples(samples, detector, settings, scale)
    return tracker.finish(frame_count, picture)


def track_samples(
    samples: Iterable[tuple[int, Frame]],
    detector: Detector,
    settings: TrackerSettings,
    scale: float = 1.0,
) -> IouTracker:
    """``detector`` over ``samples`` (frame index, picture), its boxes multiplied by
    ``scale``, fed to a new tracker, returned unfinished (the caller knows the frame
    count and the picture's size once the samples are done)."""
    tracker = IouTracker(settings)
    for index, frame in samples:
        found = detector.detect(frame)
        if scale != 1.0:
            found = [
                Detection(
                    Box(d.box.x * scale, d.box.y * scale, d.box.w * scale, d.box.h * scale),
                    d.cls,
                    d.score,
                )
                for d in found
            ]
        tracker.update(index, found)
    return tracker
