"""Scene files: TOML and JSON, defaults, unknown keys refused."""

from __future__ import annotations

import json

import pytest

from onvif_control.simulator.calibration import Pose
from onvif_control.simulator.scene import Scene, load_scene, scene_from_dict


def test_default_scene_has_two_zones_one_near_home():
    scene = Scene()
    assert len(scene.private_zones) >= 2
    hfov = scene.calibration.hfov(scene.home.zoom)
    vfov = hfov * 9 / 16  # roughly, for a 16:9 picture
    near = [
        z
        for z in scene.private_zones
        if all(
            abs(p - scene.home.pan) < hfov / 2 and abs(t - scene.home.tilt) < vfov / 2
            for p, t in z.polygon
        )
    ]
    assert near, "no private zone inside the home view"
    assert scene.objects, "the scene should be alive"


def test_load_toml(tmp_path):
    path = tmp_path / "scene.toml"
    path.write_text(
        """
seed = 3
home = { pan = 10.0, tilt = -5.0, zoom = 0.2 }
[calibration]
hfov_wide = 50.0
[[private_zones]]
name = "w"
polygon = [[1.0, 1.0], [2.0, 1.0], [2.0, 2.0]]
objects = []
""".replace("objects = []\n", ""),
        encoding="utf-8",
    )
    scene = load_scene(path)
    assert scene.seed == 3
    assert scene.home == Pose(10.0, -5.0, 0.2)
    assert scene.calibration.hfov_wide == 50.0
    assert [z.name for z in scene.private_zones] == ["w"]
    assert scene.objects == Scene().objects  # default objects kept


def test_load_json_with_no_objects(tmp_path):
    path = tmp_path / "scene.json"
    data = {"private_zones": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}], "objects": []}
    path.write_text(json.dumps(data), encoding="utf-8")
    scene = load_scene(path)
    assert scene.objects == ()
    assert scene.private_zones[0].polygon == ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sede": 1}, "unknown key"),
        ({"calibration": {"hfov": 3}}, "unknown key"),
        ({"private_zones": [{"name": "a", "polygon": [[0, 0], [1, 1]]}]}, "need 3"),
        ({"private_zones": [{"name": "a", "polygon": [[0, 0], [1, 100], [2, 0]]}]}, "tilt"),
        ({"private_zones": [{"name": "a", "polygon": [[-170, 0], [170, 0], [0, 5]]}]}, "180"),
        ({"objects": [{"kind": "ufo", "pan": 0, "tilt": 0, "speed": 1}]}, "kind"),
        ({"home": {"pan": 0, "tilt": 50}}, "home"),
    ],
)
def test_invalid_scenes_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        scene_from_dict(data)


def test_unparsable_file_is_a_value_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("seed = = 3", encoding="utf-8")
    with pytest.raises(ValueError, match="does not parse"):
        load_scene(path)
