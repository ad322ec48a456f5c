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
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

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
    ``pose_wait_seconds``: how long after its capture a frame of a camera that may be
    moving waits for a pose read after it (:func:`awaiting_pose`), so that its pose is
    bounded between two readings rather than extrapolated by speed (0: never waits).
    ``max_anchors``: more anchor poses than this are merged into one covering anchor.
    """

    stale_moving_seconds: float = 1.0
    stale_idle_seconds: float = 2.0
    latency_seconds: float = 0.15
    capture_error_seconds: float = 0.1
    pose_wait_seconds: float = 0.1
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
    ``zoom_radius`` (zoom units) of it is covered. ``box``: when the anchor stands for
    the (pan, tilt, zoom) box two poses span (:func:`_box_anchor`), those two corners;
    :func:`mask_for_frame` then covers the box piece by piece (:func:`_pieces`)."""

    pose: Pose
    radius_deg: float = 0.0
    zoom_radius: float = 0.0
    box: tuple[Pose, Pose] | None = None


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


# What a camera's reported pose can be (degrees, generic zoom, give or take rounding).
PAN_BOUND = 360.0
TILT_BOUND = 180.0
ZOOM_SLACK = 0.01


def plausible(pose: Pose) -> bool:
    """Whether ``pose`` can be a camera's: finite, pan within +-360 degrees, tilt within
    +-180, zoom within 0..1 (give or take ``ZOOM_SLACK``). A camera that answers NaN,
    infinity or 1e308 (broken or hostile) has no known pose: masks projected there would
    be empty or anywhere (INV-5)."""
    return (
        abs(pose.pan) <= PAN_BOUND
        and abs(pose.tilt) <= TILT_BOUND
        and -ZOOM_SLACK <= pose.zoom <= 1.0 + ZOOM_SLACK
    )  # NaN fails every comparison


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
    return replace(_ball(a, b), box=(a, b))


def _ball(a: Pose, b: Pose) -> Anchor:
    """The ball around the centre of the box ``a`` and ``b`` span that covers it: the
    farthest corner is (|dpan| + |dtilt|) / 2 away (:func:`angle_between`)."""
    dp = _pan_diff(a.pan, b.pan)
    centre = Pose(
        _wrap(a.pan + dp / 2.0),
        (a.tilt + b.tilt) / 2.0,
        (a.zoom + b.zoom) / 2.0,
    )
    return Anchor(centre, (abs(dp) + abs(b.tilt - a.tilt)) / 2.0, abs(b.zoom - a.zoom) / 2.0)


def _wrap(pan: float) -> float:
    return (pan + 180.0) % 360.0 - 180.0


def _size(anchor: Anchor) -> float:
    """How much an anchor widens a mask, roughly (degrees; a zoom unit counted as the
    widest field of view, 60 degrees): to choose the tighter of two valid bounds."""
    return anchor.radius_deg + 60.0 * anchor.zoom_radius


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


def _apart(sample: PoseSample, settings: MaskSettings) -> dt.timedelta:
    """How far a sample's reading and a frame's capture may each be from their stamps,
    together: the sample's uncertainty plus the capture-time error, or
    ``latency_seconds`` for both when the sample does not say."""
    if sample.uncertainty is None:
        return dt.timedelta(seconds=settings.latency_seconds)
    return dt.timedelta(seconds=sample.uncertainty + settings.capture_error_seconds)


def read_after(sample: PoseSample, frame_at: dt.datetime, settings: MaskSettings) -> bool:
    """Whether ``sample`` (observed) was surely read after a frame captured at
    ``frame_at``: a plan for that frame need not extrapolate past it."""
    return not sample.commanded and sample.at - _apart(sample, settings) >= frame_at


def _merged(history: Sequence[PoseSample], latest: PoseSample) -> list[PoseSample]:
    """``history`` and ``latest``, each sample once, oldest first. The pose tracker's
    history is already so ordered, strictly, and ends with ``latest`` or just before it:
    then it is taken as it is (no sample hashed, every frame); anything else is merged
    and sorted."""
    stamps = [s.at for s in history]
    if stamps and all(map(operator.lt, stamps, stamps[1:])):
        last = history[-1]
        if last is latest or last == latest:
            return list(history)
        if last.at < latest.at:
            return [*history, latest]
    return sorted({*history, latest}, key=lambda s: s.at)


