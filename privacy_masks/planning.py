"""Mask planning under pose uncertainty (INV-5; docs/design/mask-geometry.md, item 5).
Pure: numpy and math, no I/O.

For a frame captured at an instant, :func:`plan_masks` decides from the recent pose
history whether to blank the frame (no pose, a stale pose: fail closed) or which poses
(*anchors*) the camera may have been near and by what margin each must be dilated;
:func:`mask_for_frame` renders the plan: the union of the masks projected and rasterised
(:mod:`privacy_masks.geometry`) at each anchor, dilated by its margin.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from privacy_masks.geometry import (
    GUARD_PX,
    BoolMask,
    SpherePolygon,
    densify,
    dilate_into,
    project_polygon,
    rasterise,
    to_camera,
    unwrap_pans,
)
from vms.camera_model import Calibration, Pose, PoseSample


@dataclass(frozen=True)
class MaskSettings:
    """How masks follow a moving camera. Defaults are the ``[privacy_masks]`` config.

    ``stale_moving_seconds``/``stale_idle_seconds``: a pose older than this blanks the
    frame (INV-5). Time uncertainty (every bound below is widened by it): a pose
    sample's reading lies within ``PoseSample.uncertainty`` of its stamp (half the
    GetStatus round trip), or within ``latency_seconds`` when the sample does not say;
    a frame's capture instant within ``capture_error_seconds`` of its estimate
    (``recorder/timing.py``). ``base_margin_deg``/``base_margin_px``: always
    added. ``assumed_speed_deg_s``/``assumed_zoom_rate``: the camera's top speeds,
    assumed while a move's speed is not measured (just commanded, just started).
    ``speed_safety``: measured speeds are multiplied by it (acceleration, jitter).
    ``max_anchors``: more anchor poses than this are merged into one covering anchor.
    """

    stale_moving_seconds: float = 1.0
    stale_idle_seconds: float = 2.0
    latency_seconds: float = 0.15
    capture_error_seconds: float = 0.1
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
        return (
            self.latency_seconds
            + self.capture_error_seconds
            + 2.0 * max(self.stale_idle_seconds, self.stale_moving_seconds)
        )


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


def _slack(sample: PoseSample, settings: MaskSettings) -> float:
    """Seconds between ``sample.at`` and the instant the camera read that pose, at most:
    its own measured uncertainty, else the ``latency_seconds`` allowance."""
    if sample.uncertainty is None:
        return settings.latency_seconds
    return sample.uncertainty


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
    pans = unwrap_pans(np.asarray([a.pose.pan for a in anchors], dtype=np.float64))
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
    read after the last command (stamp less its uncertainty), times the safety factor;
    when no such pair exists (a move just commanded or just started), the assumed top
    speeds."""
    newest = observed[-1]
    after = newest.at - dt.timedelta(seconds=1.0)
    usable = [
        s
        for s in observed
        if s.at >= after
        and (
            last_command is None or s.at - dt.timedelta(seconds=_slack(s, settings)) > last_command
        )
    ]
    speed = zoom_rate = 0.0
    measured = False
    for a, b in itertools.pairwise(usable):
        # Between the readings, at least the stamps' distance less both uncertainties
        # (a sample that does not say how far its stamp may be off: the safety factor).
        jitter = (a.uncertainty or 0.0) + (b.uncertainty or 0.0)
        seconds = (b.at - a.at).total_seconds() - jitter
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
      the last sample surely read before the frame's capture to the first surely read
      after it (each sample's stamp give or take its uncertainty, the frame's estimate
      give or take ``capture_error_seconds``);
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

    def slack(sample: PoseSample) -> dt.timedelta:
        return dt.timedelta(seconds=_slack(sample, settings))

    def apart(sample: PoseSample) -> dt.timedelta:
        """How far the sample's reading and the frame's capture may each be from their
        stamps, together: the sample's uncertainty plus the capture-time error, or
        ``latency_seconds`` for both when the sample does not say."""
        if sample.uncertainty is None:
            return dt.timedelta(seconds=settings.latency_seconds)
        return dt.timedelta(seconds=sample.uncertainty + settings.capture_error_seconds)

    # A reply may have been read before a command stamped up to its uncertainty before
    # it: such a command is not known to have taken effect (nor to have been a no-op) yet.
    unsettled = any(c > newest.at - slack(newest) for c in commands)
    moving = newest.moving or unsettled
    age = max(0.0, (frame_at - newest.at).total_seconds())
    limit = settings.stale_moving_seconds if moving else settings.stale_idle_seconds
    if age > limit:
        return MaskPlan(True, f"pose older than {limit:.1f} s (INV-5)")
    # The chain runs from the last sample surely read before the frame's capture to the
    # first surely read after it (or the newest).
    first = next(
        (i for i in range(len(observed) - 1, -1, -1)
         if observed[i].at + apart(observed[i]) <= frame_at),
        None,
    )  # fmt: skip
    if first is None:
        return MaskPlan(True, "no pose sample precedes the frame (INV-5)")
    speed, zoom_rate, _ = _speed_bound(observed, commands[-1] if commands else None, settings)
    top_speed = max(speed, settings.assumed_speed_deg_s * settings.speed_safety)
    top_zoom = max(zoom_rate, settings.assumed_zoom_rate * settings.speed_safety)
    chain = observed[first:]
    cut = next((i for i, s in enumerate(chain) if s.at - apart(s) >= frame_at), None)
    if cut is not None:
        chain = chain[: cut + 1]
    anchors: list[Anchor] = []
    any_motion = False
    for a, b in itertools.pairwise(chain):
        if any(a.at - slack(a) <= c <= b.at + slack(b) for c in commands):
            # A command in between: axes may have reversed; bound by the top speed. Any
            # instant between the two readings is within half their span (the stamps
            # less or plus their uncertainties) of one of the two.
            any_motion = True
            half = (b.at - a.at).total_seconds() / 2.0 + max(
                _slack(a, settings), _slack(b, settings)
            )
            anchors.append(Anchor(a.pose, top_speed * half, top_zoom * half))
            anchors.append(Anchor(b.pose, top_speed * half, top_zoom * half))
        elif a.pose == b.pose and not (a.moving or b.moving):
            anchors.append(Anchor(a.pose))
        else:
            any_motion = True
            anchors.append(_box_anchor(a.pose, b.pose))
    last = chain[-1]
    if last.at - apart(last) < frame_at:
        # Past the newest sample: extrapolate by speed from its reading to the latest
        # instant the frame may have been captured (none at rest, no command pending).
        seconds = (frame_at + apart(last) - last.at).total_seconds()
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
    hc, wc = (height + 1) // 2, (width + 1) // 2  # a yuv420p chroma plane's shape
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
        dilate_into(out, raster, radius, pad)
    return out


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
