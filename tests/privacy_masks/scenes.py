"""Generated scenes with known objects for the redaction tests and benchmark.

Each object moves in a straight line through the picture and carries a *signature
colour* that nothing else in the scene has (the skin of a face, a stripe on a plate), so
a rendered frame shows whether the object was covered by counting that colour's pixels
inside the object's true box. The faces are drawn so that OpenCV's Haar frontal face
cascade finds them (hair, brows, eye sockets, eyes, nose, mouth on an oval); the plates so
that the Russian plate cascade does (white plate, black border and characters).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from privacy_masks.detection.model import Box, ObjectClass

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class SceneObject:
    cls: ObjectClass
    start: tuple[float, float]  # centre at frame 0, pixels
    velocity: tuple[float, float]  # pixels per frame
    size: float  # face: radius (half height); plate: width
    signature: Colour  # BGR, unique in the scene
    period: int = 0  # > 0: the motion starts over every this many frames (long videos)

    def centre(self, frame: int) -> tuple[float, float]:
        if self.period:
            frame %= self.period
        return self.start[0] + self.velocity[0] * frame, self.start[1] + self.velocity[1] * frame

    def box(self, frame: int) -> Box:
        """The true box: every pixel the object draws."""
        cx, cy = self.centre(frame)
        if self.cls is ObjectClass.PERSON:
            u = self.size / 8
            return Box(cx - 1.4 * u, cy - 4 * u, 2.8 * u, 8 * u)
        if self.cls is ObjectClass.FACE:
            r = self.size
            return Box(cx - 0.8 * r, cy - 1.15 * r, 1.6 * r, 2.15 * r)
        w, h = self.size, self.size * 0.22
        return Box(cx - w / 2, cy - h / 2, w, h)

    def draw(self, img: np.ndarray, frame: int) -> None:
        cx, cy = (round(v) for v in self.centre(frame))
        if self.cls is ObjectClass.PERSON:
            _person(img, cx, cy - self.size / 2, self.size, self.signature)
        elif self.cls is ObjectClass.FACE:
            _face(img, cx, cy, round(self.size), self.signature)
        else:
            _plate(img, cx, cy, round(self.size), self.signature)


def _face(img: np.ndarray, cx: int, cy: int, r: int, skin: Colour) -> None:
    shade = tuple(int(c * 0.6) for c in skin)
    cv2.ellipse(img, (cx, cy), (int(r * 0.75), r), 0, 0, 360, skin, -1)
    cv2.ellipse(
        img, (cx, cy - int(r * 0.75)), (int(r * 0.8), int(r * 0.4)), 0, 180, 360, (20, 30, 40), -1
    )
    for side in (-1, 1):
        ex, ey = cx + side * int(r * 0.32), cy - int(r * 0.15)
        cv2.ellipse(
            img, (ex, ey - int(r * 0.02)), (int(r * 0.22), int(r * 0.14)), 0, 0, 360, shade, -1
        )
        cv2.ellipse(img, (ex, ey), (int(r * 0.14), int(r * 0.07)), 0, 0, 360, (30, 30, 30), -1)
        brow_y = cy - int(r * 0.38)
        cv2.line(
            img,
            (cx + side * int(r * 0.15), brow_y),
            (cx + side * int(r * 0.5), brow_y),
            (30, 30, 40),
            max(2, int(r * 0.07)),
        )
    nose = tuple(int(c * 0.55) for c in skin)
    cv2.ellipse(img, (cx, cy + int(r * 0.22)), (int(r * 0.1), int(r * 0.05)), 0, 0, 360, nose, -1)
    cv2.ellipse(
        img, (cx, cy + int(r * 0.5)), (int(r * 0.28), int(r * 0.07)), 0, 0, 360, (60, 60, 130), -1
    )


def _person(img: np.ndarray, cx: int, top: float, h: float, shirt: Colour) -> None:
    """A standing figure ``h`` tall (head, neck, torso, arms, legs): the silhouette
    OpenCV's HOG people detector takes for a pedestrian."""
    u = h / 8.0
    skin = (140, 170, 210)

    def poly(points: list[tuple[float, float]], colour: Colour) -> None:
        cv2.fillPoly(
            img, [np.array([(cx + x * u, top + y * u) for x, y in points], np.int32)], colour
        )

    cv2.circle(img, (cx, round(top + u * 0.55)), round(u * 0.55), skin, -1)
    poly([(-0.25, 1.0), (0.25, 1.0), (0.25, 1.3), (-0.25, 1.3)], skin)
    poly([(-1.0, 1.3), (1.0, 1.3), (0.8, 4.3), (-0.8, 4.3)], shirt)
    for s in (-1, 1):
        poly([(s * 1.0, 1.4), (s * 1.35, 1.6), (s * 1.25, 4.2), (s * 0.95, 4.1)], shirt)
        poly([(s * 0.05, 4.3), (s * 0.8, 4.3), (s * 0.75, 7.8), (s * 0.2, 7.8)], (40, 40, 40))


