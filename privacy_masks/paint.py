"""Painting masks straight onto yuv420p planes (numpy), never through RGB.

ARCHITECTURE section 4 measured an RGB round trip at about twice the cost of the whole
decode + mask + encode; here the luma plane and the two half-resolution chroma planes
are written in place. Masks come at chroma resolution (one cell per 2x2 luma block, see
:mod:`privacy_masks.geometry`), so luma and chroma always agree on what is covered.

A mask painted on many frames (a still camera: the projection is cached by the stage) is
prepared once (:func:`prepare`): its bounding box and the box's chroma cells and luma pixels, so
each frame pays only three masked copies into the planes, or, painted again in black, two
bitwise passes a plane (:attr:`PreparedMask.black`), made in reused contiguous buffers
(:class:`BoxBuffers`) when what is painted over is to be put back (:func:`save_and_paint`).

Pure: operates on numpy views. :func:`frame_planes` takes a PyAV ``VideoFrame``-like
object (duck-typed: ``planes``, ``width``, ``height``, ``format.name``) so this module
imports no media library.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

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
    """Writable views of a yuv420p picture: y (h, w), u and v (ceil(h/2), ceil(w/2)): an
    odd last luma row or column has its own chroma samples, which must be covered too."""

    y: U8
    u: U8
    v: U8


def frame_planes(frame: Any) -> Planes:
    """Writable numpy views of a PyAV yuv420p frame's planes (line padding excluded)."""
    fmt = frame.format.name
    if fmt not in ("yuv420p", "yuvj420p"):
        raise ValueError(f"frame format {fmt!r} is not yuv420p")
    width, height = int(frame.width), int(frame.height)
    cw, ch = chroma_size(width, height)
    # ``frame.planes`` builds the plane objects anew at every access: read it once.
    y, u, v = frame.planes[:3]
    return Planes(_view(y, width, height), _view(u, cw, ch), _view(v, cw, ch))


def _view(plane: Any, w: int, h: int) -> U8:
    """The ``w`` x ``h`` picture in ``plane`` (its lines padded to ``line_size``)."""
    line = int(plane.line_size)
    return np.frombuffer(plane, dtype=np.uint8)[: line * h].reshape(h, line)[:, :w]


def frame_box_views(
    frame: Any, box: tuple[int, int, int, int], mask_shape: tuple[int, ...] | None = None
) -> tuple[U8, U8, U8]:
    """What ``_box_views(frame_planes(frame), box)`` gives (the chroma ``box``'s views
    in each plane, luma's cut short at an odd picture edge), made straight from the
    plane buffers: one numpy call a plane instead of views of the whole planes cut
    down, for the frames a held plan paints (the stage's every-frame path). numpy
    refuses a view that would reach past a plane's buffer. ``mask_shape``: the shape of
    the chroma-resolution mask to paint, refused unless it is the chroma planes'."""
    fmt = frame.format.name
    if fmt not in ("yuv420p", "yuvj420p"):
        raise ValueError(f"frame format {fmt!r} is not yuv420p")
    width, height = frame.width, frame.height
    cw, ch = (width + 1) // 2, (height + 1) // 2  # chroma_size(), inline: every frame
    if mask_shape is not None and mask_shape != (ch, cw):
        raise ValueError(f"mask shape {mask_shape} does not match chroma planes {(ch, cw)}")
    r0, r1, c0, c1 = box
    if not (0 <= r0 < r1 <= ch and 0 <= c0 < c1 <= cw):
        raise ValueError(f"box {box} is not inside the {cw}x{ch} chroma planes")
    y, u, v = frame.planes[:3]
    # One numpy call a plane, no helper call: this runs for every frame a held plan
    # paints, where each Python call costs several times its hot figure (bench/README.md,
    # session 20).
    ly, lu, lv = y.line_size, u.line_size, v.line_size
    shape = (r1 - r0, c1 - c0)
    return (
        np.ndarray(
            (min(2 * r1, height) - 2 * r0, min(2 * c1, width) - 2 * c0),
            np.uint8,
            y,
            2 * (r0 * ly + c0),
            (ly, 1),
        ),
        np.ndarray(shape, np.uint8, u, r0 * lu + c0, (lu, 1)),
        np.ndarray(shape, np.uint8, v, r0 * lv + c0, (lv, 1)),
    )


