"""Painting masks straight onto yuv420p planes (numpy), never through RGB.

ARCHITECTURE section 4 measured an RGB round trip at about twice the cost of the whole
decode + mask + encode; here the luma plane and the two half-resolution chroma planes
are written in place. Masks come at chroma resolution (one cell per 2x2 luma block, see
:mod:`privacy_masks.geometry`), so luma and chroma always agree on what is covered.

Pure: operates on numpy views. :func:`frame_planes` takes a PyAV ``VideoFrame``-like
object (duck-typed: ``planes``, ``width``, ``height``, ``format.name``) so this module
imports no media library.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
BoolMask = NDArray[np.bool_]

#: Solid fill: BT.601 limited-range black.
BLACK_YUV = (16, 128, 128)


class PaintStyle(enum.StrEnum):
    SOLID = "solid"
    PIXELATE = "pixelate"


@dataclass(frozen=True)
class Planes:
    """Writable views of a yuv420p picture: y (h, w), u and v (h/2, w/2)."""

    y: U8
    u: U8
    v: U8


def frame_planes(frame: Any) -> Planes:
    """Writable numpy views of a PyAV yuv420p frame's planes (line padding excluded)."""
    fmt = frame.format.name
    if fmt not in ("yuv420p", "yuvj420p"):
        raise ValueError(f"frame format {fmt!r} is not yuv420p")
    width, height = int(frame.width), int(frame.height)
    views = []
    for index, (w, h) in enumerate(
        ((width, height), (width // 2, height // 2), (width // 2, height // 2))
    ):
        plane = frame.planes[index]
        line = int(plane.line_size)
        arr = np.frombuffer(plane, dtype=np.uint8)[: line * h].reshape(h, line)[:, :w]
        views.append(arr)
    return Planes(views[0], views[1], views[2])


def blank(planes: Planes, colour: tuple[int, int, int] = BLACK_YUV) -> None:
    """Cover the whole picture (INV-5: unknown pose, stale pose, mask stage failure)."""
    planes.y[:] = colour[0]
    planes.u[:] = colour[1]
    planes.v[:] = colour[2]


def _bbox(mask: BoolMask) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def paint(
    planes: Planes,
    mask: BoolMask,
    style: PaintStyle = PaintStyle.SOLID,
    *,
    colour: tuple[int, int, int] = BLACK_YUV,
    block: int = 16,
) -> int:
    """Paint the chroma-resolution ``mask`` onto ``planes``; returns masked luma pixels.

    ``solid`` (default) fills with ``colour`` (Y, U, V); ``pixelate`` replaces every masked
    pixel by the mean of its ``block`` x ``block`` luma cell (chroma likewise), which keeps
    only coarse shapes and average colours.
    """
    hc, wc = planes.u.shape
    if mask.shape != (hc, wc):
        raise ValueError(f"mask shape {mask.shape} does not match chroma planes {(hc, wc)}")
    box = _bbox(mask)
    if box is None:
        return 0
    r0, r1, c0, c1 = box
    m = mask[r0:r1, c0:c1]
    if style is PaintStyle.SOLID:
        planes.u[r0:r1, c0:c1][m] = colour[1]
        planes.v[r0:r1, c0:c1][m] = colour[2]
        ysub = planes.y[2 * r0 : 2 * r1, 2 * c0 : 2 * c1]
        # (rows, 2, cols, 2) view of the luma region: the four pixels of each block.
        blocks = ysub.reshape(r1 - r0, 2, c1 - c0, 2).transpose(0, 2, 1, 3)
        blocks[m] = colour[0]
    else:
        _pixelate(planes, mask, max(2, block - block % 2))
    return int(m.sum()) * 4


def _pixelate(planes: Planes, mask: BoolMask, block: int) -> None:
    cb = block // 2  # chroma cells per block side
    hc, wc = mask.shape
    # Cells of blocks touching the mask.
    hb, wb = -(-hc // cb), -(-wc // cb)
    padded = np.zeros((hb * cb, wb * cb), dtype=bool)
    padded[:hc, :wc] = mask
    touched = padded.reshape(hb, cb, wb, cb).any(axis=(1, 3))
    for plane, scale in ((planes.y, 2), (planes.u, 1), (planes.v, 1)):
        side = cb * scale
        h, w = plane.shape
        for br, bc in zip(*np.nonzero(touched), strict=True):
            rs, cs = (
                slice(br * side, min(h, (br + 1) * side)),
                slice(bc * side, min(w, (bc + 1) * side)),
            )
            cell = mask[br * cb : (br + 1) * cb, bc * cb : (bc + 1) * cb]
            if scale == 2:
                cell = np.repeat(np.repeat(cell, 2, axis=0), 2, axis=1)
            region = plane[rs, cs]
            cell = cell[: region.shape[0], : region.shape[1]]
            region[cell] = np.uint8(round(float(region.mean())))