def awaiting_pose(
    frame_at: dt.datetime,
    latest: PoseSample | None,
    history: Sequence[PoseSample],
    settings: MaskSettings,
) -> bool:
    """Whether a pose reply still to come would narrow the plan of a frame captured at
    ``frame_at``: the camera may be moving (its newest observed sample says so, or a
    command is not yet settled) and no observed sample was surely read after the
    capture, so :func:`plan_masks` would extrapolate by speed. Pure: the caller waits
    (at most ``pose_wait_seconds`` after the capture) and plans when this is False."""
    if latest is None:
        return False
    samples = _merged(history, latest)
    observed = [s for s in samples if not s.commanded]
    if not observed:
        return False
    newest = observed[-1]
    if read_after(newest, frame_at, settings):
        return False
    latest_capture = frame_at + dt.timedelta(seconds=settings.capture_error_seconds)
    relevant = [s.at for s in samples if s.commanded and s.at <= latest_capture]
    return _may_move(newest, relevant, settings)


def _may_move(newest: PoseSample, commands: Sequence[dt.datetime], settings: MaskSettings) -> bool:
    """Whether the camera may be moving after its newest observed sample: it said so,
    or one of ``commands`` (those that may have moved it in the frame) is unsettled (a
    reply may have been read before a command stamped up to its uncertainty before it:
    such a command is not known to have taken effect, nor to have been a no-op, yet)."""
    slack = dt.timedelta(seconds=_slack(newest, settings))
    return newest.moving or any(c > newest.at - slack for c in commands)


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
    samples = _merged(history, latest)
    observed = [s for s in samples if not s.commanded]
    if not observed:
        return MaskPlan(True, "only commanded poses, none observed (INV-5)")
    if not all(plausible(s.pose) for s in observed):
        return MaskPlan(True, "the camera reported an impossible pose (INV-5)")
    commands = [s.at for s in samples if s.commanded]
    newest = observed[-1]

    def slack(sample: PoseSample) -> dt.timedelta:
        return dt.timedelta(seconds=_slack(sample, settings))

    def apart(sample: PoseSample) -> dt.timedelta:
        return _apart(sample, settings)

    # Command stamps are exact (recorded before sending, on the clock frames are timed
    # by); the frame was captured by ``latest_capture`` at the latest, so a command after
    # it cannot have moved the camera in the picture.
    latest_capture = frame_at + dt.timedelta(seconds=settings.capture_error_seconds)
    earliest_capture = frame_at - dt.timedelta(seconds=settings.capture_error_seconds)
    relevant = [c for c in commands if c <= latest_capture]
    later = [c for c in commands if c > latest_capture]
    moving = _may_move(newest, relevant, settings)
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
    # The speed of the move the frame is part of: from readings before any later command.
    paced = [s for s in observed if not later or s.at + slack(s) <= later[0]]
    if paced:
        speed, zoom_rate, _ = _speed_bound(paced, relevant[-1] if relevant else None, settings)
    else:
        speed = settings.assumed_speed_deg_s * settings.speed_safety
        zoom_rate = settings.assumed_zoom_rate * settings.speed_safety
    top_speed = max(speed, settings.assumed_speed_deg_s * settings.speed_safety)
    top_zoom = max(zoom_rate, settings.assumed_zoom_rate * settings.speed_safety)

    def continued(
        sample: PoseSample, pending: Sequence[dt.datetime], until: dt.datetime
    ) -> Anchor | None:
        """A camera read before every pending command keeps to what it was doing until
        the first of them (at rest: stays; moving: at most the speed measured for that
        move, times the safety factor, as when extrapolating), then moves at most at
        the top speed: the bound at ``until`` (the latest instant to cover). None when
        the reading may follow a pending command, or the move's speed is not measured."""
        if not pending or sample.at + slack(sample) > min(pending):
            return None
        start = min(pending)
        prior = v = z = 0.0
        if sample.moving:
            earlier = [c for c in commands if c < start]
            before = [s for s in observed if s.at <= sample.at]
            v, z, measured = _speed_bound(before, earlier[-1] if earlier else None, settings)
            if not measured:
                return None
            prior = max(0.0, (min(until, start) - (sample.at - slack(sample))).total_seconds())
        seconds = max(0.0, (until - start).total_seconds())
        return Anchor(sample.pose, v * prior + top_speed * seconds, z * prior + top_zoom * seconds)

    chain = observed[first:]
    cut = next((i for i, s in enumerate(chain) if read_after(s, frame_at, settings)), None)
    if cut is not None:
        chain = chain[: cut + 1]
    anchors: list[Anchor] = []
    any_motion = False
    for a, b in itertools.pairwise(chain):
        a_lo, a_hi, b_lo, b_hi = a.at - slack(a), a.at + slack(a), b.at - slack(b), b.at + slack(b)
        inside = [c for c in commands if a_lo <= c <= b_hi]
        if inside:
            # A command in between: axes may have reversed; bound by the top speed. This
            # pair stands for the capture instants between the two readings that the
            # frame's own window allows (later ones: the next pair or the extrapolation).
            lo, hi = max(a_lo, earliest_capture), min(b_hi, latest_capture)
            # Each of these bounds holds alone; the tightest is kept. A camera at rest
            # before the command did not move until it (moving: kept to its measured
            # speed), then at most at the top speed; and with one command only, read at
            # rest before it and again after it, one move (each axis monotonic) lies
            # inside the box the two readings span.
            bounds = []
            kept = continued(a, inside, hi)
            if kept is not None:
                bounds.append(kept)
            if len(inside) == 1 and not a.moving and a_hi <= inside[0] <= b_lo:
                bounds.append(_box_anchor(a.pose, b.pose))
            # And each instant is within the top speed x time of each reading: one of
            # them alone, whichever is nearer the window, or both, each for half the
            # span between them.
            from_a = max(hi - a_lo, a_hi - lo).total_seconds()
            from_b = max(b_hi - lo, hi - b_lo).total_seconds()
            half = (b.at - a.at).total_seconds() / 2.0 + max(
                _slack(a, settings), _slack(b, settings)
            )
            if min(from_a, from_b) <= half:
                near, seconds = (a, from_a) if from_a <= from_b else (b, from_b)
                bounds.append(Anchor(near.pose, top_speed * seconds, top_zoom * seconds))
            if bounds:
                best = min(bounds, key=_size)
                any_motion = any_motion or best.radius_deg > 0 or best.zoom_radius > 0
                anchors.append(best)
                continue
            any_motion = True
            anchors.append(Anchor(a.pose, top_speed * half, top_zoom * half))
            anchors.append(Anchor(b.pose, top_speed * half, top_zoom * half))
        elif a.pose == b.pose and not (a.moving or b.moving):
            anchors.append(Anchor(a.pose))
        else:
            any_motion = True
            anchors.append(_box_anchor(a.pose, b.pose))
    last = chain[-1]
    if not read_after(last, frame_at, settings):
        # Past the newest sample: extrapolate by speed from its reading to the latest
        # instant the frame may have been captured (none at rest, no command pending;
        # with a command pending, read before it: what the camera was doing until the
        # command, the top speed from it on).
        seconds = (frame_at + apart(last) - last.at).total_seconds()
        pending = [c for c in relevant if c > last.at - slack(last)]
        kept = continued(last, pending, latest_capture)
        if moving:
            fallback = Anchor(last.pose, speed * seconds, zoom_rate * seconds)
            if kept is None or _size(fallback) < _size(kept):
                kept = fallback
        if kept is not None:
            any_motion = any_motion or moving or kept.radius_deg > 0 or kept.zoom_radius > 0
            anchors.append(kept)
        else:
            anchors.append(Anchor(last.pose))
    if not anchors:
        # A lone sample surely read both before and after the capture: read at its very
        # instant, with no error either way (a zero uncertainty and a zero capture
        # error). Its pose is the frame's; without this the plan had no anchor and
        # masked nothing (INV-5).
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


