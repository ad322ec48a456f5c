"""The panorama: deterministic, and the signature colour appears only in private zones."""

from __future__ import annotations

import numpy as np

from onvif_control.simulator.panorama import LivePanorama, build_panorama, rgb_to_yuv, yuv_to_rgb
from onvif_control.simulator.scene import SIGNATURE_RGB, PrivateZone, Scene

WIDTH = 1024


def test_same_seed_same_panorama_other_seed_differs():
    a = build_panorama(Scene(seed=1), WIDTH)
    b = build_panorama(Scene(seed=1), WIDTH)
    c = build_panorama(Scene(seed=2), WIDTH)
    assert np.array_equal(a.y, b.y) and np.array_equal(a.u, b.u)
    assert not np.array_equal(a.y, c.y)


def test_signature_colour_only_inside_zones():
    pano = build_panorama(Scene(), WIDTH)
    rgb = yuv_to_rgb(pano.y, pano.u, pano.v).astype(np.int16)
    distance = np.abs(rgb - np.array(SIGNATURE_RGB, dtype=np.int16)).max(axis=-1)
    # Chroma is shared by 2x2 blocks: ignore luma pixels whose chroma block touches a zone.
    near_zone = np.repeat(
        np.repeat(pano.zone_y.reshape(WIDTH // 4, 2, WIDTH // 2, 2).any(axis=(1, 3)), 2, 0), 2, 1
    )
    outside = ~near_zone
    assert distance[outside].min() >= 110
    inside = np.repeat(np.repeat(pano.zone_c, 2, 0), 2, 1)
    assert inside.any()
    assert distance[inside].max() <= 3


def test_moving_objects_keep_palette_rule_and_never_cover_zones():
    scene = Scene()
    pano = build_panorama(scene, WIDTH)
    live = LivePanorama(pano, scene.objects)
    for t in (0.0, 7.5, 31.0):
        live.paint(t)
        rgb = yuv_to_rgb(live.y, live.u, live.v).astype(np.int16)
        distance = np.abs(rgb - np.array(SIGNATURE_RGB, dtype=np.int16)).max(axis=-1)
        zone_rows = np.repeat(np.repeat(pano.zone_c, 2, 0), 2, 1)
        assert np.array_equal(live.y[pano.zone_y], pano.y[pano.zone_y])
        near = np.repeat(
            np.repeat(pano.zone_y.reshape(WIDTH // 4, 2, WIDTH // 2, 2).any(axis=(1, 3)), 2, 0),
            2,
            1,
        )
        assert distance[~near].min() >= 110
        assert zone_rows.any()
    assert not np.array_equal(live.y, pano.y)  # objects were painted


def test_objects_are_restored_when_they_move():
    scene = Scene()
    pano = build_panorama(scene, WIDTH)
    live = LivePanorama(pano, scene.objects)
    live.paint(0.0)
    first = live.y.copy()
    live.paint(50.0)
    live.paint(0.0)
    assert np.array_equal(live.y, first)


def test_zone_polygon_is_rasterised_with_its_shape():
    zone = PrivateZone("tri", ((0.0, 0.0), (20.0, 0.0), (0.0, 20.0)))
    scene = Scene(private_zones=(zone,), objects=())
    pano = build_panorama(scene, WIDTH)
    deg = WIDTH / 360.0

    def at(pan: float, tilt: float) -> bool:
        return bool(pano.zone_y[int((90 - tilt) * deg), int((pan + 180) * deg)])

    assert at(2.0, 2.0) and at(15.0, 2.0) and at(2.0, 15.0)
    assert not at(15.0, 15.0)  # beyond the hypotenuse
    assert not at(-2.0, 2.0)


def test_rgb_yuv_round_trip_is_close():
    for colour in ([255, 0, 255], [10, 200, 30], [128, 128, 128], [0, 0, 0]):
        rgb = np.array(colour, dtype=np.uint8)
        y, u, v = (np.clip(rgb_to_yuv(rgb) + 0.5, 0, 255).astype(np.uint8)).tolist()
        back = yuv_to_rgb(
            np.full((2, 2), y, np.uint8), np.full((1, 1), u, np.uint8), np.full((1, 1), v, np.uint8)
        )
        assert np.abs(back.astype(int) - rgb.astype(int)).max() <= 3
