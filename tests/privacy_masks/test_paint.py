"""Painting on yuv420p planes: solid (default), pixelate, blank; no RGB round trip."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import pytest

from onvif_control.simulator import SimulatedCamera, signature_mask
from privacy_masks.geometry import SpherePolygon
from privacy_masks.paint import (
    BLACK_YUV,
    BoxBuffers,
    PaintStyle,
    PreparedMask,
    Saved,
    blank,
    frame_box_views,
    frame_planes,
    paint,
    prepare,
    restore,
    save_and_paint,
    save_and_paint_frame,
)
from privacy_masks.planning import MaskSettings, mask_for_frame, plan_masks
from tests.privacy_masks.conftest import SIZE, frame_from_i420, rgb_of, sim_pose, vms_calibration
from vms.camera_model import Pose, PoseSample

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("pose", [Pose(0.0, -10.0, 0.0), Pose(8.0, 0.0, 0.6), Pose(106, -10, 0.3)])
def test_painted_simulator_frames_show_no_signature_pixel_PSCS_1(
    sim_camera: SimulatedCamera, pose: Pose
) -> None:
    """The simulator's own picture, masked on its YUV planes, keeps no private pixel."""
    width, height = SIZE
    renderer = sim_camera._renderer_ready()
    frame = frame_from_i420(renderer.render_i420(sim_pose(pose)), width, height)
    before = signature_mask(rgb_of(frame)).sum()
    assert before > 0, "the pose should show a zone"
    polygons = [SpherePolygon(z.name, z.polygon) for z in sim_camera.scene.private_zones]
    plan = plan_masks(
        T0, PoseSample(pose, T0 - dt.timedelta(seconds=0.5), moving=False), [], MaskSettings()
    )
    mask = mask_for_frame(polygons, plan, vms_calibration(sim_camera), SIZE)
    assert mask is not None
    painted = paint(frame_planes(frame), mask)
    assert painted == int(mask.sum()) * 4
    assert signature_mask(rgb_of(frame)).sum() == 0


def test_solid_fill_touches_only_masked_blocks() -> None:
    frame = av.VideoFrame(64, 32, "yuv420p")
    planes = frame_planes(frame)
    planes.y[:] = 200
    planes.u[:] = 90
    planes.v[:] = 170
    mask = np.zeros((16, 32), dtype=bool)
    mask[2:4, 5:9] = True
    paint(planes, mask)
    assert (planes.y[4:8, 10:18] == BLACK_YUV[0]).all()
    assert (planes.u[2:4, 5:9] == 128).all() and (planes.v[2:4, 5:9] == 128).all()
    assert (planes.y[:4] == 200).all() and (planes.y[:, :10] == 200).all()
    assert int((planes.y == BLACK_YUV[0]).sum()) == 4 * 8
    assert int((planes.u == 128).sum()) == 8


def test_pixelate_replaces_masked_pixels_with_block_means() -> None:
    frame = av.VideoFrame(64, 32, "yuv420p")
    planes = frame_planes(frame)
    planes.y[:] = np.arange(64, dtype=np.uint8)[None, :] * 3
    mask = np.zeros((16, 32), dtype=bool)
    mask[0:8, 0:8] = True  # luma 0..15 x 0..15: one 16x16 block
    paint(planes, mask, PaintStyle.PIXELATE, block=16)
    block = planes.y[0:16, 0:16]
    assert len(np.unique(block)) == 1
    assert int(block[0, 0]) == round(float(np.mean(np.arange(16) * 3)))
    assert (planes.y[:, 16:] == (np.arange(16, 64) * 3)[None, :]).all()


def test_blank_covers_everything_INV_5() -> None:
    frame = av.VideoFrame(32, 16, "yuv420p")
    planes = frame_planes(frame)
    planes.y[:] = 255
    blank(planes)
    assert (planes.y == 16).all() and (planes.u == 128).all() and (planes.v == 128).all()


def test_frame_planes_refuses_other_formats() -> None:
    with pytest.raises(ValueError, match="rgb24"):
        frame_planes(av.VideoFrame(16, 16, "rgb24"))


def test_mask_shape_must_match() -> None:
    frame = av.VideoFrame(32, 16, "yuv420p")
    with pytest.raises(ValueError, match="does not match"):
        paint(frame_planes(frame), np.zeros((3, 3), dtype=bool))


def _on_planes(
    frame: av.VideoFrame, prepared: PreparedMask, buffers: BoxBuffers | None = None
) -> tuple[Saved | None, int]:
    return save_and_paint(frame_planes(frame), prepared, buffers=buffers)


