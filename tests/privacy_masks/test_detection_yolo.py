"""The ultralytics backend with a real YOLO model that the suite trains itself
(tests/privacy_masks/yolo_model.py, cached), and its configuration errors (issue 16
items 1 and 8): loading, inference and class mapping run for real.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from privacy_masks.detection import ObjectClass, TrackerSettings, analyse, build_detector
from privacy_masks.detection.model import Box
from privacy_masks.detection.render import Method, redact
from tests.privacy_masks import yolo_model
from tests.privacy_masks.scenes import signature_pixels
from vms.config import RedactionConfig
from vms.errors import InvalidArgument

FACE_SKIN = (120, 170, 230)

# The first run trains the model in the first test's setup (70 s of CPU, about 3 min on a
# loaded 2-core machine): rest tier, and room beyond the default 300 s timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path, seconds = yolo_model.trained_model()
    if seconds:
        print(f"trained the test YOLO model in {seconds:.0f} s: {path}")
    return path


def config(path, classes="face=face,plate=plate"):
    return RedactionConfig(model=str(path), classes=classes, min_score=0.25, model_imgsz=64)


def truth(seed: int):
    img, labels = yolo_model._scene(np.random.default_rng(seed))
    s = yolo_model.IMGSZ
    boxes = [(c, Box((x - w / 2) * s, (y - h / 2) * s, w * s, h * s)) for c, x, y, w, h in labels]
    return img, boxes


def test_the_trained_model_loads_and_finds_faces_and_plates(model_path, tmp_path):
    detector = build_detector(config(model_path), settings_dir=tmp_path / "settings")
    assert detector.name == "ultralytics"
    found = total = 0
    for seed in range(100, 120):
        img, boxes = truth(seed)
        detections = detector.detect(img)
        for c, box in boxes:
            total += 1
            cls = ObjectClass.FACE if c == 0 else ObjectClass.PLATE
            found += any(d.cls is cls and d.box.iou(box) > 0.5 for d in detections)
    assert found / total >= 0.75, (found, total)  # a 30-epoch model, objects may overlap


def test_class_table_maps_model_names_and_drops_the_unmapped(model_path):
    """``face`` reported as ``screen`` by the table; ``plate`` not in it: never reported."""
    detector = build_detector(config(model_path, "face=screen"))
    seen = set()
    for seed in range(100, 110):
        seen |= {d.cls for d in detector.detect(truth(seed)[0])}
    assert seen == {ObjectClass.SCREEN}


def test_requested_classes_limit_what_is_reported(model_path):
    detector = build_detector(config(model_path), {ObjectClass.PLATE})
    classes = {d.cls for seed in range(100, 110) for d in detector.detect(truth(seed)[0])}
    assert classes == {ObjectClass.PLATE}


def test_rel3_ultralytics_backend_with_tracking_covers_a_moving_face(model_path):
    """A face and a plate crossing a 64x64 picture: every frame covered, no skin pixel
    left (solid)."""
    rng = np.random.default_rng(3)
    bg = rng.normal(110, 12, (64, 64, 3)).clip(0, 255).astype(np.uint8)

    def frames():
        import cv2  # test-side drawing

        for f in range(20):
            img = bg.copy()
            cv2.ellipse(img, (10 + 2 * f, 20), (9, 12), 0, 0, 360, FACE_SKIN, -1)
            for side in (-1, 1):
                cv2.circle(img, (10 + 2 * f + side * 4, 16), 2, (30, 30, 30), -1)
            cv2.rectangle(img, (30 - f, 44), (60 - f, 53), (255, 255, 255), -1)
            cv2.rectangle(img, (30 - f, 44), (60 - f, 53), (0, 0, 0), 1)
            yield img

    detector = build_detector(config(model_path))
    tracks = analyse(frames(), detector, TrackerSettings(max_gap_frames=3))
    assert {t.cls for t in tracks} == {ObjectClass.FACE, ObjectClass.PLATE}
    left = [signature_pixels(img, FACE_SKIN) for img in redact(frames(), tracks, Method.SOLID)]
    assert sum(left) == 0, left


# -- configuration errors, at construction (start), naming the path ------------------------


def test_a_missing_model_file_is_a_configuration_error(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(InvalidArgument, match=f"model '{missing}': no such file"):
        build_detector(config(missing))


def test_a_file_that_is_not_a_yolo_model_is_a_configuration_error(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model\n" * 10)
    with pytest.raises(InvalidArgument, match=f"model '{junk}': not a YOLO model"):
        build_detector(config(junk))
    pickled = tmp_path / "dict.pt"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(InvalidArgument, match=f"model '{pickled}': not a YOLO model"):
        build_detector(config(pickled))


def test_other_model_formats_and_unmapped_models_are_refused(tmp_path, model_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(InvalidArgument, match=r"not a \.pt file"):
        build_detector(config(onnx))
    with pytest.raises(InvalidArgument, match=r"none of its classes \(face, plate\) is mapped"):
        build_detector(config(model_path, "car=vehicle"))
