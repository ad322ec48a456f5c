"""Where the picture says the camera points: image registration that narrows the pose
band of a moving camera, never beyond the telemetry (INV-5; issue 12 item 4;
docs/design/mask-geometry.md, item 8). Pure: numpy only, no clock, no I/O.

While a PTZ camera moves, the telemetry plan (:func:`privacy_masks.planning.plan_masks`)
bounds its pose by speed x time, often tens of degrees. The frame itself shows where the
camera pointed at its own capture instant: a small grey thumbnail of the frame is
registered against a *reference* thumbnail whose pose is known (a frame captured while
the plan was exactly still, or a registered frame with its accumulated error): the zoom
first when the telemetry allows a zoom change (log-polar phase correlation of the two
magnitude spectra), then the translation (phase correlation, numpy FFT), which gives an
estimated pose, zoom band and error radius.

The narrowed plan is used only when every check passes; otherwise the telemetry plan
stands (today's conservative mask):

- the reference has texture and is not self-similar (repeating patterns, stripes);
- within the telemetry band (which holds the camera: INV-5's premise) the picture can
  only have moved as a translation to within ``max_model_error`` thumbnail pixels: a pan
  while looking down rolls the picture, and then the true correlation peak weakens and
  a repeating pattern (road markings) can win (found by the tests, see
  ``tests/privacy_masks/test_registration.py``);
- the measured zoom lies in the telemetry's zoom band; one sharp correlation peak
  (``min_peak``), ``min_peak_ratio`` above any other; a shift within
  ``max_shift_fraction`` of the thumbnail; the shifted reference matching the frame
  (normalised correlation at least ``min_ncc``, and ``min_detail_ncc`` on the
  high-passed pictures);
- the estimate's band meets the telemetry band.

The caller masks the *intersection* of the two plans' masks (pixel AND), so the mask is
never where the telemetry plan would not put it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
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
    ``max_scale_change``: a zoom band this narrow (focal length ratio - 1) is taken as
    no zoom change; a wider one is measured (log-polar phase correlation of the
    spectra's magnitudes) up to ``max_zoom_ratio``, to within ``scale_error``.
    ``error_px``/``error_per_px``: the claimed error of a shift, in thumbnail pixels,
    ``error_px + error_per_px * |shift|`` per axis (sub-pixel peak, the translation model
    of a rotation, the renderer's quantisation). ``max_reference_error``: a registered
    frame becomes the next reference only while its error stays below this fraction of
    the horizontal field of view (the chain's drift is bounded).
    """

    thumb_width: int = 160
    min_texture: float = 0.3
    max_self_similarity: float = 0.6
    max_scale_change: float = 0.01
    max_zoom_ratio: float = 1.6
    scale_error: float = 0.05
    min_scale_peak: float = 0.08
    min_peak: float = 0.12
    min_peak_ratio: float = 2.0
    min_ncc: float = 0.9
    min_detail_ncc: float = 0.4
    max_shift_fraction: float = 0.25
    rekey_fraction: float = 0.06
    error_px: float = 1.25
    error_per_px: float = 0.05
    max_reference_error: float = 0.15
    max_reference_frames: int = 150
    max_model_error: float = 1.0


@dataclass(frozen=True)
class Reference:
    """A thumbnail whose pose is known to within ``error_deg`` (|dpan| + |dtilt|) and
    whose focal length is known to within ``focal_error`` (relative)."""

    image: F32
    spectrum: NDArray[np.complex128]
    log_polar: NDArray[np.complex128]  # spectrum of its magnitude spectrum's log-polar map
    pose: Pose
    error_deg: float
    factor: int  # frame pixels per thumbnail pixel
    size: tuple[int, int]  # the frame's (width, height)
    detail: F32  # the high-passed image
    grid: NDArray[np.float64]  # (pan, tilt) of the points of _GRID across its picture
    focal_error: float = 0.0  # relative error of its focal length (zoom), 0 when still


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
    zooms: tuple[float, float] | None = None  # the zoom band the picture shows (None: any)
    focal_error: float = 0.0  # relative error of the frame's focal length
    scale: float = 1.0  # the frame's focal length over the reference's