def _plate(img: np.ndarray, cx: int, cy: int, w: int, stripe: Colour) -> None:
    h = round(w * 0.22)
    x0, y0 = cx - w // 2, cy - h // 2
    cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), (255, 255, 255), -1)
    cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), (0, 0, 0), 2)
    scale = w / 200.0
    cv2.putText(
        img,
        "A123BC",
        (x0 + round(8 * scale), y0 + h - round(9 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (0, 0, 0),
        max(1, round(2 * scale)),
    )
    # the region box at the right end, with the signature stripe
    rx = x0 + round(w * 0.78)
    cv2.line(img, (rx, y0), (rx, y0 + h), (0, 0, 0), 1)
    cv2.rectangle(img, (rx + 3, y0 + h - 7), (x0 + w - 3, y0 + h - 4), stripe, -1)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A muted green-grey gradient with noise: no saturated colour, nothing face-like."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    base = 80 + 30 * y + 15 * x
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = base + 5
    img[..., 1] = base + 20
    img[..., 2] = base
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    frames: int
    objects: tuple[SceneObject, ...]
    seed: int = 0

    def render(self) -> Iterator[np.ndarray]:
        bg = background(self.width, self.height, self.seed)
        for f in range(self.frames):
            img = bg.copy()
            for obj in self.objects:
                obj.draw(img, f)
            yield img


def street(width: int = 426, height: int = 240, frames: int = 45) -> Scene:
    """Two faces walking in opposite directions and a plate driving by, each entering or
    leaving the picture on the way (partly visible objects count too)."""
    s = width / 426
    return Scene(
        width,
        height,
        frames,
        (
            SceneObject(
                ObjectClass.FACE, (60 * s, 70 * s), (2.5 * s, 0.3 * s), 32 * s, (150, 185, 225)
            ),
            SceneObject(
                ObjectClass.FACE, (360 * s, 160 * s), (-2.0 * s, -0.2 * s), 38 * s, (120, 160, 215)
            ),
            SceneObject(
                ObjectClass.PLATE, (-10 * s, 195 * s), (5.0 * s, 0.0), 120 * s, (220, 40, 200)
            ),
        ),
    )


def walkers(width: int = 426, height: int = 240, frames: int = 45) -> Scene:
    """Two people walking across the street in opposite directions, one entering."""
    s = width / 426
    return Scene(
        width,
        height,
        frames,
        (
            SceneObject(
                ObjectClass.PERSON, (20 * s, 100 * s), (2.0 * s, 0.2 * s), 120 * s, (60, 50, 150)
            ),
            SceneObject(
                ObjectClass.PERSON, (330 * s, 130 * s), (-2.5 * s, 0.0), 110 * s, (150, 60, 40)
            ),
        ),
    )


def signature_pixels(img: np.ndarray, colour: Colour, box: Box | None = None, tol: int = 2) -> int:
    """How many pixels of ``img`` (inside ``box`` when given) have ``colour`` (within
    ``tol`` per channel)."""
    if box is not None:
        px = box.pixels(img.shape[1], img.shape[0])
        if px is None:
            return 0
        x0, y0, x1, y1 = px
        img = img[y0:y1, x0:x1]
    diff = np.abs(img.astype(np.int16) - np.array(colour, np.int16))
    return int(np.count_nonzero(np.all(diff <= tol, axis=-1)))
