"""Where the picture says the camera points: image registration that narrows the pose
band of a moving camera, never beyond the telemetry (INV-5; issue 12 item 4;
docs/design/mask-geometry.md, item 8). Pure: numpy only, no clock, no I/O.

While a PTZ camera moves, the telemetry plan (:func:`privacy_masks.planning.plan_masks`)
bounds its pose by speed x time, often tens of degrees. The frame itself shows where the
camera pointed at its own capture instant: a small grey thumbnail of the frame is
registered (phase correlation, numpy FFT) against a *reference* thumbnail whose pose is
known (a frame captured while the plan was exactly still, or a registered frame with its
accumulated error), which gives an estimated pose and an error radius.

The narrowed plan is used only when every check passes; otherwise the telemetry plan
stands (today's conservative mask):

- the reference has texture and is not self-similar (repeating patterns, stripes,
  ridges: the only way a wrong shift can match the picture as well as the true one is
  that the reference resembles itself under the difference of the two shifts);
- the zoom band the telemetry allows is within ``max_scale_change`` of the reference's
  (phase correlation measures translation, not scale);
- one sharp correlation peak (``min_peak``), ``min_peak_ratio`` above any other, a shift
  within ``max_shift_fraction`` of the thumbnail (enough overlap), and the shifted
  reference matching the frame (normalised correlation at least ``min_ncc``, and
  ``min_detail_ncc`` on the high-passed pictures: edges and texture, not only shading);
- the estimate's band meets the telemetry band.

The caller masks the *intersection* of the two plans' masks (pixel AND), so the mask is
never where the telemetry plan would not put it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from privacy_masks.geometry import unproject_points
from privacy_masks.planning import Anchor, MaskPlan, angle_between
from vms.camera_model import Calibration, Pose

F32 = NDArray[np.float32]
U8 = NDArray[np.uint8]


@dataclass(frozen=True)
class RegistrationSettings:
    """Thresholds of the registration (defaults measured on the simulator's scenes,
    ``tests/privacy_masks/test_registration.py``).

    ``thumb_width``: thumbnails are about this wide (an integer fraction of the frame).
    ``error_px``/``error_per_px``: the claimed error of a shift, in thumbnail pixels,
    ``error_px + error_per_px * |shift|`` per axis (sub-pixel peak, the translation model
    of a rotation, the renderer's quantisation). ``max_reference_error``: a registered
    frame becomes the next reference only while its error stays below this fraction of
    the horizontal field of view (the chain's drift is bounded).
    """

    thumb_width: int = 160
    min_texture: float = 0.3
    max_self_similarity: float = 0.45
    max_scale_change: float = 0.01
    min_peak: float = 0.12
    min_peak_ratio: float = 2.0
    min_ncc: float = 0.9
    min_detail_ncc: float = 0.4
    max_shift_fraction: float = 0.25
    rekey_fraction: float = 0.125
    error_px: float = 1.0
    error_per_px: float = 0.05
    max_reference_error: float = 0.05
    max_reference_frames: int = 150


@dataclass(frozen=True)
class Reference:
    """A thumbnail whose pose is known to within ``error_deg`` (|dpan| + |dtilt|)."""

    image: F32
    spectrum: NDArray[np.complex128]
    pose: Pose
    error_deg: float
    factor: int  # frame pixels per thumbnail pixel
    size: tuple[int, int]  # the frame's (width, height)


@dataclass(frozen=True)
class Registration:
    """A frame's pose as the picture shows it: within ``radius_deg`` (|dpan| + |dtilt|)
    of ``pose`` (its zoom is the reference's); ``shift`` in thumbnail pixels."""

    pose: Pose
    radius_deg: float
    shift: tuple[float, float]
    peak: float
    peak_ratio: float
    ncc: float
    detail_ncc: float = 1.0


def thumbnail(luma: U8, thumb_width: int = 160) -> tuple[F32, int]:
    """A grey thumbnail of a luma plane about ``thumb_width`` wide, and its factor (frame
    pixels per thumbnail pixel). Block means of 2x2 over a strided view: cheap (about
    0.1 ms for 720p) and free of most aliasing."""
    width = luma.shape[1]
    wanted = max(1, width // thumb_width)
    step = max(1, wanted // 2)
    k = max(1, wanted // step)
    sub = luma[::step, ::step].astype(np.float32)
    h, w = sub.shape[0] // k, sub.shape[1] // k
    image = sub[: h * k, : w * k].reshape(h, k, w, k).mean(axis=(1, 3), dtype=np.float32)
    # Thumbnail pixel (i, j) covers frame pixels from (i, j) * step * k: the factor.
    return np.asarray(image, dtype=np.float32), step * k


def _window(shape: tuple[int, int]) -> F32:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)


def _spectrum(image: F32) -> NDArray[np.complex128]:
    return np.asarray(np.fft.rfft2((image - image.mean()) * _window(image.shape)))


def _high_pass(image: F32) -> F32:
    """The image minus the mean of its four neighbours (edges and texture only)."""
    p = np.pad(image, 1, mode="edge")
    neighbours = (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]) / 4.0
    return np.asarray(image - neighbours, dtype=np.float32)


def texture(image: F32) -> float:
    """Standard deviation of the high-passed thumbnail (grey levels): ~0 for sky, a
    wall, a blank or defocused picture."""
    return float(_high_pass(image).std())


def self_similarity(image: F32, exclude: int = 3) -> float:
    """How well the high-passed thumbnail matches itself shifted by more than
    ``exclude`` pixels (normalised autocorrelation, 1 at zero shift): near 1 for a
    repeating pattern (road dashes, fences, windows in a grid) or a ridge (stripes: no
    texture along them). A wrong registration shift can only match the picture as well
    as the true one if the reference is self-similar under their difference."""
    hp = _high_pass(image) * _window(image.shape)
    power = np.abs(np.fft.rfft2(hp)) ** 2
    ac = np.fft.irfft2(power, s=image.shape)
    zero = float(ac[0, 0])
    if zero <= 0.0:
        return 1.0
    h, w = image.shape
    rows = np.minimum(np.arange(h), h - np.arange(h))
    cols = np.minimum(np.arange(w), w - np.arange(w))
    near = (rows[:, None] <= exclude) & (cols[None, :] <= exclude)
    ac[near] = -np.inf
    return float(ac.max() / zero)


def usable_reference(image: F32, settings: RegistrationSettings) -> str | None:
    """Why ``image`` cannot be a reference (no texture, self-similar), or None."""
    if texture(image) < settings.min_texture:
        return "no texture"
    if self_similarity(image) > settings.max_self_similarity:
        return "repeating pattern"
    return None


def make_reference(
    image: F32, factor: int, size: tuple[int, int], pose: Pose, error_deg: float
) -> Reference:
    return Reference(image, _spectrum(image), pose, error_deg, factor, size)


def _peak(surface: NDArray[np.float64], exclude: int = 3) -> tuple[float, float, float, float]:
    """(dx, dy, peak, best elsewhere) of a correlation surface: sub-pixel by a parabola
    through each axis' neighbours, shifts wrapped to +-half the size."""
    h, w = surface.shape
    index = int(np.argmax(surface))
    y, x = divmod(index, w)
    peak = float(surface[y, x])

    def vertex(left: float, centre: float, right: float) -> float:
        curve = left - 2.0 * centre + right
        return 0.0 if curve >= 0.0 else float(np.clip((left - right) / (2.0 * curve), -0.5, 0.5))

    sx = vertex(surface[y, (x - 1) % w], peak, surface[y, (x + 1) % w])
    sy = vertex(surface[(y - 1) % h, x], peak, surface[(y + 1) % h, x])
    rows = np.minimum(np.abs(np.arange(h) - y), h - np.abs(np.arange(h) - y))
    cols = np.minimum(np.abs(np.arange(w) - x), w - np.abs(np.arange(w) - x))
    rest = surface[(rows[:, None] > exclude) | (cols[None, :] > exclude)]
    second = float(rest.max()) if rest.size else 0.0
    dx = (x + sx + w / 2.0) % w - w / 2.0
    dy = (y + sy + h / 2.0) % h - h / 2.0
    return dx, dy, peak, second


def _ncc(ref: F32, cur: F32, dx: float, dy: float) -> float:
    """Normalised correlation of ``cur`` with ``ref`` shifted by (dx, dy) on their
    overlap (cur(x) ~ ref(x - shift))."""
    h, w = ref.shape
    ix, iy = round(dx), round(dy)
    a = ref[max(0, -iy) : h - max(0, iy), max(0, -ix) : w - max(0, ix)]
    b = cur[max(0, iy) : h - max(0, -iy), max(0, ix) : w - max(0, -ix)]
    if a.size < 0.25 * ref.size:
        return 0.0
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denom if denom > 0.0 else 0.0


def register(
    reference: Reference,
    image: F32,
    calibration: Calibration,
    zoom_range: tuple[float, float],
    settings: RegistrationSettings,
) -> Registration | str:
    """The pose of the frame whose thumbnail is ``image``, by phase correlation against
    ``reference``; or why not (a short reason). ``zoom_range``: the zooms the telemetry
    allows for the frame."""
    if image.shape != reference.image.shape:
        return "thumbnail size changed"
    width, height = reference.size
    f_ref = calibration.focal_px(reference.pose.zoom, width)
    scale = max(abs(calibration.focal_px(z, width) / f_ref - 1.0) for z in zoom_range)
    if scale > settings.max_scale_change:
        return "zoom change"
    spectrum = _spectrum(image)
    cross = spectrum * np.conj(reference.spectrum)
    cross /= np.abs(cross) + 1e-9
    surface = np.fft.irfft2(cross, s=image.shape)
    dx, dy, peak, second = _peak(surface)
    ratio = peak / second if second > 0.0 else math.inf
    h, w = image.shape
    if peak < settings.min_peak or ratio < settings.min_peak_ratio:
        return "weak or ambiguous peak"
    if abs(dx) > settings.max_shift_fraction * w or abs(dy) > settings.max_shift_fraction * h:
        return "shift too large"
    ncc = _ncc(reference.image, image, dx, dy)
    if ncc < settings.min_ncc:
        return "picture does not match"
    detail = _ncc(_high_pass(reference.image), _high_pass(image), dx, dy)
    if detail < settings.min_detail_ncc:
        return "details do not match"
    # The frame's optical axis is the reference's ray through the pixel the frame's
    # centre came from (content moved by +shift, so the axis moved by -shift).
    f = reference.factor
    cx, cy = width / 2.0 - dx * f, height / 2.0 - dy * f
    error = f * (settings.error_px + settings.error_per_px * math.hypot(dx, dy)) + scale * (
        math.hypot(dx, dy) * f
    )
    points = [(cx, cy)] + [
        (cx + sx * error, cy + sy * error) for sx in (-1.0, 1.0) for sy in (-1.0, 1.0)
    ]
    rays = unproject_points(
        [(x / width, y / height) for x, y in points], reference.pose, calibration, reference.size
    )
    pan, tilt = rays[0]
    estimate = Pose(pan, tilt, reference.pose.zoom)
    # The error box's corners, as |dpan| + |dtilt| from the estimate (10% for the
    # curvature of the mapping between them), plus the reference's own error.
    spread = max(angle_between(estimate, Pose(p, t, estimate.zoom)) for p, t in rays[1:])
    radius = 1.1 * spread + reference.error_deg
    return Registration(estimate, radius, (dx, dy), peak, ratio, ncc, detail)


def narrow(plan: MaskPlan, registration: Registration) -> MaskPlan | None:
    """The telemetry plan narrowed to the registration's band: one anchor at the
    estimate with the registration's radius and the telemetry's zoom span; None when the
    two bands do not meet (the picture contradicts the telemetry: keep the telemetry
    plan) or when the registration's band is no narrower."""
    if plan.blank or not plan.anchors:
        return None
    est = registration.pose
    meets = any(
        angle_between(a.pose, est) <= a.radius_deg + registration.radius_deg + plan.base_deg
        for a in plan.anchors
    )
    if not meets:
        return None
    if all(a.radius_deg <= registration.radius_deg for a in plan.anchors):
        return None
    zoom_lo, zoom_hi = zoom_range(plan)
    anchor = Anchor(
        Pose(est.pan, est.tilt, (zoom_lo + zoom_hi) / 2.0),
        registration.radius_deg,
        (zoom_hi - zoom_lo) / 2.0,
    )
    return MaskPlan(False, "registered", (anchor,), plan.base_deg, True, plan.extra_px)


def zoom_range(plan: MaskPlan) -> tuple[float, float]:
    """The zooms a plan's anchors allow."""
    return (
        max(0.0, min(a.pose.zoom - a.zoom_radius for a in plan.anchors)),
        min(1.0, max(a.pose.zoom + a.zoom_radius for a in plan.anchors)),
    )


@dataclass
class RegistrarStats:
    registered: int = 0  # moving frames whose plan was narrowed
    fallbacks: dict[str, int] | None = None  # moving frames kept on telemetry, by reason
    references: int = 0
    seconds: float = 0.0  # thumbnail + registration (the caller times it)


class Registrar:
    """One camera's registration state: the reference and its chain (module doc).

    :meth:`observe` takes every non-blank frame's thumbnail with its telemetry plan:
    an exactly still plan (one anchor, no radius) makes the frame the reference (its
    pose exact); a moving plan is registered against the reference and, when every
    check passes, narrowed. A registered frame far enough from the reference becomes the
    next one, with the registration's radius as its error, while that error stays small.
    """

    def __init__(self, calibration: Calibration, settings: RegistrationSettings) -> None:
        self.calibration = calibration
        self.settings = settings
        self.reference: Reference | None = None
        self._reference_frames = 0
        self.stats = RegistrarStats(fallbacks={})

    def forget(self) -> None:
        """The pose was lost (a blank plan): nothing is known about the picture."""
        self.reference = None

    def observe(
        self,
        plan: MaskPlan,
        size: tuple[int, int],
        thumb: Callable[[], tuple[F32, int]],
    ) -> MaskPlan | None:
        """The narrowed plan for a frame of ``size`` planned as ``plan``, or None (use
        ``plan``). ``thumb`` makes the frame's thumbnail (and its factor); it is called
        only when needed (a moving plan, or a still one that renews the reference), so a
        still camera with a fresh reference pays nothing."""
        if plan.blank:
            self.forget()
            return None
        self._reference_frames += 1
        pose = _exact_pose(plan)
        if pose is not None:
            ref = self.reference
            if (
                ref is None
                or ref.pose != pose
                or ref.error_deg > 0.0
                or ref.size != size
                or self._reference_frames > self.settings.max_reference_frames
            ):
                image, factor = thumb()
                self._set_reference(image, factor, size, pose, 0.0)
            return None
        if not plan.moving:
            return None
        image, factor = thumb()
        result = self._register(image, size, plan)
        if isinstance(result, str):
            self._fallback(result)
            return None
        narrowed = narrow(plan, result)
        if narrowed is None:
            self._fallback("outside or no narrower than the telemetry band")
            return None
        self.stats.registered += 1
        self._maybe_rekey(image, factor, size, result)
        return narrowed

    def _register(self, image: F32, size: tuple[int, int], plan: MaskPlan) -> Registration | str:
        ref = self.reference
        if ref is None:
            return "no reference"
        if ref.size != size:
            return "frame size changed"
        return register(ref, image, self.calibration, zoom_range(plan), self.settings)

    def _maybe_rekey(
        self, image: F32, factor: int, size: tuple[int, int], result: Registration
    ) -> None:
        h, w = image.shape
        dx, dy = result.shift
        rekey = self.settings.rekey_fraction
        far = abs(dx) > rekey * w or abs(dy) > rekey * h
        limit = self.settings.max_reference_error * self.calibration.hfov(result.pose.zoom)
        if far and result.radius_deg <= limit:
            self._set_reference(image, factor, size, result.pose, result.radius_deg)

    def _set_reference(
        self, image: F32, factor: int, size: tuple[int, int], pose: Pose, error: float
    ) -> None:
        self._reference_frames = 0
        why = usable_reference(image, self.settings)
        if why is not None:
            self.reference = None
            return
        self.reference = make_reference(image, factor, size, pose, error)
        self.stats.references += 1

    def _fallback(self, reason: str) -> None:
        assert self.stats.fallbacks is not None
        self.stats.fallbacks[reason] = self.stats.fallbacks.get(reason, 0) + 1


def _exact_pose(plan: MaskPlan) -> Pose | None:
    """The pose of an exactly still plan (one anchor, no radius: two equal still samples
    around the frame), else None."""
    if plan.blank or plan.moving or len(plan.anchors) != 1:
        return None
    anchor = plan.anchors[0]
    if anchor.radius_deg != 0.0 or anchor.zoom_radius != 0.0:
        return None
    return anchor.pose