def chroma_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of a yuv420p chroma plane: rounded up (libav's own layout)."""
    return (width + 1) // 2, (height + 1) // 2


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


@dataclass(frozen=True)
class PreparedMask:
    """A chroma-resolution mask ready to be painted on many frames: ``box`` (chroma rows
    r0:r1, columns c0:c1; None when nothing is masked), ``chroma`` the box's cells and
    ``luma`` the box's luma pixels (each cell's 2x2 block), ``cells`` the masked cells.
    Read-only: the stage shares one between frames."""

    mask: BoolMask
    box: tuple[int, int, int, int] | None
    chroma: BoolMask
    luma: BoolMask
    cells: int

    @functools.cached_property
    def black(self) -> tuple[U8, U8, U8, U8]:
        """The solid fill in :data:`BLACK_YUV` as bytes to AND and to OR into the box:
        luma keep (0 under the mask, 255 elsewhere), chroma keep, luma fill and chroma
        fill (the colour under the mask, 0 elsewhere). Two whole-box bitwise passes a
        plane paint faster than a masked copy (``np.copyto(where=)``): about 8 us less a
        720p frame at the benchmark's mask. Made at the second paint, kept with the mask
        (:meth:`painted_before`)."""
        keep_luma = np.where(self.luma, 0, 255).astype(np.uint8)
        keep_chroma = np.where(self.chroma, 0, 255).astype(np.uint8)
        fill_luma = ~keep_luma & np.uint8(BLACK_YUV[0])
        fill_chroma = ~keep_chroma & np.uint8(BLACK_YUV[1])  # U and V alike
        for array in (keep_luma, keep_chroma, fill_luma, fill_chroma):
            array.flags.writeable = False
        return keep_luma, keep_chroma, fill_luma, fill_chroma

    def painted_before(self) -> bool:
        """False at the first call, True after: making the fill bytes costs more than
        one masked copy, so a mask painted once (a moving camera's, new every frame) is
        painted with masked copies, and one painted again (a kept projection, a held
        plan) with :attr:`black`."""
        if self.__dict__.get("_painted"):
            return True
        self.__dict__["_painted"] = True  # frozen: not an attribute, a mark in its dict
        return False


def prepare(mask: BoolMask) -> PreparedMask:
    """Bounding box and box masks of ``mask`` (computed once per projection)."""
    mask = np.asarray(mask, dtype=bool)
    box = _bbox(mask)
    if box is None:
        empty = np.zeros((0, 0), dtype=bool)
        prepared = PreparedMask(mask, None, empty, empty, 0)
    else:
        r0, r1, c0, c1 = box
        chroma = np.ascontiguousarray(mask[r0:r1, c0:c1])
        # Luma inherits its cell's decision: a mask edge on an odd luma pixel covers the
        # whole 2x2 block, so luma and chroma agree (rounded outward, never inward).
        luma = np.repeat(np.repeat(chroma, 2, axis=0), 2, axis=1)
        prepared = PreparedMask(mask, box, chroma, luma, int(chroma.sum()))
    # Shared between frames: the box masks cannot be changed by accident.
    prepared.chroma.flags.writeable = False
    prepared.luma.flags.writeable = False
    return prepared


def paint(
    planes: Planes,
    mask: BoolMask | PreparedMask,
    style: PaintStyle = PaintStyle.SOLID,
    *,
    colour: tuple[int, int, int] = BLACK_YUV,
    block: int = 16,
) -> int:
    """Paint the chroma-resolution ``mask`` (or what :func:`prepare` made of it) onto
    ``planes``; returns the masked luma pixels (4 per cell; at an odd picture edge some
    of a cell's block lies outside the picture and is counted anyway).

    ``solid`` (default) fills with ``colour`` (Y, U, V); ``pixelate`` replaces every masked
    pixel by the mean of its ``block`` x ``block`` luma cell (chroma likewise), which keeps
    only coarse shapes and average colours.
    """
    prepared = mask if isinstance(mask, PreparedMask) else prepare(mask)
    _check_shape(planes, prepared)
    if prepared.box is None:
        return 0
    if style is PaintStyle.SOLID:
        _fill(_box_views(planes, prepared.box), prepared, colour)
    else:
        _pixelate(planes, prepared.mask, max(2, block - block % 2))
    return prepared.cells * 4


def _check_shape(planes: Planes, prepared: PreparedMask) -> None:
    if prepared.mask.shape != planes.u.shape:
        raise ValueError(
            f"mask shape {prepared.mask.shape} does not match chroma planes {planes.u.shape}"
        )


def _box_views(planes: Planes, box: tuple[int, int, int, int]) -> tuple[U8, U8, U8]:
    """The views of the chroma ``box`` (rows r0:r1, columns c0:c1) in each plane: luma's
    is the box's 2x2 blocks (cut short at an odd picture edge)."""
    r0, r1, c0, c1 = box
    return (
        planes.y[2 * r0 : 2 * r1, 2 * c0 : 2 * c1],
        planes.u[r0:r1, c0:c1],
        planes.v[r0:r1, c0:c1],
    )


def _fill(
    views: tuple[U8, U8, U8],
    prepared: PreparedMask,
    colour: tuple[int, int, int],
    buffers: BoxBuffers | None = None,
) -> None:
    """Paint ``colour`` into the box ``views`` under the mask. Black on a mask painted
    before: each view becomes itself AND keep OR fill (:attr:`PreparedMask.black`),
    worked out in ``buffers.painted`` from ``buffers.copies`` (the views' pixels, just
    copied) and written to the view in one pass (None: in the views themselves);
    otherwise masked copies of the colour. The line stride is the views' own, nothing
    is converted, and only the box is visited."""
    y, u, v = views
    if colour == BLACK_YUV and prepared.painted_before():
        keep_y, keep_c, fill_y, fill_c = prepared.black
        # An odd picture's last chroma cell covers one luma row/column only.
        rows, cols = y.shape
        if keep_y.shape != y.shape:
            keep_y, fill_y = keep_y[:rows, :cols], fill_y[:rows, :cols]
        if buffers is None:
            keeps, fills = (keep_y, keep_c, keep_c), (fill_y, fill_c, fill_c)
            for view, keep, fill in zip(views, keeps, fills, strict=True):
                np.bitwise_and(view, keep, out=view)
                np.bitwise_or(view, fill, out=view)
            return
        # In the small contiguous buffers, then one strided write a plane: no array
        # allocated a frame, 15 % fewer instructions a held frame (bench/README.md,
        # session 18). Written out plane by plane: no loop to run a frame (session 21).
        (cy, cu, cv), (py, pu, pv) = buffers.copies, buffers.painted
        np.bitwise_or(np.bitwise_and(cy, keep_y, out=py), fill_y, out=py)
        np.bitwise_or(np.bitwise_and(cu, keep_c, out=pu), fill_c, out=pu)
        np.bitwise_or(np.bitwise_and(cv, keep_c, out=pv), fill_c, out=pv)
        y[...], u[...], v[...] = py, pu, pv
        return
    # The views still hold their own pixels (copied to ``buffers`` if any): masked
    # copies of the colour.
    np.copyto(u, colour[1], where=prepared.chroma)
    np.copyto(v, colour[2], where=prepared.chroma)
    np.copyto(y, colour[0], where=prepared.luma[: y.shape[0], : y.shape[1]])


@dataclass(frozen=True)
class BoxBuffers:
    """Arrays for one box's planes that a solid paint (:func:`save_and_paint`) fills
    frame after frame instead of allocating new ones: ``copies`` of what it paints
    over, and the ``painted`` box worked out before it is written. One paint uses them
    at a time: the caller hands them back (``Saved.buffers``) once it has restored."""

    copies: tuple[U8, U8, U8]
    painted: tuple[U8, U8, U8]

    @classmethod
    def like(cls, views: tuple[U8, U8, U8]) -> BoxBuffers:
        def shaped() -> tuple[U8, U8, U8]:
            y, u, v = views
            return (
                np.empty(y.shape, np.uint8),
                np.empty(u.shape, np.uint8),
                np.empty(v.shape, np.uint8),
            )

        return cls(shaped(), shaped())

    def fit(self, views: tuple[U8, U8, U8]) -> bool:
        y, u, v = self.copies
        return y.shape == views[0].shape and u.shape == views[1].shape and v.shape == views[2].shape


class Saved(NamedTuple):
    """The pixels under a prepared mask's box as they were before a solid paint
    (:func:`save_and_paint`): the box's view in each plane and a copy of it (in
    ``buffers.copies``), to be put back by :func:`restore`. A named tuple: one is made
    for every frame painted, and a frozen dataclass costs several calls to make."""

    views: tuple[U8, U8, U8]
    buffers: BoxBuffers

    @property
    def copies(self) -> tuple[U8, U8, U8]:
        return self.buffers.copies


def save_and_paint(
    planes: Planes,
    prepared: PreparedMask,
    colour: tuple[int, int, int] = BLACK_YUV,
    buffers: BoxBuffers | None = None,
) -> tuple[Saved | None, int]:
    """A solid :func:`paint` of ``prepared`` that first copies what it paints over (None:
    it paints nothing); returns the copy and the masked luma pixels. The box is cut out
    of the planes once, for the copy, the paint and the :func:`restore`. ``buffers``
    (from an earlier ``Saved``, restored since): reused when they fit the box."""
    _check_shape(planes, prepared)
    if prepared.box is None:
        return None, 0
    return _save_and_fill(_box_views(planes, prepared.box), prepared, colour, buffers)


def save_and_paint_frame(
    frame: Any,
    prepared: PreparedMask,
    colour: tuple[int, int, int] = BLACK_YUV,
    buffers: BoxBuffers | None = None,
) -> tuple[Saved | None, int]:
    """:func:`save_and_paint` on a PyAV yuv420p frame, its box cut straight from the
    plane buffers (:func:`frame_box_views`)."""
    if prepared.box is None:
        return None, 0
    views = frame_box_views(frame, prepared.box, prepared.mask.shape)
    return _save_and_fill(views, prepared, colour, buffers)


def _save_and_fill(
    views: tuple[U8, U8, U8],
    prepared: PreparedMask,
    colour: tuple[int, int, int],
    buffers: BoxBuffers | None,
) -> tuple[Saved, int]:
    if buffers is None or not buffers.fit(views):
        buffers = BoxBuffers.like(views)
    # Slice assignment, not np.copyto: no Python-level array-function dispatch a copy.
    cy, cu, cv = buffers.copies
    cy[...], cu[...], cv[...] = views
    saved = Saved(views, buffers)
    try:
        _fill(views, prepared, colour, buffers)
    except BaseException:
        restore(saved)  # nothing half painted is left behind
        raise
    return saved, prepared.cells * 4


def restore(saved: Saved | None) -> None:
    """Put back what :func:`save_and_paint` copied."""
    if saved is None:
        return
    (y, u, v), buffers = saved
    y[...], u[...], v[...] = buffers.copies


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
