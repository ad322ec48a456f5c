"""PTZ-aware mask projection and rasterising (docs/design/mask-geometry.md). Pure: numpy
and math, no I/O.

A mask is a polygon on the camera's view sphere, vertices in (pan, tilt) degrees, edges
straight in (pan, tilt) (as the simulator's private zones are drawn). For a pose this
module:

1. densifies the edges (at most ``EDGE_STEP_DEG`` apart) so that curved images of edges
   are followed;
2. rotates every vertex into camera coordinates (right, up, forward) for the pose;
3. clips the polygon against the near plane ``forward >= NEAR`` *in 3D* (a polygon partly
   behind the camera keeps only its part in front; projecting vertices behind the camera
   would mirror them onto the image);
4. projects with the pinhole model of :class:`vms.camera_model.Calibration` (principal
   point at the image centre, pixel centres at half-integers, as the simulator);
5. clips against the image rectangle (grown by a guard band).

Rasterisation is *conservative* at chroma resolution (2x2 luma blocks, the unit yuv420p
shares colour over): a block is masked when its centre is inside a polygon or a polygon
edge passes through it, then the mask is dilated by the margin (a square, which contains
the disc). Which poses to project for and by what margin (pose uncertainty, INV-5) is
decided by :mod:`privacy_masks.planning`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vms.camera_model import Calibration, Pose

F64 = NDArray[np.float64]
BoolMask = NDArray[np.bool_]

EDGE_STEP_DEG = 0.5  # edges of sphere polygons are subdivided at least this finely
NEAR = 1e-3  # near plane (forward component of a unit direction)
GUARD_PX = 8.0  # image polygons are clipped to the image grown by this much


@dataclass(frozen=True)
class SpherePolygon:
    """A mask on the view sphere: (pan, tilt) vertices in degrees, 3 or more."""

    name: str
    vertices: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        validate_sphere_polygon(self.vertices)


def validate_sphere_polygon(vertices: Sequence[Sequence[float]]) -> None:
    """Raise ValueError unless ``vertices`` is a usable mask polygon (names the value)."""
    if len(vertices) < 3:
        raise ValueError(f"a polygon needs 3 or more vertices, got {len(vertices)}")
    if len(vertices) > 256:
        raise ValueError(f"a polygon may have at most 256 vertices, got {len(vertices)}")
    pans = []
    for vertex in vertices:
        if len(vertex) != 2:
            raise ValueError(f"vertex {list(vertex)!r} is not [pan, tilt]")
        pan, tilt = float(vertex[0]), float(vertex[1])
        if not (math.isfinite(pan) and -180.0 <= pan <= 180.0):
            raise ValueError(f"pan {vertex[0]!r} is outside -180..180")
        if not (math.isfinite(tilt) and -90.0 <= tilt <= 90.0):
            raise ValueError(f"tilt {vertex[1]!r} is outside -90..90")
        pans.append(pan)
    unwrapped = unwrap_pans(np.asarray(pans, dtype=np.float64))
    if float(unwrapped.max() - unwrapped.min()) > 180.0:
        raise ValueError("a polygon may span at most 180 degrees of pan")


def unwrap_pans(pans: F64) -> F64:
    """Pans made continuous along the polygon (each step taken the short way round)."""
    steps = (np.diff(pans) + 180.0) % 360.0 - 180.0
    return np.concatenate([pans[:1], pans[0] + np.cumsum(steps)])


# -- sphere <-> camera ---------------------------------------------------------------


def densify(vertices: Sequence[tuple[float, float]], step: float = EDGE_STEP_DEG) -> F64:
    """Closed polygon resampled along its (pan, tilt)-straight edges, (N, 2) degrees."""
    pts = np.asarray(vertices, dtype=np.float64)
    pts[:, 0] = unwrap_pans(pts[:, 0])
    nxt = np.roll(pts, -1, axis=0)
    d = nxt - pts
    d[:, 0] = (d[:, 0] + 180.0) % 360.0 - 180.0  # closing edge the short way too
    lengths = np.hypot(d[:, 0], d[:, 1])
    counts = np.maximum(1, np.ceil(lengths / step).astype(np.intp))
    edge = np.repeat(np.arange(len(pts)), counts)
    starts = np.cumsum(counts) - counts
    frac = (np.arange(int(counts.sum())) - np.repeat(starts, counts)) / np.repeat(counts, counts)
    return np.asarray(pts[edge] + d[edge] * frac[:, None], dtype=np.float64)


def to_camera(pose: Pose, pan: F64, tilt: F64) -> F64:
    """Unit directions (pan, tilt degrees) in camera coordinates (right, up, forward)."""
    dp = np.radians(pan - pose.pan)
    t = np.radians(tilt)
    right = np.cos(t) * np.sin(dp)
    up = np.sin(t)
    fwd = np.cos(t) * np.cos(dp)
    ct, st = math.cos(math.radians(pose.tilt)), math.sin(math.radians(pose.tilt))
    return np.stack([right, -fwd * st + up * ct, fwd * ct + up * st], axis=-1)


def from_camera(pose: Pose, xyz: F64) -> tuple[F64, F64]:
    """(pan, tilt) degrees of camera-frame directions (inverse of :func:`to_camera`)."""
    right, up_c, fwd_c = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    ct, st = math.cos(math.radians(pose.tilt)), math.sin(math.radians(pose.tilt))
    fwd = fwd_c * ct - up_c * st
    up = fwd_c * st + up_c * ct
    pan = np.degrees(np.arctan2(right, fwd)) + pose.pan
    tilt = np.degrees(np.arctan2(up, np.hypot(right, fwd)))
    return (pan + 180.0) % 360.0 - 180.0, tilt


def clip_near(points: F64, near: float = NEAR) -> F64:
    """Sutherland-Hodgman clip of a closed 3D polygon (N, 3) to ``forward >= near``."""
    if len(points) == 0:
        return points
    z = points[:, 2]
    inside = z >= near
    if inside.all():
        return points
    if not inside.any():
        return points[:0]
    out: list[F64] = []
    n = len(points)
    for i in range(n):
        a, b = points[i], points[(i + 1) % n]
        a_in, b_in = bool(inside[i]), bool(inside[(i + 1) % n])
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + (b - a) * t)
    return np.asarray(out, dtype=np.float64)


def clip_rect(poly: F64, x0: float, y0: float, x1: float, y1: float) -> F64:
    """Sutherland-Hodgman clip of a closed 2D polygon (N, 2) to a rectangle."""
    for axis, bound, keep_greater in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if len(poly) == 0:
            return poly
        v = poly[:, axis]
        inside = v >= bound if keep_greater else v <= bound
        if inside.all():
            continue
        if not inside.any():
            return poly[:0]
        nxt = np.roll(poly, -1, axis=0)
        nxt_in = np.roll(inside, -1)
        out: list[F64] = []
        for a, b, a_in, b_in in zip(poly, nxt, inside, nxt_in, strict=True):
            if a_in:
                out.append(a)
            if a_in != b_in:
                t = (bound - a[axis]) / (b[axis] - a[axis])
                out.append(a + (b - a) * t)
        poly = np.asarray(out, dtype=np.float64)
    return poly


def project_polygon(
    vertices: Sequence[tuple[float, float]],
    pose: Pose,
    calibration: Calibration,
    size: tuple[int, int],
    guard: float = GUARD_PX,
) -> F64:
    """Image polygon (N, 2) in luma pixels of a sphere polygon at ``pose``, clipped to the
    image grown by ``guard`` pixels; empty (0, 2) when nothing of it is in view."""
    width, height = size
    dense = densify(vertices)
    xyz = clip_near(to_camera(pose, dense[:, 0], dense[:, 1]))
    if len(xyz) < 3:
        return np.zeros((0, 2))
    f = calibration.focal_px(pose.zoom, width)
    img = np.stack(
        [width / 2.0 + f * xyz[:, 0] / xyz[:, 2], height / 2.0 - f * xyz[:, 1] / xyz[:, 2]],
        axis=-1,
    )
    clipped = clip_rect(img, -guard, -guard, width + guard, height + guard)
    return clipped if len(clipped) >= 3 else np.zeros((0, 2))


def unproject_points(
    points01: Sequence[Sequence[float]],
    pose: Pose,
    calibration: Calibration,
    size: tuple[int, int] = (1000, 1000),
) -> list[tuple[float, float]]:
    """(pan, tilt) degrees of image points given in 0..1 of the image at ``pose``.

    The result does not depend on ``size`` beyond the aspect ratio (x and y are fractions
    of the width and height of the view the operator drew on).
    """
    width, height = size
    f = calibration.focal_px(pose.zoom, width)
    pts = np.asarray(points01, dtype=np.float64)
    xyz = np.stack(
        [(pts[:, 0] * width - width / 2.0) / f, (height / 2.0 - pts[:, 1] * height) / f],
        axis=-1,
    )
    xyz = np.concatenate([xyz, np.ones((len(pts), 1))], axis=-1)
    xyz /= np.linalg.norm(xyz, axis=-1, keepdims=True)
    pan, tilt = from_camera(pose, xyz)
    return [(float(p), float(t)) for p, t in zip(pan, tilt, strict=True)]


def unproject_polygon(
    points01: Sequence[Sequence[float]],
    pose: Pose,
    calibration: Calibration,
    size: tuple[int, int],
    step01: float = 0.05,
) -> tuple[tuple[float, float], ...]:
    """A sphere polygon for an image polygon drawn in 0..1 coordinates at ``pose``.

    Straight image edges are great circles on the sphere, not straight in (pan, tilt), so
    each drawn edge is subdivided (every ``step01`` of the image) before unprojection:
    the stored polygon then follows what the operator drew to within a small fraction
    of a degree. Raises ValueError for points outside 0..1.
    """
    if len(points01) < 3:
        raise ValueError(f"an image polygon needs 3 or more points, got {len(points01)}")
    pts = np.asarray(points01, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError("image_polygon must be a list of [x, y] pairs")
    if not np.isfinite(pts).all() or pts.min() < 0.0 or pts.max() > 1.0:
        raise ValueError("image_polygon coordinates must be within 0..1")
    nxt = np.roll(pts, -1, axis=0)
    out = []
    for a, b in zip(pts, nxt, strict=True):
        n = max(1, math.ceil(float(np.abs(b - a).max()) / step01))
        for i in range(n):
            out.append(a + (b - a) * (i / n))
    return tuple(unproject_points(out, pose, calibration, size))


# -- rasterisation -------------------------------------------------------------------


def rasterise(polygons: Iterable[F64], size: tuple[int, int], pad: int = 0) -> BoolMask:
    """Conservative chroma-resolution mask of the *union* of luma-pixel polygons, shaped
    like a yuv420p chroma plane: ``(ceil(height/2), ceil(width/2))`` (an odd last row or
    column of pixels has cells of its own).

    A 2x2 block is set when its centre is inside one of the polygons (each polygon by the
    even-odd rule on its own: two overlapping masks are both painted, their overlap
    too) or a polygon edge passes through it, so every block a polygon touches is set.
    With ``pad`` the canvas is grown by ``pad`` blocks on every side (so that off-image
    parts can be dilated into the image before cropping).
    """
    width, height = size
    hc, wc = (height + 1) // 2 + 2 * pad, (width + 1) // 2 + 2 * pad
    out = np.zeros((hc, wc), dtype=bool)
    for poly in polygons:
        if len(poly) >= 3:
            _rasterise_one(out, poly / 2.0 + pad)  # padded chroma px
    return out


def _rasterise_one(out: BoolMask, shape: F64) -> None:
    """``out |= `` the conservative raster of one polygon (chroma cells), worked on the
    polygon's bounding box only (the cells it can touch)."""
    hc, wc = out.shape
    r0 = int(np.clip(np.floor(shape[:, 1].min()) - 1, 0, hc))
    r1 = int(np.clip(np.ceil(shape[:, 1].max()) + 2, 0, hc))
    c0 = int(np.clip(np.floor(shape[:, 0].min()) - 1, 0, wc))
    c1 = int(np.clip(np.ceil(shape[:, 0].max()) + 2, 0, wc))
    if r0 >= r1 or c0 >= c1:
        return
    bh, bw = r1 - r0, c1 - c0
    toggles = np.zeros((bh, bw + 1), dtype=np.int8)
    outline = np.zeros((bh, bw), dtype=bool)
    a = shape - np.array([c0, r0], dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    _fill_toggles(toggles, a, b)
    _mark_outline(outline, a, b)
    inside = (np.cumsum(toggles, axis=1, dtype=np.int16)[:, :bw] & 1).astype(bool)
    out[r0:r1, c0:c1] |= inside | outline


def _fill_toggles(toggles: NDArray[np.int8], a: F64, b: F64) -> None:
    hc, wc1 = toggles.shape
    y_lo, y_hi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    r0 = np.clip(np.ceil(y_lo - 0.5), 0, hc).astype(np.intp)
    r1 = np.clip(np.ceil(y_hi - 0.5), 0, hc).astype(np.intp)
    counts = np.maximum(r1 - r0, 0)
    total = int(counts.sum())
    if total == 0:
        return
    edge = np.repeat(np.arange(len(a)), counts)
    rows = np.repeat(r0, counts) + (
        np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    yc = rows + 0.5
    ax, ay, bx, by = a[edge, 0], a[edge, 1], b[edge, 0], b[edge, 1]
    x_at = ax + (yc - ay) * (bx - ax) / (by - ay)
    cols = np.clip(np.ceil(x_at - 0.5), 0, wc1 - 1).astype(np.intp)
    np.add.at(toggles, (rows, cols), 1)


def _mark_outline(outline: BoolMask, a: F64, b: F64) -> None:
    hc, wc = outline.shape
    lengths = np.abs(b - a).max(axis=1)
    counts = np.maximum(2, np.ceil(lengths / 0.5).astype(np.intp) + 1)
    edge = np.repeat(np.arange(len(a)), counts)
    frac = (np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)) / (
        np.repeat(counts, counts) - 1
    )
    pts = a[edge] + (b[edge] - a[edge]) * frac[:, None]
    cols = np.floor(pts[:, 0]).astype(np.intp)
    rows = np.floor(pts[:, 1]).astype(np.intp)
    ok = (cols >= 0) & (cols < wc) & (rows >= 0) & (rows < hc)
    outline[rows[ok], cols[ok]] = True


def dilate(mask: BoolMask, radius: int) -> BoolMask:
    """Square dilation by ``radius`` cells (separable running max via cumulative sums)."""
    if radius <= 0 or not mask.any():
        return mask
    out = mask
    for axis in (0, 1):
        n = out.shape[axis]
        c = np.cumsum(out, axis=axis, dtype=np.int32)
        pad = [(0, 0), (0, 0)]
        pad[axis] = (1, 0)
        c = np.pad(c, pad)
        hi = np.minimum(np.arange(n) + radius + 1, n)
        lo = np.maximum(np.arange(n) - radius, 0)
        out = (c[hi, :] - c[lo, :] if axis == 0 else c[:, hi] - c[:, lo]) > 0
    return np.asarray(out)


def dilate_into(out: BoolMask, raster: BoolMask, radius: int, pad: int) -> None:
    """``out |= dilate(raster, radius)`` cropped by ``pad``, computed on the raster's
    bounding box grown by the radius only (a mask covers a small part of the picture)."""
    rows = np.flatnonzero(raster.any(axis=1))
    if rows.size == 0:
        return
    cols = np.flatnonzero(raster.any(axis=0))
    height, width = raster.shape
    r0, r1 = max(0, int(rows[0]) - radius), min(height, int(rows[-1]) + radius + 1)
    c0, c1 = max(0, int(cols[0]) - radius), min(width, int(cols[-1]) + radius + 1)
    grown = dilate(raster[r0:r1, c0:c1], radius)
    hc, wc = out.shape
    # The box in picture coordinates, clipped to the picture.
    y0, y1 = max(r0 - pad, 0), min(r1 - pad, hc)
    x0, x1 = max(c0 - pad, 0), min(c1 - pad, wc)
    if y0 < y1 and x0 < x1:
        out[y0:y1, x0:x1] |= grown[y0 + pad - r0 : y1 + pad - r0, x0 + pad - c0 : x1 + pad - c0]