def still_until(
    plan: MaskPlan,
    frame_at: dt.datetime,
    latest: PoseSample | None,
    history: Sequence[PoseSample],
    settings: MaskSettings,
) -> dt.datetime | None:
    """How long ``plan``, what :func:`plan_masks` gave a frame captured at ``frame_at``
    from these samples, stays its answer while the camera is provably still: the latest
    capture instant up to which it gives every frame captured from ``frame_at`` on the
    very same plan, when it is given these samples less those that have left the frame's
    history window (``history_seconds`` before it) and no new one. None when the samples
    do not make the camera provably still (one is commanded, moving or at another pose)
    or ``plan`` is not the still plan they give. The mask stage holds a still camera's
    plan with it instead of planning every frame (INV-5; the property test
    ``test_a_still_plan_holds_until_still_until_INV_5`` checks it against plan_masks).

    Why. With every sample observed, at rest and at one pose P, :func:`plan_masks`
    finds no command and no motion. Its plan is then blank only when the newest sample
    is older than ``stale_idle_seconds`` or when no sample was surely read before the
    frame; otherwise it is one anchor at P, exactly, with the base margins: each pair of
    equal samples at rest adds that anchor, as does the extrapolation past the newest
    (no command pending, no motion) and the lone sample read at the capture's instant.
    For a frame captured at t, ``frame_at`` <= t <= the instant returned: its samples
    are some of these (fewer, never others), so still at P; the newest is no older than
    the stale limit allows; and ``s0``, the newest sample surely read before
    ``frame_at``, was surely read before t too and is still in t's window."""
    if plan.blank or plan.moving or latest is None:
        return None
    samples = _merged(history, latest)
    newest = samples[-1]
    pose = newest.pose
    for s in samples:
        if s.commanded or s.moving or s.pose != pose:
            return None
    held = MaskPlan(
        False, "still", (Anchor(pose),), settings.base_margin_deg, False, settings.base_margin_px
    )
    if plan != held:
        return None
    before = [s for s in samples if s.at + _apart(s, settings) <= frame_at]
    if not before:  # pragma: no cover - the plan would have been blank
        return None
    # One microsecond short of each bound, whatever timedelta's rounding of the seconds:
    # plan_masks compares the age in float seconds, the history window in timedeltas.
    tick = dt.timedelta(microseconds=1)
    stale = newest.at + dt.timedelta(seconds=settings.stale_idle_seconds) - tick
    window = before[-1].at + dt.timedelta(seconds=settings.history_seconds) - tick
    until = min(stale, window)
    return until if until >= frame_at else None