@pytest.mark.parametrize("save", [_on_planes, save_and_paint_frame])
@pytest.mark.parametrize("size", [(64, 48), (65, 47)])
def test_save_and_paint_paints_as_paint_and_restore_puts_every_pixel_back(
    size: tuple[int, int], save: Callable[[av.VideoFrame, PreparedMask], Any]
) -> None:
    """``save_and_paint`` (on the planes) and ``save_and_paint_frame`` (the box cut
    straight from the frame's buffers) paint what ``paint`` paints (odd picture edges
    included), and ``restore`` gives back the picture bit for bit: at the first paint
    of a mask (masked copies) and at the next ones (bitwise, worked out in the box
    buffers the first paint's ``Saved`` hands on, on other pixels); a mask with nothing
    in it paints nothing and has nothing to restore."""
    width, height = size
    rng = np.random.default_rng(5)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    mask = np.zeros((ch, cw), dtype=bool)
    mask[3:ch, cw // 2 : cw] = rng.random((ch - 3, cw - cw // 2)) < 0.7  # to the odd edges
    prepared = prepare(mask)
    buffers: BoxBuffers | None = None
    for round in range(3):
        frames = []
        for _ in range(2):
            frame = av.VideoFrame(width, height, "yuv420p")
            for view in frame_planes(frame).__dict__.values():
                view[:] = rng.integers(0, 256, view.shape, dtype=np.uint8)
            frames.append(frame)
        for view_a, view_b in zip(
            frame_planes(frames[0]).__dict__.values(), frame_planes(frames[1]).__dict__.values()
        ):
            view_b[:] = view_a
        original = [v.copy() for v in frame_planes(frames[0]).__dict__.values()]
        saved, pixels = save(frames[0], prepared, buffers=buffers)
        assert saved is not None
        assert (saved.buffers is buffers) == (round > 0), "the buffers handed on are used"
        assert pixels == paint(frame_planes(frames[1]), prepared) > 0
        for a, b in zip(
            frame_planes(frames[0]).__dict__.values(), frame_planes(frames[1]).__dict__.values()
        ):
            assert np.array_equal(a, b)
        assert any(
            not np.array_equal(a, b)
            for a, b in zip(frame_planes(frames[0]).__dict__.values(), original)
        )
        restore(saved)
        for a, b in zip(frame_planes(frames[0]).__dict__.values(), original):
            assert np.array_equal(a, b)
        buffers = saved.buffers
    assert save(frames[0], prepare(np.zeros((ch, cw), bool))) == (None, 0)
    # Buffers of another box's shape are not used.
    other = np.zeros((ch, cw), dtype=bool)
    other[0:2, 0:3] = True
    saved, _ = save(frames[0], prepare(other), buffers=buffers)
    assert saved is not None and saved.buffers is not buffers
    assert saved.copies[1].shape == (2, 3)


@pytest.mark.parametrize("size", [(64, 48), (65, 47)])
def test_frame_box_views_are_the_boxes_of_the_plane_views(size: tuple[int, int]) -> None:
    """The views cut straight from the buffers are the same pixels as the whole planes'
    views cut down (odd edges: luma cut short), and writing them writes the frame."""
    width, height = size
    cw, ch = (width + 1) // 2, (height + 1) // 2
    frame = av.VideoFrame(width, height, "yuv420p")
    rng = np.random.default_rng(9)
    planes = frame_planes(frame)
    for view in planes.__dict__.values():
        view[:] = rng.integers(0, 256, view.shape, dtype=np.uint8)
    for box in [(0, ch, 0, cw), (3, ch, cw // 2, cw), (1, 2, 5, 6)]:
        r0, r1, c0, c1 = box
        y, u, v = frame_box_views(frame, box)
        assert np.array_equal(y, planes.y[2 * r0 : 2 * r1, 2 * c0 : 2 * c1])
        assert np.array_equal(u, planes.u[r0:r1, c0:c1])
        assert np.array_equal(v, planes.v[r0:r1, c0:c1])
        y[:] = 7
        assert (planes.y[2 * r0 : 2 * r1, 2 * c0 : 2 * c1] == 7).all()


def test_frame_box_views_refuse_a_box_outside_the_picture_and_other_formats() -> None:
    frame = av.VideoFrame(64, 48, "yuv420p")
    for box in [(0, 25, 0, 32), (0, 24, 0, 33), (-1, 2, 0, 2), (2, 2, 0, 2)]:
        with pytest.raises(ValueError, match="not inside"):
            frame_box_views(frame, box)
    with pytest.raises(ValueError, match="not yuv420p"):
        frame_box_views(av.VideoFrame(64, 48, "rgb24"), (0, 1, 0, 1))
    with pytest.raises(ValueError, match="does not match"):
        save_and_paint_frame(frame, prepare(np.ones((3, 3), dtype=bool)))


@pytest.mark.parametrize("colour", [BLACK_YUV, (30, 90, 90), (200, 50, 60)])
@pytest.mark.parametrize("size", [(64, 48), (65, 47)])
def test_a_solid_paint_sets_exactly_the_masked_pixels_to_the_colour(
    size: tuple[int, int], colour: tuple[int, int, int]
) -> None:
    """Whichever way the fill goes (bitwise passes for the default black and equal
    chroma, masked copies otherwise), the masked pixels take the colour and no other
    pixel changes; twice (the black fill bytes kept with the prepared mask)."""
    width, height = size
    cw, ch = (width + 1) // 2, (height + 1) // 2
    rng = np.random.default_rng(11)
    mask = np.zeros((ch, cw), dtype=bool)
    mask[2:ch, 3:cw] = rng.random((ch - 2, cw - 3)) < 0.5
    prepared = prepare(mask)
    luma = np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)[:height, :width]
    for _ in range(2):
        frame = av.VideoFrame(width, height, "yuv420p")
        planes = frame_planes(frame)
        for view in planes.__dict__.values():
            view[:] = rng.integers(0, 256, view.shape, dtype=np.uint8)
        before = [view.copy() for view in planes.__dict__.values()]
        paint(planes, prepared, colour=colour)
        for view, was, cells, value in zip(
            planes.__dict__.values(), before, (luma, mask, mask), colour, strict=True
        ):
            assert (view[cells] == value).all()
            assert np.array_equal(view[~cells], was[~cells])