def thumbnail(luma: U8, thumb_width: int = 160) -> tuple[F32, int]:
    """A grey thumbnail of a luma plane about ``thumb_width`` wide, and its factor (frame
    pixels per thumbnail pixel). Means of 2x2 samples per block (strided views): cheap
    (well under 0.1 ms for 720p) and free of most aliasing."""
    height, width = luma.shape
    wanted = max(1, width // thumb_width)
    step = max(1, wanted // 2)
    k = max(1, wanted // step)
    factor = step * k
    h, w = height // factor, width // factor
    # The mean of k x k samples ``step`` apart in each factor x factor block: k * k
    # strided views, summed (no full-size copy).
    image = np.zeros((h, w), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            image += luma[i * step :: factor, j * step :: factor][:h, :w]
    image *= 1.0 / (k * k)
    # Thumbnail pixel (i, j) covers frame pixels from (i, j) * factor on.
    return image, factor


@functools.lru_cache(maxsize=8)
def _window(shape: tuple[int, int]) -> F32:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)


_THETAS, _RHOS = 64, 64
_R_MIN, _R_MAX = 0.02, 0.45  # cycles per pixel: below, the window's blur; above, aliasing


@functools.lru_cache(maxsize=8)
def _log_polar_grid(
    shape: tuple[int, int],
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], F32, F32]:
    """Bilinear sampling of an ``rfft2`` half-plane (kx >= 0) on a log-polar grid of
    physical frequencies: angles -90..90 degrees (a real picture's magnitude spectrum
    is symmetric), radii ``_R_MIN``..``_R_MAX`` cycles/pixel, log-spaced. Rows r0 and
    r0 + 1 (wrapped), column c0 and c0 + 1, weights wy, wx."""
    h, w = shape
    theta = np.linspace(-math.pi / 2.0, math.pi / 2.0, _THETAS, endpoint=False)
    rho = np.exp(np.linspace(math.log(_R_MIN), math.log(_R_MAX), _RHOS))
    kx = rho[None, :] * np.cos(theta)[:, None] * w
    ky = rho[None, :] * np.sin(theta)[:, None] * h
    c0 = np.floor(kx).astype(np.intp)
    r0 = np.floor(ky).astype(np.intp)
    wx = (kx - c0).astype(np.float32)
    wy = (ky - r0).astype(np.float32)
    return r0 % h, c0, (r0 + 1) % h, wy, wx


def _log_polar(spectrum: NDArray[np.complex128], shape: tuple[int, int]) -> F32:
    """The log magnitude of a picture's spectrum on the log-polar grid, windowed along
    the radius (a zoom by ``s`` shifts it by ``log(s)`` along the radius)."""
    r0, c0, r1, wy, wx = _log_polar_grid(shape)
    mag = np.log1p(np.abs(spectrum)).astype(np.float32)
    top = mag[r0, c0] * (1 - wx) + mag[r0, c0 + 1] * wx
    bottom = mag[r1, c0] * (1 - wx) + mag[r1, c0 + 1] * wx
    lp = top * (1 - wy) + bottom * wy
    # The spectrum's fall-off (about 1/f: a straight line along log radius) would pin
    # the correlation at no zoom; its derivative along the radius is flat.
    lp = np.diff(lp, axis=1, append=lp[:, -1:])
    lp -= lp.mean(axis=1, keepdims=True)
    return np.asarray(lp * np.hanning(_RHOS)[None, :], dtype=np.float32)


def _rescale(image: F32, scale: float) -> F32:
    """``image`` resampled about its centre as if the focal length were ``scale`` times
    shorter (out(x) = image(c + scale * (x - c)), bilinear, edges clamped)."""
    h, w = image.shape
    ys = (h - 1) / 2.0 + scale * (np.arange(h) - (h - 1) / 2.0)
    xs = (w - 1) / 2.0 + scale * (np.arange(w) - (w - 1) / 2.0)
    ys = np.clip(ys, 0, h - 1.001)
    xs = np.clip(xs, 0, w - 1.001)
    y0, x0 = ys.astype(np.intp), xs.astype(np.intp)
    fy, fx = (ys - y0).astype(np.float32)[:, None], (xs - x0).astype(np.float32)[None, :]
    a = image[y0][:, x0]
    b = image[y0][:, x0 + 1]
    c = image[y0 + 1][:, x0]
    d = image[y0 + 1][:, x0 + 1]
    top = a * (1 - fx) + b * fx
    return np.asarray(top * (1 - fy) + (c * (1 - fx) + d * fx) * fy, dtype=np.float32)


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
    image: F32,
    factor: int,
    size: tuple[int, int],
    pose: Pose,
    error_deg: float,
    calibration: Calibration,
    focal_error: float = 0.0,
) -> Reference:
    spectrum = _spectrum(image)
    log_polar = np.fft.rfft2(_log_polar(spectrum, image.shape))
    grid = np.asarray(unproject_points(_GRID, pose, calibration, size))
    return Reference(
        image,
        spectrum,
        log_polar,
        pose,
        error_deg,
        factor,
        size,
        _high_pass(image),
        grid,
        focal_error,
    )


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


def _ncc(ref: F32, cur: F32, dx: float, dy: float, valid: float = 1.0) -> float:
    """Normalised correlation of ``cur`` with ``ref`` shifted by (dx, dy) on their
    overlap (cur(x) ~ ref(x - shift)), ``cur`` valid only in its central ``valid``
    fraction (a rescaled picture's clamped edges are left out)."""
    h, w = ref.shape
    ix, iy = round(dx), round(dy)
    my, mx = math.ceil(h * (1.0 - valid) / 2.0), math.ceil(w * (1.0 - valid) / 2.0)
    # cur rows y and ref rows y - iy, both inside their images and cur's valid box.
    y0, y1 = max(my, iy, 0), min(h - my, h + iy, h)
    x0, x1 = max(mx, ix, 0), min(w - mx, w + ix, w)
    if y1 - y0 <= 0 or x1 - x0 <= 0 or (y1 - y0) * (x1 - x0) < 0.25 * ref.size:
        return 0.0
    b = cur[y0:y1, x0:x1]
    a = ref[y0 - iy : y1 - iy, x0 - ix : x1 - ix]
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denom if denom > 0.0 else 0.0


def _correlate(
    spectrum: NDArray[np.complex128], other: NDArray[np.complex128], shape: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Phase correlation of two ``rfft2`` spectra: (dx, dy, peak, best elsewhere)."""
    cross = spectrum * np.conj(other)
    cross /= np.abs(cross) + 1e-9
    return _peak(np.fft.irfft2(cross, s=shape))


def _zoom_of(calibration: Calibration, focal: float, width: int) -> float:
    """The zoom whose focal length is ``focal`` (focal length is linear in zoom)."""
    f0, f1 = calibration.focal_px(0.0, width), calibration.focal_px(1.0, width)
    return (focal - f0) / (f1 - f0)


def _measure_scale(
    reference: Reference,
    spectrum: NDArray[np.complex128],
    shape: tuple[int, int],
    settings: RegistrationSettings,
) -> float | str:
    """The zoom factor of the frame over the reference (focal length ratio), from the
    log-polar maps of the two magnitude spectra; or why not."""
    lp = np.fft.rfft2(_log_polar(spectrum, shape))
    d_rho, _, peak, second = _correlate(lp, reference.log_polar, (_THETAS, _RHOS))
    if peak < settings.min_scale_peak or peak < settings.min_peak_ratio * second:
        return "zoom not measurable"
    # A zoom in by s moves the spectrum's features to lower frequencies: -log(s).
    step = (math.log(_R_MAX) - math.log(_R_MIN)) / (_RHOS - 1)
    scale = math.exp(-d_rho * step)
    if abs(math.log(scale)) > math.log(settings.max_zoom_ratio):
        return "zoom change too large"
    return scale


_GRID = tuple((x, y) for y in (0.1, 0.5, 0.9) for x in (0.1, 0.5, 0.9))  # centre: [4]


def _model_error(reference: Reference, band: Sequence[Anchor], calibration: Calibration) -> float:
    """How far (thumbnail pixels) the picture's motion may be from a translation, for
    any pose the telemetry band allows: points across the reference picture are
    projected at the band's extreme poses (each anchor's centre and its pan and tilt
    extremes, at the reference's focal length: the frame is rescaled to it), and their
    displacements compared with the centre's. A pan while looking down rolls the
    picture; a tilt bends it (keystone). Beyond about a pixel the true correlation peak
    weakens and a repeating pattern (road markings) can win (measured:
    ``tests/privacy_masks/test_registration.py``).
    """
    width, height = reference.size
    f = calibration.focal_px(reference.pose.zoom, width)
    poses = np.asarray(
        [
            (a.pose.pan + dp * a.radius_deg, a.pose.tilt + dt * a.radius_deg)
            for a in band
            for dp, dt in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
        ]
    )
    pan, tilt = reference.grid[:, 0], reference.grid[:, 1]
    # to_camera for every (pose, point) pair at once.
    dp = np.radians(pan[None, :] - poses[:, :1])
    t = np.radians(tilt)[None, :]
    pt = np.radians(np.clip(poses[:, 1:], -90.0, 90.0))
    right = np.cos(t) * np.sin(dp)
    fwd = np.cos(t) * np.cos(dp)
    up = np.sin(t)
    y = -fwd * np.sin(pt) + up * np.cos(pt)
    z = fwd * np.cos(pt) + up * np.sin(pt)
    if (z <= 1e-3).any():
        return math.inf
    x_px = f * right / z
    y_px = -f * y / z
    base_x = (np.asarray([g[0] for g in _GRID]) - 0.5) * width
    base_y = (np.asarray([g[1] for g in _GRID]) - 0.5) * height
    mx = x_px - base_x[None, :]
    my = y_px - base_y[None, :]
    worst = np.maximum(np.abs(mx - mx[:, 4:5]), np.abs(my - my[:, 4:5])).max()
    return float(worst) / reference.factor


def register(
    reference: Reference,
    image: F32,
    calibration: Calibration,
    band: Sequence[Anchor],
    settings: RegistrationSettings,
) -> Registration | str:
    """The pose of the frame whose thumbnail is ``image``, by phase correlation against
    ``reference`` (zoom first when the telemetry allows a zoom change); or why not (a
    short reason). ``band``: the telemetry plan's anchors (the camera is within them,
    INV-5's premise): the zooms they allow, and whether the picture can only have moved
    as a translation (``max_model_error``), which the phase correlation assumes."""
    if image.shape != reference.image.shape:
        return "thumbnail size changed"
    if _model_error(reference, band, calibration) > settings.max_model_error:
        return "not a translation within the telemetry band"
    width, height = reference.size
    f_ref = calibration.focal_px(reference.pose.zoom, width)
    # The frame's focal length over the reference's, as the telemetry bounds it.
    ratios = [calibration.focal_px(z, width) / f_ref for z in _zooms(band)]
    spectrum = _spectrum(image)
    if max(abs(r - 1.0) for r in ratios) <= settings.max_scale_change:
        scale, scale_error = 1.0, max(abs(r - 1.0) for r in ratios)
        work, work_spectrum = image, spectrum
    else:
        measured = _measure_scale(reference, spectrum, image.shape, settings)
        if isinstance(measured, str):
            return measured
        scale, scale_error = measured, settings.scale_error
        if not ratios[0] * (1.0 - scale_error) <= scale <= ratios[1] * (1.0 + scale_error):
            return "zoom outside the telemetry band"
        work = _rescale(image, scale)
        work_spectrum = _spectrum(work)
    # The frame's focal length relative to the true reference's: measured (or bounded
    # by the telemetry) and the reference's own uncertainty.
    focal_error = scale_error + reference.focal_error
    dx, dy, peak, second = _correlate(work_spectrum, reference.spectrum, image.shape)
    ratio = peak / second if second > 0.0 else math.inf
    h, w = image.shape
    if peak < settings.min_peak or ratio < settings.min_peak_ratio:
        return "weak or ambiguous peak"
    if abs(dx) > settings.max_shift_fraction * w or abs(dy) > settings.max_shift_fraction * h:
        return "shift too large"
    valid = min(1.0, 1.0 / scale)
    ncc = _ncc(reference.image, work, dx, dy, valid)
    if ncc < settings.min_ncc:
        return "picture does not match"
    detail = _ncc(reference.detail, _high_pass(work), dx, dy, valid)
    if detail < settings.min_detail_ncc:
        return "details do not match"
    # The frame's optical axis is the reference's ray through the pixel the frame's
    # centre came from (content moved by +shift, so the axis moved by -shift); the
    # rescaling keeps the centre where it is.
    f = reference.factor
    cx, cy = width / 2.0 - dx * f, height / 2.0 - dy * f
    moved = math.hypot(dx, dy)
    error = f * (settings.error_px + (settings.error_per_px + focal_error) * moved)
    points = [(cx, cy)] + [
        (cx + sx * error, cy + sy * error) for sx in (-1.0, 1.0) for sy in (-1.0, 1.0)
    ]
    rays = unproject_points(
        [(x / width, y / height) for x, y in points], reference.pose, calibration, reference.size
    )
    zooms = (
        _zoom_of(calibration, f_ref * scale * (1.0 - focal_error), width),
        _zoom_of(calibration, f_ref * scale * (1.0 + focal_error), width),
    )
    pan, tilt = rays[0]
    estimate = Pose(pan, tilt, (zooms[0] + zooms[1]) / 2.0)
    # The error box's corners, as |dpan| + |dtilt| from the estimate (10% for the
    # curvature of the mapping between them), plus the reference's own error.
    spread = max(angle_between(estimate, Pose(p, t, estimate.zoom)) for p, t in rays[1:])
    radius = 1.1 * spread + reference.error_deg
    return Registration(
        estimate, radius, (dx, dy), peak, ratio, ncc, detail, zooms, focal_error, scale
    )


def narrow(plan: MaskPlan, registration: Registration) -> MaskPlan | None:
    """The telemetry plan narrowed to the registration's band: one anchor at the
    estimate with the registration's radius, over the zooms both allow; None when the
    two bands do not meet (the picture contradicts the telemetry: keep the telemetry
    plan). The caller paints this plan's mask AND the telemetry plan's, so a band that
    is wider than the telemetry's in places costs only CPU."""
    if plan.blank or not plan.anchors:
        return None
    est = registration.pose
    meets = any(
        angle_between(a.pose, est) <= a.radius_deg + registration.radius_deg + plan.base_deg
        for a in plan.anchors
    )
    if not meets:
        return None
    zoom_lo, zoom_hi = zoom_range(plan)
    if registration.zooms is not None:
        zoom_lo = max(zoom_lo, registration.zooms[0])
        zoom_hi = min(zoom_hi, registration.zooms[1])
        if zoom_lo > zoom_hi + 1e-9:  # (rounding: a zoom converted to focal and back)
            return None
        zoom_hi = max(zoom_lo, zoom_hi)
    anchor = Anchor(
        Pose(est.pan, est.tilt, (zoom_lo + zoom_hi) / 2.0),
        registration.radius_deg,
        (zoom_hi - zoom_lo) / 2.0,
    )
    return MaskPlan(False, "registered", (anchor,), plan.base_deg, True, plan.extra_px)


def zoom_range(plan: MaskPlan) -> tuple[float, float]:
    """The zooms a plan's anchors allow."""
    return _zooms(plan.anchors)


def _zooms(anchors: Sequence[Anchor]) -> tuple[float, float]:
    return (
        max(0.0, min(a.pose.zoom - a.zoom_radius for a in anchors)),
        min(1.0, max(a.pose.zoom + a.zoom_radius for a in anchors)),
    )
