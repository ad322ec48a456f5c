"""The OpenCV adapter: the one module that imports ``cv2`` (docs/design/dependencies.md).

Two things live here: the ``opencv`` detection backend, built only from what ships inside
opencv-python (Haar cascades for frontal faces and licence plates from ``cv2.data``, the
HOG + linear SVM people detector), and the pixel operations of the redaction renderer
(blur, pixelate). No file is downloaded; a cascade that does not load is a configuration
error naming its path.

Detection runs on a copy of the frame scaled down to at most ``detect_width`` pixels wide
(cascades and HOG scan every scale of the picture, so their cost grows with its area);
boxes are scaled back to the frame's pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

import cv2
import numpy as np

from privacy_masks.detection.model import Box, Detection, Frame, ObjectClass, Plane
from vms.errors import InvalidArgument

log = logging.getLogger(__name__)

#: What the opencv backend can find, and with which cascade file of ``cv2.data``.
CASCADES: dict[ObjectClass, str] = {
    ObjectClass.FACE: "haarcascade_frontalface_default.xml",
    ObjectClass.PLATE: "haarcascade_russian_plate_number.xml",
}
SUPPORTED = frozenset({*CASCADES, ObjectClass.PERSON})

# Cascade hits carry no score; a hit confirmed by this many neighbours is reported.
_MIN_NEIGHBOURS = 4
# Each scale of the cascades' image pyramid is this much smaller than the one before.
# 1.2, not OpenCV's usual 1.1: half the scales, so about half the CPU (the cascades are
# most of a redaction job's cost, bench/README.md "Redaction"); a Haar cascade answers
# over about +-10% of its window's size, and the tracker covers a frame a step misses
# (tests/privacy_masks/test_detection.py: >= 98% of object-frames covered).
_SCALE_FACTOR = 1.15


def cascade_path(name: str) -> Path:
    return Path(cv2.data.haarcascades) / name  # type: ignore[attr-defined]


class OpenCvDetector:
    """Faces and plates by Haar cascade, persons by HOG. ``classes``: which of
    :data:`SUPPORTED` to look for (others asked for are refused: this backend cannot find
    vehicles or screens)."""

    name = "opencv"

    def __init__(
        self,
        classes: Collection[ObjectClass] = SUPPORTED,
        *,
        detect_width: int = 640,
        min_size: int = 16,
    ) -> None:
        unsupported = sorted(set(classes) - SUPPORTED)
        if unsupported:
            raise InvalidArgument(
                "the opencv detection backend cannot find "
                + ", ".join(c.value for c in unsupported)
                + " (it finds "
                + ", ".join(sorted(c.value for c in SUPPORTED))
                + "); configure a YOLO model with [redaction] model"
            )
        if detect_width < 64:
            raise InvalidArgument(
                f"[redaction] detect_width must be 64 or more, not {detect_width}"
            )
        self.classes = frozenset(classes)
        self.detect_width = detect_width
        self.min_size = min_size
        self._cascades: dict[ObjectClass, cv2.CascadeClassifier] = {}
        for cls, file in CASCADES.items():
            if cls in self.classes:
                path = cascade_path(file)
                cascade = cv2.CascadeClassifier(str(path))
                if cascade.empty():
                    raise InvalidArgument(f"OpenCV cascade {path} could not be loaded")
                self._cascades[cls] = cascade
        self._hog: cv2.HOGDescriptor | None = None
        if ObjectClass.PERSON in self.classes:
            self._hog = cv2.HOGDescriptor()
            people = np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32)
            self._hog.setSVMDetector(people)

    def detect(self, frame: Frame) -> list[Detection]:
        height, width = frame.shape[:2]
        scale = min(1.0, self.detect_width / width)
        small: np.ndarray = frame
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        found: list[Detection] = []
        if self._cascades:
            grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
            for cls, cascade in self._cascades.items():
                rects, _levels, weights = cascade.detectMultiScale3(
                    grey,
                    scaleFactor=_SCALE_FACTOR,
                    minNeighbors=_MIN_NEIGHBOURS,
                    minSize=(self.min_size, self.min_size),
                    outputRejectLevels=True,
                )
                for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=False):
                    found.append(Detection(_box(x, y, w, h, scale), cls, _squash(float(weight))))
        if self._hog is not None:
            rects, weights = self._hog.detectMultiScale(small, winStride=(8, 8), scale=1.05)
            for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=False):
                found.append(
                    Detection(_box(x, y, w, h, scale), ObjectClass.PERSON, _squash(float(weight)))
                )
        return found


def _box(x: int, y: int, w: int, h: int, scale: float) -> Box:
    return Box(float(x) / scale, float(y) / scale, float(w) / scale, float(h) / scale)


def _squash(weight: float) -> float:
    """A cascade's or SVM's margin (any real) as a 0..1 score."""
    return float(1.0 / (1.0 + np.exp(-weight)))


# -- pixel operations of the renderer ------------------------------------------------------


def blur(frame: Frame | Plane, x0: int, y0: int, x1: int, y1: int) -> None:
    """Blur ``frame[y0:y1, x0:x1]`` (BGR, or one plane) in place beyond recognition:
    scaled down to about eight cells across its shorter side, smoothed, scaled back up."""
    region = frame[y0:y1, x0:x1]
    h, w = region.shape[:2]
    cell = max(min(w, h) / 8.0, 2.0)
    small = cv2.resize(
        region, (max(1, round(w / cell)), max(1, round(h / cell))), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (3, 3), 0)
    region[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def pixelate(frame: Frame | Plane, x0: int, y0: int, x1: int, y1: int, cells: int = 8) -> None:
    """Replace ``frame[y0:y1, x0:x1]`` (BGR, or one plane) in place by blocks: ``cells``
    across its shorter side, each the mean of its pixels."""
    region = frame[y0:y1, x0:x1]
    h, w = region.shape[:2]
    cell = max(min(w, h) / cells, 2.0)
    small = cv2.resize(
        region, (max(1, round(w / cell)), max(1, round(h / cell))), interpolation=cv2.INTER_AREA
    )
    region[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
