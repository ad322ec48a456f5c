"""Pinhole rendering of the panorama for a camera pose, straight into yuv420p.

For every output pixel the renderer needs the panorama pixel its ray hits. The ray's
direction relative to the camera depends only on tilt and zoom; pan merely shifts the
panorama column. So a lookup table (row offset and relative column per pixel, for luma
and for chroma) is computed per (tilt, zoom) and cached, and per pose the flat indices
are ``row_offset + (column + pan_shift) mod width``, also cached while the pose does not
change. A frame is then three ``np.take`` calls into a preallocated I420 buffer.

Geometry (the simulator's ground truth, independent of ``privacy_masks``): camera axes
right / up / forward; tilt rotates about the right axis (positive up), pan about the
vertical (positive to the right); pixel (x, y) has its centre at (x + 0.5, y + 0.5) and the
principal point is the image centre. Sampling is nearest-neighbour.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray

from onvif_control.simulator.calibration import Calibration, Pose
from onvif_control.simulator.panorama import LivePanorama, yuv_to_rgb

I32 = NDArray[np.int32]
U8 = NDArray[np.uint8]

_TILT_STEP = 0.01  # degrees; tables are keyed by quantised tilt and zoom
_ZOOM_STEP = 0.0005
_TABLE_CACHE = 6


def project(
    pose: Pose, calibration: Calibration, size: tuple[int, int], pan: float, tilt: float
) -> tuple[float, float] | None:
    """Image position (x, y) in pixels of the direction (pan, tilt) degrees, or ``None``.

    ``None`` when the direction is behind the camera. The position may lie outside the
    image. Pixel centres are at half-integers.
    """
    width, height = size
    f = calibration.focal_px(pose.zoom, width)
    dp = math.radians(pan - pose.pan)
    t = math.radians(tilt)
    right, up, fwd = math.cos(t) * math.sin(dp), math.sin(t), math.cos(t) * math.cos(dp)
    ct, st = math.cos(math.radians(pose.tilt)), math.sin(math.radians(pose.tilt))
    fwd_c = fwd * ct + up * st
    up_c = -fwd * st + up * ct
    if fwd_c <= 1e-9:
        return None
    return width / 2.0 + f * right / fwd_c, height / 2.0 - f * up_c / fwd_c


def _ray_table(
    width: int,
    height: int,
    step: int,
    focal: float,
    tilt_deg: float,
    pano_w: int,
    pano_h: int,
) -> tuple[I32, I32]:
    """Row offsets (row * pano_w) and relative columns for a grid of output pixels.

    ``step`` is 1 for luma and 2 for chroma (sampled at the centre of each 2x2 block);
    ``pano_w``/``pano_h`` are the size of the plane being sampled.
    """
    xs = (np.arange(width // step, dtype=np.float32) + 0.5) * step - width / 2.0
    ys = height / 2.0 - (np.arange(height // step, dtype=np.float32) + 0.5) * step
    right = (xs / np.float32(focal))[None, :]
    up = (ys / np.float32(focal))[:, None]
    ct, st = (
        np.float32(math.cos(math.radians(tilt_deg))),
        np.float32(math.sin(math.radians(tilt_deg))),
    )
    fwd_w = ct - up * st  # forward = 1 in camera coordinates
    up_w = st + up * ct
    pan_rel = np.arctan2(right, fwd_w)  # radians, relative to the camera's pan
    tilt_w = np.arctan2(up_w, np.hypot(right, fwd_w))
    col = np.floor(pan_rel * np.float32(pano_w / (2.0 * math.pi))).astype(np.int32)
    row = np.floor((np.float32(math.pi / 2.0) - tilt_w) * np.float32(pano_h / math.pi))
    row = np.clip(row, 0, pano_h - 1).astype(np.int32)
    return row * np.int32(pano_w), col


class Renderer:
    """Renders a :class:`LivePanorama` for poses at one output size (even width/height)."""

    def __init__(self, panorama: LivePanorama, calibration: Calibration, size: tuple[int, int]):
        width, height = size
        if width % 2 or height % 2 or width < 16 or height < 16:
            raise ValueError(f"image size {width}x{height} must be even and at least 16x16")
        self.panorama = panorama
        self.calibration = calibration
        self.size = size
        self._tables: OrderedDict[tuple[int, int], tuple[I32, I32, I32, I32]] = OrderedDict()
        self._cached: tuple[tuple[int, int, int], I32, I32] | None = None
        # The encoder thread and snapshot requests render concurrently.
        self._lock = threading.Lock()

    def render_i420(self, pose: Pose, out: U8 | None = None) -> U8:
        """Render ``pose`` into an I420 buffer of shape (height * 3 / 2, width)."""
        width, height = self.size
        if out is None:
            out = np.empty((height * 3 // 2, width), dtype=np.uint8)
        luma_idx, chroma_idx = self._pose_indices(pose)
        pano = self.panorama
        q = width * height // 4
        flat = out.reshape(-1)
        with pano.lock:
            np.take(pano.y.reshape(-1), luma_idx, out=flat[: width * height].reshape(height, width))
            chroma_shape = (height // 2, width // 2)
            u_out = flat[width * height : width * height + q].reshape(chroma_shape)
            v_out = flat[width * height + q :].reshape(chroma_shape)
            np.take(pano.u.reshape(-1), chroma_idx, out=u_out)
            np.take(pano.v.reshape(-1), chroma_idx, out=v_out)
        return out

    def render_rgb(self, pose: Pose) -> U8:
        """Render ``pose`` as RGB (height, width, 3), the same picture the encoder gets."""
        width, height = self.size
        i420 = self.render_i420(pose)
        q = width * height // 4
        flat = i420.reshape(-1)
        y = flat[: width * height].reshape(height, width)
        u = flat[width * height : width * height + q].reshape(height // 2, width // 2)
        v = flat[width * height + q :].reshape(height // 2, width // 2)
        return yuv_to_rgb(y, u, v)

    def zone_mask(self, pose: Pose) -> NDArray[np.bool_]:
        """Boolean (height, width) mask of output pixels that show a private zone.

        A pixel counts if its luma or its (shared 2x2) chroma sample comes from a zone, so
        the mask covers every pixel the zone influences, edges included.
        """
        luma_idx, chroma_idx = self._pose_indices(pose)
        static = self.panorama.static
        luma = np.take(static.zone_y.reshape(-1), luma_idx)
        chroma = np.take(static.zone_c.reshape(-1), chroma_idx)
        return np.asarray(luma | np.repeat(np.repeat(chroma, 2, axis=0), 2, axis=1))

    def _pose_indices(self, pose: Pose) -> tuple[I32, I32]:
        pano_w = self.panorama.static.width
        shift = math.floor((pose.pan + 180.0) / 360.0 * pano_w)
        tkey = (round(pose.tilt / _TILT_STEP), round(pose.zoom / _ZOOM_STEP))
        key = (shift, *tkey)
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] == key:
                return cached[1], cached[2]
            rows_y, cols_y, rows_c, cols_c = self._table(tkey)
            luma = cols_y + np.int32(shift)
            np.remainder(luma, np.int32(pano_w), out=luma)
            luma += rows_y
            chroma = cols_c + np.int32(shift // 2)
            np.remainder(chroma, np.int32(pano_w // 2), out=chroma)
            chroma += rows_c
            self._cached = (key, luma, chroma)
            return luma, chroma

    def _table(self, key: tuple[int, int]) -> tuple[I32, I32, I32, I32]:
        table = self._tables.get(key)
        if table is not None:
            self._tables.move_to_end(key)
            return table
        width, height = self.size
        tilt = key[0] * _TILT_STEP
        focal = self.calibration.focal_px(key[1] * _ZOOM_STEP, width)
        static = self.panorama.static
        rows_y, cols_y = _ray_table(width, height, 1, focal, tilt, static.width, static.height)
        rows_c, cols_c = _ray_table(
            width, height, 2, focal, tilt, static.width // 2, static.height // 2
        )
        table = (rows_y, cols_y, rows_c, cols_c)
        self._tables[key] = table
        if len(self._tables) > _TABLE_CACHE:
            self._tables.popitem(last=False)
        return table
