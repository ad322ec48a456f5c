"""Procedural equirectangular panorama of a street, with private zones and moving objects.

The panorama covers pan -180..180 degrees left to right and tilt +90..-90 top to bottom.
Everything is laid out in degrees, so the same scene looks the same at any resolution,
and drawn from a seeded generator, so it is deterministic. It is kept as BT.601
limited-range Y, U and V planes (U and V at half resolution, like yuv420p), because that
is what the H.264 encoder takes: rendering then needs no colour conversion at all.

Palette rule (so the signature colour is unique): every scene colour has G >= 120, or
R <= 135, or B <= 135; the signature (255, 0, 255) is therefore at a Chebyshev distance
of at least 120 from every other pixel. ``tests/.../test_panorama.py`` checks it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from onvif_control.simulator.scene import SIGNATURE_RGB, MovingObject, PrivateZone, Scene

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

_FACADES = np.array(
    [[150, 80, 60], [200, 180, 140], [130, 130, 135], [110, 85, 65], [160, 170, 180],
     [190, 150, 80], [120, 125, 105], [175, 160, 150]],
    dtype=np.float32,
)  # fmt: skip
_WINDOWS = np.array(
    [[40, 55, 70], [35, 45, 60], [230, 210, 120], [180, 160, 130], [70, 90, 110]],
    dtype=np.float32,
)  # fmt: skip
_VEHICLES = ((170, 30, 30), (225, 225, 225), (30, 45, 110), (160, 165, 170), (220, 180, 40))
_CLOTHES = ((40, 60, 120), (120, 40, 30), (60, 90, 50), (200, 200, 190), (30, 30, 30))
_SKIN = (200, 160, 130)
_GROUND_TILT = -6.0


def rgb_to_yuv(rgb: NDArray[np.floating] | NDArray[np.uint8]) -> F32:
    """BT.601 limited-range Y'CbCr of RGB values (0..255), as float32 (..., 3)."""
    src = np.asarray(rgb, dtype=np.float32)
    matrix = np.array(
        [[65.481, -37.797, 112.0], [128.553, -74.203, -93.786], [24.966, 112.0, -18.214]],
        dtype=np.float32,
    ) / np.float32(255.0)
    out = src @ matrix
    out += np.array([16.0, 128.0, 128.0], dtype=np.float32)
    return out