def _margin_parts(
    plan: MaskPlan, anchor: Anchor, calibration: Calibration, size: tuple[int, int]
) -> tuple[float, float]:
    """(angular margin in luma pixels at the image corner, where a degree spans the most
    pixels; the largest relative change of the focal length the zoom radius allows)."""
    width, height = size
    pose = anchor.pose
    f = calibration.focal_px(pose.zoom, width)
    half_diag = math.hypot(width, height) / 2.0
    corner = math.atan(half_diag / f)
    m = math.radians(min(plan.base_deg + anchor.radius_deg, 80.0))
    angular = f * (math.tan(min(corner + m, math.radians(89.0))) - math.tan(corner))
    f_lo = calibration.focal_px(max(0.0, pose.zoom - anchor.zoom_radius), width)
    f_hi = calibration.focal_px(min(1.0, pose.zoom + anchor.zoom_radius), width)
    return angular, max(f_hi - f, f - f_lo) / f


def margin_px(
    plan: MaskPlan, anchor: Anchor, calibration: Calibration, size: tuple[int, int]
) -> float:
    """The margin around ``anchor`` in luma pixels (worst case: the image corner, where a
    degree spans the most pixels), zoom uncertainty included: a change of focal length
    by ``df`` moves a point at radius ``r`` from the image centre by ``r * df / f``, and
    a point the rotation moved by the angular margin is up to that much further out."""
    angular, zoom = _margin_parts(plan, anchor, calibration, size)
    half_diag = math.hypot(*size) / 2.0
    return angular + (half_diag + angular) * zoom + plan.extra_px


