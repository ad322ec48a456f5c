"""The redaction renderer: tracks' boxes burned into frames (blur, pixelate or solid).

Works on BGR frames in place (see :mod:`.model`), or straight on the planes of yuv420p
frames as decoded (:func:`redact_yuv`, the cheaper path for a job); the pixel operations
that need OpenCV come from :mod:`.opencv`, the module that imports it. Every box is
widened by ``margin`` of its size on each side plus ``margin_pixels`` before it is
painted: detectors' boxes are tight (a Haar face box stops at the brows and chin), and a
redaction errs on the large side.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence

from privacy_masks.detection.model import Box, Frame, Plane
from privacy_masks.detection.tracking import Track
from vms.errors import InvalidArgument

#: Solid fill (BGR black).
SOLID_BGR = (0, 0, 0)


class Method(enum.StrEnum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    SOLID = "solid"

    @classmethod
    def parse(cls, text: str, where: str = "method") -> Method:
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise InvalidArgument(f"{where}: {text!r} is none of {known}") from None


def boxes_by_frame(tracks: Iterable[Track]) -> dict[int, list[Box]]:
    """Frame index -> the boxes of every track present in it."""
    index: dict[int, list[Box]] = {}
    for track in tracks:
        for frame, box in zip(track.frames, track.boxes, strict=True):
            index.setdefault(frame, []).append(box)
    return index


def redact_frame(
    frame: Frame,
    boxes: Sequence[Box],
    method: Method,
    *,
    margin: float = 0.1,
    margin_pixels: float = 2.0,
) -> None:
    """Paint ``boxes`` (widened, clipped to the picture) into ``frame`` in place."""
    # Imported here, not at the top: OpenCV takes ~0.03 s to load, and the redaction
    # service (and so every ``vms`` command) imports this module for ``Method``.
    from privacy_masks.detection import opencv

    height, width = frame.shape[:2]
    for box in boxes:
        px = box.grown(margin, margin_pixels).pixels(width, height)
        if px is None:
            continue
        x0, y0, x1, y1 = px
        if method is Method.SOLID:
            frame[y0:y1, x0:x1] = SOLID_BGR
        elif method is Method.PIXELATE:
            opencv.pixelate(frame, x0, y0, x1, y1)
        else:
            opencv.blur(frame, x0, y0, x1, y1)


def redact_yuv(
    y: Plane,
    u: Plane,
    v: Plane,
    boxes: Sequence[Box],
    method: Method,
    *,
    margin: float = 0.1,
    margin_pixels: float = 2.0,
) -> None:
    """:func:`redact_frame` straight on the planes of a yuv420p picture (``y`` full size,
    ``u``/``v`` half size, e.g. :func:`privacy_masks.paint.frame_planes` of a decoded
    frame), in place: no BGR round trip (docs/design/redaction.md). Boxes are widened to
    even pixel bounds so that luma and chroma cover the same area; solid is BT.601
    limited-range black, as the privacy masks' (16, 128, 128)."""
    height, width = y.shape
    for box in boxes:
        px = box.grown(margin, margin_pixels).pixels(width, height)
        if px is None:
            continue
        x0, y0, x1, y1 = (px[0] // 2) * 2, (px[1] // 2) * 2, px[2] + px[2] % 2, px[3] + px[3] % 2
        cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, x1 // 2, y1 // 2
        if method is Method.SOLID:
            y[y0:y1, x0:x1] = 16
            u[cy0:cy1, cx0:cx1] = 128
            v[cy0:cy1, cx0:cx1] = 128
            continue
        from privacy_masks.detection import opencv  # loaded on use, as in redact_frame

        paint = opencv.pixelate if method is Method.PIXELATE else opencv.blur
        paint(y, x0, y0, x1, y1)
        paint(u, cx0, cy0, cx1, cy1)
        paint(v, cx0, cy0, cx1, cy1)


def redact(
    frames: Iterable[Frame],
    tracks: Iterable[Track],
    method: Method,
    *,
    margin: float = 0.1,
    margin_pixels: float = 2.0,
) -> Iterator[Frame]:
    """Each of ``frames`` (numbered from 0) with the boxes of ``tracks`` painted in, in
    place; yields the same arrays."""
    index = boxes_by_frame(tracks)
    for i, frame in enumerate(frames):
        boxes = index.get(i)
        if boxes:
            redact_frame(frame, boxes, method, margin=margin, margin_pixels=margin_pixels)
        yield frame