def yuv_to_rgb(y: NDArray[np.uint8], u: NDArray[np.uint8], v: NDArray[np.uint8]) -> U8:
    """RGB (h, w, 3) from BT.601 limited-range planes; ``u``/``v`` at half resolution."""
    h, w = y.shape
    uu = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)[:h, :w].astype(np.float32) - 128.0
    vv = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)[:h, :w].astype(np.float32) - 128.0
    yy = (y.astype(np.float32) - 16.0) * (255.0 / 219.0)
    r = yy + 1.596027 * vv
    g = yy - 0.391762 * uu - 0.812968 * vv
    b = yy + 2.017232 * uu
    return np.clip(np.stack([r, g, b], axis=-1) + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class PanoramaPlanes:
    """Y (H, W), U and V (H/2, W/2) planes plus private-zone masks at both resolutions."""

    y: U8
    u: U8
    v: U8
    zone_y: BoolArray
    zone_c: BoolArray

    @property
    def width(self) -> int:
        """Luma width in pixels (covers 360 degrees of pan)."""
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        """Luma height in pixels (covers 180 degrees of tilt)."""
        return int(self.y.shape[0])


def panorama_width_for(image_width: int, hfov_wide: float) -> int:
    """Panorama width giving about one panorama pixel per image pixel at the widest zoom.

    At least 4096 (zoomed-in views of small images stay sharp enough for tests), at most
    6144 (about 28 MB of planes), rounded to a multiple of 64.
    """
    wanted = image_width * 360.0 / hfov_wide
    return int(min(6144, max(4096, round(wanted / 64.0) * 64)))


def build_panorama(scene: Scene, width: int) -> PanoramaPlanes:
    """Draw the static panorama of ``scene`` at ``width`` x ``width / 2`` pixels."""
    if width % 4 or width < 256:
        raise ValueError(f"panorama width {width} must be a multiple of 4 and >= 256")
    height = width // 2
    rng = np.random.default_rng(scene.seed)
    pan = (np.arange(width, dtype=np.float32) + 0.5) * (360.0 / width) - 180.0
    tilt = 90.0 - (np.arange(height, dtype=np.float32) + 0.5) * (180.0 / height)
    rgb = np.empty((height, width, 3), dtype=np.float32)
    _draw_sky(rgb, rng, tilt)
    _draw_ground(rgb, rng, pan, tilt)
    _draw_buildings(rgb, rng, pan, tilt)
    _draw_trees(rgb, rng, pan, tilt)
    # Fine texture so the encoder has something real to code; brightness only, which
    # keeps the palette rule.
    texture = _smooth_noise(rng, height, width, width // 8, height // 8)
    texture *= 0.12
    texture += 0.94
    rgb *= texture[..., None]
    # Zones are rasterised at chroma resolution and doubled for luma, so that luma and
    # chroma agree on every zone pixel: the painted colour is exactly the signature.
    zone_c = zone_mask(scene.private_zones, pan[::2] + 180.0 / width, tilt[::2] - 90.0 / height)
    zone_y = np.repeat(np.repeat(zone_c, 2, axis=0), 2, axis=1)
    rgb[zone_y] = SIGNATURE_RGB
    yuv = rgb_to_yuv(np.clip(rgb, 0, 255))
    y = np.clip(yuv[..., 0] + 0.5, 0, 255).astype(np.uint8)
    # Chroma: mean of each 2x2 block, as a yuv420p converter would do.
    uv = (yuv[0::2, 0::2, 1:] + yuv[1::2, 0::2, 1:] + yuv[0::2, 1::2, 1:] + yuv[1::2, 1::2, 1:]) / 4
    u = np.clip(uv[..., 0] + 0.5, 0, 255).astype(np.uint8)
    v = np.clip(uv[..., 1] + 0.5, 0, 255).astype(np.uint8)
    for plane in (y, u, v, zone_y, zone_c):
        plane.flags.writeable = False
    return PanoramaPlanes(y, u, v, zone_y, zone_c)


def zone_mask(
    zones: tuple[PrivateZone, ...], pan: NDArray[np.floating], tilt: NDArray[np.floating]
) -> BoolArray:
    """Boolean (len(tilt), len(pan)) mask of pixel centres inside any zone (even-odd rule)."""
    mask = np.zeros((tilt.size, pan.size), dtype=bool)
    for zone in zones:
        poly = np.asarray(zone.polygon, dtype=np.float64)
        cols = np.nonzero((pan >= poly[:, 0].min()) & (pan <= poly[:, 0].max()))[0]
        rows = np.nonzero((tilt >= poly[:, 1].min()) & (tilt <= poly[:, 1].max()))[0]
        if cols.size == 0 or rows.size == 0:
            continue
        px = pan[cols][None, :].astype(np.float64)
        py = tilt[rows][:, None].astype(np.float64)
        inside = np.zeros((rows.size, cols.size), dtype=bool)
        for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
            if y1 == y2:
                continue
            crosses = (y1 > py) != (y2 > py)
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
            inside ^= crosses & (px < x_at)
        mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] |= inside
    return mask


class LivePanorama:
    """A panorama with moving objects painted at a given time (one per camera).

    ``paint(t)`` restores the pixels under the previous object positions from the static
    planes and paints the objects at time ``t``, never over a private zone. Callers
    serialise ``paint`` with reads of the planes through :attr:`lock`.
    """

    def __init__(self, static: PanoramaPlanes, objects: tuple[MovingObject, ...]) -> None:
        self.static = static
        self.y = static.y.copy()
        self.u = static.u.copy()
        self.v = static.v.copy()
        self.lock = threading.Lock()
        self._objects = objects
        self._dirty: list[tuple[int, int, int, int]] = []  # luma rows r0..r1, cols c0..c1
        self._colours = [_object_colours(i, o) for i, o in enumerate(objects)]

    def paint(self, t: float) -> None:
        """Move the objects to their positions at ``t`` seconds."""
        w, h = self.static.width, self.static.height
        for r0, r1, c0, c1 in self._dirty:
            self._restore(r0, r1, c0, c1)
        self._dirty = []
        for obj, colours in zip(self._objects, self._colours, strict=True):
            pan = obj.pan_at(t)
            for dp0, dp1, dt0, dt1, colour in _object_parts(obj.kind, colours):
                c0 = int(np.floor((pan + dp0 + 180.0) / 360.0 * w)) & ~1
                c1 = int(np.ceil((pan + dp1 + 180.0) / 360.0 * w) + 1) & ~1
                r0 = int(np.floor((90.0 - (obj.tilt + dt1)) / 180.0 * h)) & ~1
                r1 = int(np.ceil((90.0 - (obj.tilt + dt0)) / 180.0 * h) + 1) & ~1
                r0, r1 = max(r0, 0), min(r1, h)
                if r1 <= r0 or c1 <= c0:
                    continue
                self._fill(r0, r1, c0, c1, colour)
                self._dirty.append((r0, r1, c0, c1))

    def _cols(self, c0: int, c1: int, scale: int) -> NDArray[np.intp]:
        width = self.static.width // scale
        return np.arange(c0 // scale, c1 // scale) % width

    def _restore(self, r0: int, r1: int, c0: int, c1: int) -> None:
        cols, ccols = self._cols(c0, c1, 1), self._cols(c0, c1, 2)
        self.y[r0:r1, cols] = self.static.y[r0:r1, cols]
        self.u[r0 // 2 : r1 // 2, ccols] = self.static.u[r0 // 2 : r1 // 2, ccols]
        self.v[r0 // 2 : r1 // 2, ccols] = self.static.v[r0 // 2 : r1 // 2, ccols]

    def _fill(self, r0: int, r1: int, c0: int, c1: int, yuv: tuple[int, int, int]) -> None:
        cols, ccols = self._cols(c0, c1, 1), self._cols(c0, c1, 2)
        keep = self.static.zone_y[r0:r1, cols]
        self.y[r0:r1, cols] = np.where(keep, self.y[r0:r1, cols], np.uint8(yuv[0]))
        cr = slice(r0 // 2, r1 // 2)
        keep_c = self.static.zone_c[cr, ccols]
        self.u[cr, ccols] = np.where(keep_c, self.u[cr, ccols], np.uint8(yuv[1]))
        self.v[cr, ccols] = np.where(keep_c, self.v[cr, ccols], np.uint8(yuv[2]))


_Part = tuple[float, float, float, float, tuple[int, int, int]]


def _object_colours(index: int, obj: MovingObject) -> tuple[tuple[int, int, int], ...]:
    palette = _VEHICLES if obj.kind == "vehicle" else _CLOTHES
    main = palette[index % len(palette)]
    second = _CLOTHES[(index + 2) % len(_CLOTHES)]
    out = []
    for rgb in (main, second, (25, 28, 32), _SKIN):
        y, u, v = rgb_to_yuv(np.array(rgb, dtype=np.float32))
        out.append((round(float(y)), round(float(u)), round(float(v))))
    return tuple(out)


def _object_parts(kind: str, colours: tuple[tuple[int, int, int], ...]) -> list[_Part]:
    """Rectangles (pan from/to, tilt from/to relative to the object's foot, colour)."""
    main, second, dark, skin = colours
    if kind == "vehicle":
        return [
            (-3.0, 3.0, 0.4, 1.6, main),  # body
            (-1.8, 1.6, 1.6, 2.5, main),  # cabin
            (-1.5, 1.3, 1.75, 2.35, dark),  # windows
            (-2.4, -1.4, 0.0, 0.6, dark),  # wheels
            (1.4, 2.4, 0.0, 0.6, dark),
        ]
    return [
        (-0.2, 0.2, 0.0, 0.9, second),  # legs
        (-0.25, 0.25, 0.9, 1.6, main),  # torso
        (-0.13, 0.13, 1.6, 1.9, skin),  # head
    ]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells_x: int, cells_y: int) -> F32:
    """Value noise in 0..1, bilinear between random lattice values, periodic in x.

    Separable: interpolate the lattice rows along x first (small), then gather and blend
    two rows per output row, which keeps building a 6144-wide panorama fast.
    """
    grid = rng.random((cells_y + 1, cells_x + 1), dtype=np.float32)
    grid[:, -1] = grid[:, 0]
    xs = np.arange(w, dtype=np.float32) * np.float32(cells_x / w)
    ys = np.arange(h, dtype=np.float32) * np.float32(cells_y / h)
    x0, y0 = xs.astype(np.intp), ys.astype(np.intp)
    fx = (xs - x0.astype(np.float32))[None, :]
    fy = (ys - y0.astype(np.float32))[:, None]
    rows = grid[:, x0] * (1.0 - fx) + grid[:, x0 + 1] * fx
    out = rows[y0]
    out += (rows[y0 + 1] - out) * fy
    return out


def _draw_sky(rgb: F32, rng: np.random.Generator, tilt: F32) -> None:
    # Only rows above the ground line: everything below is painted over anyway.
    rows = int(np.count_nonzero(tilt >= _GROUND_TILT))
    sky = rgb[:rows]
    up = np.clip(tilt[:rows] / 90.0, 0.0, 1.0)[:, None, None]
    horizon = np.array([150, 190, 230], dtype=np.float32)
    zenith = np.array([70, 120, 200], dtype=np.float32)
    sky[:] = horizon + (zenith - horizon) * up
    clouds = _smooth_noise(rng, rows, rgb.shape[1], 48, 12)
    cover = np.clip((clouds - 0.55) * 3.0, 0.0, 1.0)[..., None]
    sky += (np.array([235, 235, 240], dtype=np.float32) - sky) * cover


def _draw_ground(rgb: F32, rng: np.random.Generator, pan: F32, tilt: F32) -> None:
    ground = tilt < _GROUND_TILT
    rgb[ground] = (150, 150, 148)  # sidewalk
    rgb[(tilt < -9.5) & (tilt >= -10.2)] = (105, 105, 108)  # kerb
    road = tilt < -10.2
    rgb[road] = (75, 76, 80)
    lane = (tilt < -18.8) & (tilt >= -19.6)
    dashes = (np.floor((pan + 180.0) / 4.0) % 2 == 0)[None, :]
    rgb[lane[:, None] & dashes] = (220, 220, 210)
    crossing_rows = (tilt < -11.0) & (tilt >= -45.0)
    stripes = ((np.floor((pan + 180.0) / 1.2) % 2 == 0) & (pan >= -14.0) & (pan < -2.0))[None, :]
    rgb[crossing_rows[:, None] & stripes] = (215, 215, 205)
    far = tilt < -60.0
    rgb[far] *= 0.85


def _draw_buildings(rgb: F32, rng: np.random.Generator, pan: F32, tilt: F32) -> None:
    start = -180.0
    while start < 180.0:
        width = float(rng.uniform(6.0, 16.0))
        if rng.random() < 0.2:  # a gap between buildings
            start += float(rng.uniform(1.5, 4.0))
            continue
        end = min(start + width, 180.0)
        top = float(rng.uniform(8.0, 34.0))
        cols = np.nonzero((pan >= start) & (pan < end))[0]
        rows = np.nonzero((tilt <= top) & (tilt >= _GROUND_TILT))[0]
        if cols.size and rows.size:
            facade = _FACADES[rng.integers(len(_FACADES))]
            block = np.empty((rows.size, cols.size, 3), dtype=np.float32)
            block[:] = facade
            dp = pan[cols] - start
            dt = top - tilt[rows]
            cw, rh = float(rng.uniform(1.4, 2.4)), float(rng.uniform(1.8, 2.8))
            in_col = ((dp % cw) > 0.25 * cw) & ((dp % cw) < 0.8 * cw) & (dp > 0.4)
            in_col &= dp < (end - start) - 0.4
            in_row = ((dt % rh) > 0.3 * rh) & ((dt % rh) < 0.85 * rh) & (dt > 0.8)
            in_row &= tilt[rows] > _GROUND_TILT + 3.0
            n_r, n_c = int(dt.max() // rh) + 2, int(dp.max() // cw) + 2
            choice = rng.integers(len(_WINDOWS), size=(n_r, n_c))
            colours = _WINDOWS[choice[(dt // rh).astype(np.intp)][:, (dp // cw).astype(np.intp)]]
            windows = in_row[:, None] & in_col[None, :]
            block[windows] = colours[windows]
            shop = (tilt[rows] < _GROUND_TILT + 2.4) & (tilt[rows] > _GROUND_TILT + 0.3)
            glass = shop[:, None] & ((dp % 5.0) > 0.6)[None, :]
            block[glass] = (60, 75, 90)
            rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = block
        start = end


def _draw_trees(rgb: F32, rng: np.random.Generator, pan: F32, tilt: F32) -> None:
    for _ in range(10):
        centre = float(rng.uniform(-175.0, 175.0))
        radius = float(rng.uniform(2.0, 3.5))
        crown_tilt = _GROUND_TILT + 2.0 + radius
        cols = np.nonzero(np.abs(pan - centre) < radius)[0]
        rows = np.nonzero((tilt >= _GROUND_TILT - 1.0) & (tilt < crown_tilt + radius))[0]
        if cols.size == 0 or rows.size == 0:
            continue
        block = rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        p, t = pan[cols][None, :], tilt[rows][:, None]
        block[((np.abs(p - centre) < 0.3) & (t < crown_tilt)) & np.ones_like(t, dtype=bool)] = (
            90,
            65,
            40,
        )
        block[((p - centre) / radius) ** 2 + ((t - crown_tilt) / radius) ** 2 < 1.0] = (50, 100, 45)
