"""PTZ-aware mask geometry (docs/design/mask-geometry.md). Pure: numpy and math, no I/O.

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
the disc). Pose uncertainty is handled by :func:`plan_masks` (INV-5): no pose or a stale
pose blanks the frame; otherwise the projection is the union over the recent poses,
dilated by angular speed x (age of the pose + latency allowance) plus a base margin.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from vms.camera_model import Calibration, Pose, PoseSample

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
    unwrapped = _unwrap(np.asarray(pans, dtype=np.float64))
    if float(unwrapped.max() - unwrapped.min()) > 180.0:
        raise ValueError("a polygon may span at most 180 degrees of pan")


def _unwrap(pans: F64) -> F64:
    """Pans made continuous along the polygon (each step taken the short way round)."""
    steps = (np.diff(pans) + 180.0) % 360.0 - 180.0
    return np.concatenate([pans[:1], pans[0] + np.cumsum(steps)])


# -- sphere <-> camera ---------------------------------------------------------------


def densify(vertices: Sequence[tuple[float, float]], step: float = EDGE_STEP_DEG) -> F64:
    """Closed polygon resampled along its (pan, tilt)-straight edges, (N, 2) degrees."""
    pts = np.asarray(vertices, dtype=np.float64)
    pts[:, 0] = _unwrap(pts[:, 0])
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
    """Conservative chroma-resolution mask ``(height/2, width/2)`` of luma-pixel polygons.

    A 2x2 block is set when its centre is inside a polygon (even-odd rule) or a polygon
    edge passes through it, so every block a polygon touches is set. With ``pad`` the
    canvas is grown by ``pad`` blocks on every side (so that off-image parts can be
    dilated into the image before cropping).
    """
    width, height = size
    hc, wc = height // 2 + 2 * pad, width // 2 + 2 * pad
    out = np.zeros((hc, wc), dtype=bool)
    shapes = [poly / 2.0 + pad for poly in polygons if len(poly) >= 3]  # padded chroma px
    if not shapes:
        return out
    # Work on the polygons' bounding box only (cells they can touch), then place it.
    every = np.concatenate(shapes)
    r0 = int(np.clip(np.floor(every[:, 1].min()) - 1, 0, hc))
    r1 = int(np.clip(np.ceil(every[:, 1].max()) + 2, 0, hc))
    c0 = int(np.clip(np.floor(every[:, 0].min()) - 1, 0, wc))
    c1 = int(np.clip(np.ceil(every[:, 0].max()) + 2, 0, wc))
    if r0 >= r1 or c0 >= c1:
        return out
    bh, bw = r1 - r0, c1 - c0
    toggles = np.zeros((bh, bw + 1), dtype=np.int8)
    outline = np.zeros((bh, bw), dtype=bool)
    offset = np.array([c0, r0], dtype=np.float64)
    for shape in shapes:
        a = shape - offset
        b = np.roll(a, -1, axis=0)
        _fill_toggles(toggles, a, b)
        _mark_outline(outline, a, b)
    inside = (np.cumsum(toggles, axis=1, dtype=np.int16)[:, :bw] & 1).astype(bool)
    out[r0:r1, c0:c1] = inside | outline
    return out


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


# -- pose uncertainty (INV-5) --------------------------------------------------------


@dataclass(frozen=True)
class MaskSettings:
    """How masks follow a moving camera. Defaults are the ``[privacy_masks]`` config.

    ``stale_moving_seconds``/``stale_idle_seconds``: a pose older than this blanks the
    frame (INV-5). ``latency_seconds``: how far pose and frame timestamps may be off
    from the true instants (pose replies stamped on receipt, capture-time estimates);
    every bound below is widened by it. ``base_margin_deg``/``base_margin_px``: always
    added. ``assumed_speed_deg_s``/``assumed_zoom_rate``: the camera's top speeds,
    assumed while a move's speed is not measured (just commanded, just started).
    ``speed_safety``: measured speeds are multiplied by it (acceleration, jitter).
    ``max_anchors``: more anchor poses than this are merged into one covering anchor.
    """

    stale_moving_seconds: float = 1.0
    stale_idle_seconds: float = 2.0
    latency_seconds: float = 0.15
    base_margin_deg: float = 0.3
    base_margin_px: float = 2.0
    assumed_speed_deg_s: float = 90.0
    assumed_zoom_rate: float = 0.5
    speed_safety: float = 2.0
    max_anchors: int = 6

    @property
    def history_seconds(self) -> float:
        """How far before a frame the pose history must reach: the sample before the
        newest may be up to a poll period (below the idle stale limit) plus its reply
        older, so twice the stale limit."""
        return self.latency_seconds + 2.0 * max(self.stale_idle_seconds, self.stale_moving_seconds)


@dataclass(frozen=True)
class Anchor:
    """A pose the camera may be near: every pose within ``radius_deg`` (angle) and
    ``zoom_radius`` (zoom units) of it is covered."""

    pose: Pose
    radius_deg: float = 0.0
    zoom_radius: float = 0.0


@dataclass(frozen=True)
class MaskPlan:
    """What to paint for one frame: ``blank`` (with the reason), or the union of the
    masks projected at each anchor, dilated by ``base_deg`` + the anchor's radius (and
    ``extra_px`` pixels)."""

    blank: bool
    reason: str
    anchors: tuple[Anchor, ...] = ()
    base_deg: float = 0.0
    moving: bool = False
    extra_px: float = field(default=0.0)

    @property
    def poses(self) -> tuple[Pose, ...]:
        return tuple(a.pose for a in self.anchors)


def angle_between(a: Pose, b: Pose) -> float:
    """An upper bound (degrees) of how far any direction moves in the picture between
    poses ``a`` and ``b``: |dpan| + |dtilt|. The camera rotation from one to the other
    is a pan rotation conjugated by tilts followed by a tilt rotation, and rotation
    angles are subadditive; no direction moves by more than the rotation angle."""
    return abs(_pan_diff(a.pan, b.pan)) + abs(b.tilt - a.tilt)


def _pan_diff(a: float, b: float) -> float:
    return (b - a + 180.0) % 360.0 - 180.0


def _box_anchor(a: Pose, b: Pose) -> Anchor:
    """Covers every pose in the (pan, tilt, zoom) box spanned by ``a`` and ``b``: the
    pose of a camera between two samples when no command came in between (each axis of
    an ONVIF move runs monotonically, at any speed)."""
    dp = _pan_diff(a.pan, b.pan)
    centre = Pose(
        (a.pan + dp / 2.0 + 180.0) % 360.0 - 180.0,
        (a.tilt + b.tilt) / 2.0,
        (a.zoom + b.zoom) / 2.0,
    )
    return Anchor(centre, (abs(dp) + abs(b.tilt - a.tilt)) / 2.0, abs(b.zoom - a.zoom) / 2.0)


def _merge(anchors: Sequence[Anchor]) -> Anchor:
    """One anchor covering all of ``anchors`` (centre of their bounding box)."""
    pans = _unwrap(np.asarray([a.pose.pan for a in anchors], dtype=np.float64))
    tilts = [a.pose.tilt for a in anchors]
    zooms = [a.pose.zoom for a in anchors]
    centre = Pose(
        (float(pans.min() + pans.max()) / 2.0 + 180.0) % 360.0 - 180.0,
        (min(tilts) + max(tilts)) / 2.0,
        (min(zooms) + max(zooms)) / 2.0,
    )
    radius = max(angle_between(centre, a.pose) + a.radius_deg for a in anchors)
    zoom_radius = max(abs(a.pose.zoom - centre.zoom) + a.zoom_radius for a in anchors)
    return Anchor(centre, radius, zoom_radius)


def _speed_bound(
    observed: Sequence[PoseSample],
    last_command: dt.datetime | None,
    settings: MaskSettings,
) -> tuple[float, float, bool]:
    """(angular speed deg/s, zoom rate 1/s, measured) bounds for the current move.

    Measured from pairs of *moving* observed samples of the last second that were both
    taken after the last command (plus the timestamp allowance), times the safety
    factor; when no such pair exists (a move just commanded or just started), the
    assumed top speeds."""
    grace = dt.timedelta(seconds=settings.latency_seconds)
    newest = observed[-1]
    after = newest.at - dt.timedelta(seconds=1.0)
    if last_command is not None:
        after = max(after, last_command + grace)
    usable = [s for s in observed if s.at >= after]
    speed = zoom_rate = 0.0
    measured = False
    for a, b in itertools.pairwise(usable):
        seconds = (b.at - a.at).total_seconds()
        if seconds <= 0.02 or not (a.moving and b.moving):
            continue
        measured = True
        speed = max(speed, angle_between(a.pose, b.pose) / seconds)
        zoom_rate = max(zoom_rate, abs(b.pose.zoom - a.pose.zoom) / seconds)
    if not measured:
        return (
            settings.assumed_speed_deg_s * settings.speed_safety,
            settings.assumed_zoom_rate * settings.speed_safety,
            False,
        )
    return speed * settings.speed_safety, zoom_rate * settings.speed_safety, True


def plan_masks(
    frame_at: dt.datetime,
    latest: PoseSample | None,
    history: Sequence[PoseSample],
    settings: MaskSettings,
) -> MaskPlan:
    """Decide how to mask a frame captured at ``frame_at`` (INV-5, fail closed;
    docs/design/mask-geometry.md, "Pose uncertainty").

    ``history`` holds the samples from ``settings.history_seconds`` before the frame on
    (it may or may not include ``latest``), oldest first; commanded samples mark the
    instant a move was commanded (their pose is not used). Blank when there is no
    observed pose, or the newest is stale, or none is old enough to precede the frame.
    Otherwise the camera's pose at ``frame_at`` is bounded by *anchors*:

    - between two observed samples with no command in between (or near), the pose lies
      in the box the two span (each axis moves monotonically): one anchor per pair, from
      the last sample before ``frame_at - latency`` to the first after ``frame_at +
      latency``;
    - over a command, or after the newest sample, by speed: within speed x time of a
      sample, the speed measured (times the safety factor) or, while unmeasured, the
      assumed top speed.
    """
    if latest is None:
        return MaskPlan(True, "no pose (INV-5)")
    samples = sorted({*history, latest}, key=lambda s: s.at)
    observed = [s for s in samples if not s.commanded]
    if not observed:
        return MaskPlan(True, "only commanded poses, none observed (INV-5)")
    commands = [s.at for s in samples if s.commanded]
    newest = observed[-1]
    grace = dt.timedelta(seconds=settings.latency_seconds)
    # A reply stamped up to ``grace`` after a command may have been read before it: such
    # a command is not known to have taken effect (nor to have been a no-op) yet.
    unsettled = any(c > newest.at - grace for c in commands)
    moving = newest.moving or unsettled
    age = max(0.0, (frame_at - newest.at).total_seconds())
    limit = settings.stale_moving_seconds if moving else settings.stale_idle_seconds
    if age > limit:
        return MaskPlan(True, f"pose older than {limit:.1f} s (INV-5)")
    early = frame_at - grace
    before = [s for s in observed if s.at <= early]
    if not before:
        return MaskPlan(True, "no pose sample precedes the frame (INV-5)")
    speed, zoom_rate, _ = _speed_bound(observed, commands[-1] if commands else None, settings)
    top_speed = max(speed, settings.assumed_speed_deg_s * settings.speed_safety)
    top_zoom = max(zoom_rate, settings.assumed_zoom_rate * settings.speed_safety)
    late = frame_at + grace
    chain = [before[-1]] + [s for s in observed if early < s.at]
    cut = next((i for i, s in enumerate(chain) if s.at >= late), None)
    if cut is not None:
        chain = chain[: cut + 1]
    anchors: list[Anchor] = []
    any_motion = False
    for a, b in itertools.pairwise(chain):
        if any(a.at - grace <= c <= b.at for c in commands):
            # A command in between: axes may have reversed; bound by the top speed. Any
            # instant of the pair is within half its span (stamps may be off by the
            # allowance) of one of the two samples.
            any_motion = True
            half = (b.at - a.at).total_seconds() / 2.0 + settings.latency_seconds
            anchors.append(Anchor(a.pose, top_speed * half, top_zoom * half))
            anchors.append(Anchor(b.pose, top_speed * half, top_zoom * half))
        elif a.pose == b.pose and not (a.moving or b.moving):
            anchors.append(Anchor(a.pose))
        else:
            any_motion = True
            anchors.append(_box_anchor(a.pose, b.pose))
    last = chain[-1]
    if last.at < late:
        # Past the newest sample: extrapolate by speed (none when at rest and no
        # command is pending).
        seconds = (late - last.at).total_seconds()
        if moving:
            any_motion = True
            anchors.append(Anchor(last.pose, speed * seconds, zoom_rate * seconds))
        else:
            anchors.append(Anchor(last.pose))
    anchors = list(dict.fromkeys(anchors))
    if len(anchors) > settings.max_anchors:
        anchors = [_merge(anchors)]
    return MaskPlan(
        False,
        "moving" if any_motion else "still",
        tuple(anchors),
        settings.base_margin_deg,
        any_motion,
        settings.base_margin_px,
    )


def margin_px(
    plan: MaskPlan, anchor: Anchor, calibration: Calibration, size: tuple[int, int]
) -> float:
    """The margin around ``anchor`` in luma pixels (worst case: the image corner, where a
    degree spans the most pixels), zoom uncertainty included."""
    width, height = size
    pose = anchor.pose
    f = calibration.focal_px(pose.zoom, width)
    half_diag = math.hypot(width, height) / 2.0
    corner = math.atan(half_diag / f)
    m = math.radians(min(plan.base_deg + anchor.radius_deg, 80.0))
    angular = f * (math.tan(min(corner + m, math.radians(89.0))) - math.tan(corner))
    # Zoom: f changes by up to df; a point at the corner moves radially by r * df / f.
    f_lo = calibration.focal_px(max(0.0, pose.zoom - anchor.zoom_radius), width)
    f_hi = calibration.focal_px(min(1.0, pose.zoom + anchor.zoom_radius), width)
    radial = half_diag * max(f_hi - f, f - f_lo) / f
    return angular + radial + plan.extra_px


def mask_for_frame(
    polygons: Sequence[SpherePolygon],
    plan: MaskPlan,
    calibration: Calibration,
    size: tuple[int, int],
) -> BoolMask | None:
    """Chroma-resolution mask for a non-blank plan, or ``None`` when the plan is blank."""
    if plan.blank:
        return None
    width, height = size
    hc, wc = height // 2, width // 2
    out = np.zeros((hc, wc), dtype=bool)
    for anchor in plan.anchors:
        pose = anchor.pose
        margin = margin_px(plan, anchor, calibration, size)
        if margin >= max(width, height):
            # The uncertainty exceeds the picture: a mask that may come into view could
            # be anywhere in it.
            if any(_may_be_in_view(p, anchor, plan, calibration, size) for p in polygons):
                out[:] = True
                return out
            continue
        radius = math.ceil(margin / 2.0)
        # Polygons are kept to the image grown by the margin: their off-image parts
        # still dilate into the image.
        guard = 2.0 * radius + GUARD_PX
        pad = math.ceil(guard / 2.0)
        projected = [project_polygon(p.vertices, pose, calibration, size, guard) for p in polygons]
        raster = rasterise(projected, size, pad)
        _dilate_into(out, raster, radius, pad)
    return out


def _dilate_into(out: BoolMask, raster: BoolMask, radius: int, pad: int) -> None:
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


def _may_be_in_view(
    polygon: SpherePolygon,
    anchor: Anchor,
    plan: MaskPlan,
    calibration: Calibration,
    size: tuple[int, int],
) -> bool:
    """Whether ``polygon`` may reach the picture for some pose within the anchor's
    radius: in view at the anchor, or a vertex within the picture's corner angle plus
    the radius of the optical axis (also for polygons behind the anchor's view)."""
    if len(project_polygon(polygon.vertices, anchor.pose, calibration, size)):
        return True
    width, height = size
    # The widest view the zoom radius allows.
    f = calibration.focal_px(max(0.0, anchor.pose.zoom - anchor.zoom_radius), width)
    corner = math.degrees(math.atan(math.hypot(width, height) / 2.0 / f))
    dense = densify(polygon.vertices)
    fwd = to_camera(anchor.pose, dense[:, 0], dense[:, 1])[:, 2]
    off_axis = np.degrees(np.arccos(np.clip(fwd, -1.0, 1.0)))
    return bool(off_axis.min() <= corner + plan.base_deg + anchor.radius_deg)