def _inner_margin_px(
    plan: MaskPlan,
    anchor: Anchor,
    calibration: Calibration,
    size: tuple[int, int],
    projected: Sequence[np.ndarray],
) -> float | None:
    """A tighter margin for an anchor with zoom uncertainty whose projected polygons all
    lie inside the picture: zoom moves a point radially by its distance from the centre
    times the focal length's relative change, and after a rotation within the angular
    margin no point of them is further out than their farthest vertex plus that margin.
    None when some polygon reaches beyond the picture (the corner bound of
    :func:`margin_px` holds there: off-image parts come in across the edge)."""
    shapes = [p for p in projected if len(p)]
    if not shapes or anchor.zoom_radius <= 0:
        return None
    width, height = size
    points = np.concatenate(shapes)
    if (points < 0).any() or (points[:, 0] > width).any() or (points[:, 1] > height).any():
        return None
    angular, zoom = _margin_parts(plan, anchor, calibration, size)
    farthest = float(np.hypot(points[:, 0] - width / 2.0, points[:, 1] - height / 2.0).max())
    return angular + (farthest + angular) * zoom + plan.extra_px


# Box anchors are covered in pieces whose margin is about this many luma pixels, at most
# MAX_PIECES pieces per frame in all (each piece is one more projection).
PIECE_PX = 4.0
MAX_PIECES = 12


def _pieces(
    anchor: Anchor, calibration: Calibration, size: tuple[int, int], budget: int
) -> list[Anchor]:
    """A box anchor as up to ``budget`` anchors covering equal parts of its box (each
    axis cut in equal steps): their union covers the box, so the masks projected and
    dilated at each cover every pose in it, as the one ball did, but a move along one
    axis no longer widens the mask across it. Other anchors: themselves."""
    if anchor.box is None or budget <= 1:
        return [anchor]
    a, b = anchor.box
    width, height = size
    dp, dt_, dz = _pan_diff(a.pan, b.pan), b.tilt - a.tilt, b.zoom - a.zoom
    # Pixels per degree at the centre, at the box's narrowest view (where a degree
    # spans the most); the zoom's reach: the half diagonal times the focal length's
    # relative change across the box. They only choose the counts: any counts cover.
    f_lo = calibration.focal_px(min(a.zoom, b.zoom), width)
    f_hi = calibration.focal_px(max(a.zoom, b.zoom), width)
    per_deg = f_hi * math.pi / 180.0
    zoom_px = math.hypot(width, height) / 2.0 * (f_hi - f_lo) / f_lo
    counts = [
        max(1, math.ceil(abs(dp) * per_deg / (2.0 * PIECE_PX))),
        max(1, math.ceil(abs(dt_) * per_deg / (2.0 * PIECE_PX))),
        max(1, math.ceil(zoom_px / (2.0 * PIECE_PX))),
    ]
    while counts[0] * counts[1] * counts[2] > budget:
        counts[counts.index(max(counts))] -= 1
    n_p, n_t, n_z = counts
    if n_p * n_t * n_z == 1:
        return [anchor]
    return [
        _ball(
            Pose(_wrap(a.pan + dp * i / n_p), a.tilt + dt_ * j / n_t, a.zoom + dz * k / n_z),
            Pose(
                _wrap(a.pan + dp * (i + 1) / n_p),
                a.tilt + dt_ * (j + 1) / n_t,
                a.zoom + dz * (k + 1) / n_z,
            ),
        )
        for i in range(n_p)
        for j in range(n_t)
        for k in range(n_z)
    ]


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
    boxes = sum(1 for a in plan.anchors if a.box is not None)
    budget = max(1, MAX_PIECES // boxes) if boxes else 1
    pieces = [p for a in plan.anchors for p in _pieces(a, calibration, size, budget)]
    groups: dict[tuple[int, int], list[np.ndarray]] = {}
    for anchor in pieces:
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
        inner = _inner_margin_px(plan, anchor, calibration, size, projected)
        if inner is not None and inner < margin:
            radius = math.ceil(inner / 2.0)
        # Anchors dilated alike are rasterised together and dilated once (a box's
        # pieces, mostly): the dilation of a union is the union of the dilations.
        groups.setdefault((radius, pad), []).extend(projected)
    for (radius, pad), shapes in groups.items():
        dilate_into(out, rasterise(shapes, size, pad), radius, pad)
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
