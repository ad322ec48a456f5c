"""Detection values: boxes, detections, the :class:`Detector` protocol and the class
table. Pure (numpy only for the frame type).

Frames are ``(height, width, 3)`` uint8 arrays in BGR order, the convention of both
backends (OpenCV and ultralytics take BGR numpy pictures). Boxes are ``x, y, w, h`` in
pixels of that frame, ``x, y`` the top-left corner.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from vms.config_media import parse_redaction_classes

#: A BGR picture, ``(height, width, 3)`` uint8.
Frame = NDArray[np.uint8]
#: One plane of a yuv420p picture, ``(height, width)`` uint8.
Plane = NDArray[np.uint8]


class ObjectClass(enum.StrEnum):
    """What a detection is; the request's ``detect`` list names these (issue 16)."""

    PERSON = "person"
    FACE = "face"
    PLATE = "plate"
    VEHICLE = "vehicle"
    SCREEN = "screen"


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left ``x, y``, size ``w, h``."""

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def iou(self, other: Box) -> float:
        """Intersection over union (0 when either box is empty)."""
        ix = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        iy = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        if ix <= 0 or iy <= 0:
            return 0.0
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def lerp(self, other: Box, t: float) -> Box:
        """The box ``t`` (0..1) of the way from this one to ``other``."""
        return Box(
            self.x + (other.x - self.x) * t,
            self.y + (other.y - self.y) * t,
            self.w + (other.w - self.w) * t,
            self.h + (other.h - self.h) * t,
        )

    def grown(self, fraction: float, pixels: float = 0.0) -> Box:
        """This box widened on every side by ``fraction`` of its size plus ``pixels``."""
        dx = self.w * fraction + pixels
        dy = self.h * fraction + pixels
        return Box(self.x - dx, self.y - dy, self.w + 2 * dx, self.h + 2 * dy)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """Integer ``x0, y0, x1, y1`` covering the box (outward rounding), clipped to a
        ``width`` x ``height`` picture; None when nothing of it is inside."""
        x0 = max(int(np.floor(self.x)), 0)
        y0 = max(int(np.floor(self.y)), 0)
        x1 = min(int(np.ceil(self.x + self.w)), width)
        y1 = min(int(np.ceil(self.y + self.h)), height)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1


@dataclass(frozen=True)
class Detection:
    """One object found in one frame."""

    box: Box
    cls: ObjectClass
    score: float


class Detector(Protocol):
    """Finds objects in one frame. Backends: :mod:`.opencv` and :mod:`.yolo`."""

    #: The backend's name ("opencv", "ultralytics"), for logs and records.
    name: str

    def detect(self, frame: Frame) -> list[Detection]:
        """The objects in ``frame`` (BGR, see the module docstring), any order."""
        ...


def parse_class_table(text: str, where: str = "[redaction] classes") -> dict[str, ObjectClass]:
    """``"model name=our class, ..."`` -> {model name: ObjectClass}; the rules and errors
    are :func:`vms.config_media.parse_redaction_classes`'s (which checks the table when
    the configuration loads)."""
    return {name: ObjectClass(ours) for name, ours in parse_redaction_classes(text, where).items()}


def class_table_text(table: Mapping[str, ObjectClass]) -> str:
    """The inverse of :func:`parse_class_table`."""
    return ",".join(f"{name}={cls.value}" for name, cls in table.items())
