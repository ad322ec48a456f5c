"""A real, tiny YOLO detection model trained here with ultralytics' own training API on
generated pictures, for the ultralytics backend's tests and benchmark.

Two classes on a muted noisy background: ``face`` (an orange-skin oval with dark eyes)
and ``plate`` (a white bar with a black border). The model is built from ultralytics'
``yolov8n.yaml`` (no pretrained weights: nothing is downloaded) and trained on the CPU at
64 px. The result is cached under ``$VMS_CACHE_DIR`` (default ``~/.cache/vms``) in
``yolo-<hash of this recipe>/model.pt``, so only the first run pays for the training.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import inspect
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

NAMES = ("face", "plate")
IMGSZ = 64
TRAIN_IMAGES = 240
EPOCHS = 30
SEED = 7
TRAIN_ARGS: dict[str, object] = {
    "epochs": EPOCHS,
    "imgsz": IMGSZ,
    "batch": 16,
    "workers": 0,
    "device": "cpu",
    "pretrained": False,
    "amp": False,
    "plots": False,
    "val": False,
    "seed": SEED,
    "deterministic": True,
    "mosaic": 0.0,
    "name": "train",
    "exist_ok": True,
    "verbose": False,
}


def _scene(
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    img = rng.normal(110, 12, (IMGSZ, IMGSZ, 3)).clip(0, 255).astype(np.uint8)
    labels = []
    for _ in range(int(rng.integers(1, 3))):
        cls = int(rng.integers(0, 2))
        if cls == 0:
            w = int(rng.integers(14, 26))
            h = int(w * 1.3)
        else:
            w = int(rng.integers(22, 40))
            h = max(6, int(w * 0.3))
        x = int(rng.integers(0, IMGSZ - w))
        y = int(rng.integers(0, IMGSZ - h))
        if cls == 0:
            cv2.ellipse(
                img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, (120, 170, 230), -1
            )
            for side in (-1, 1):
                cv2.circle(
                    img, (x + w // 2 + side * w // 5, y + h // 3), max(1, w // 10), (30, 30, 30), -1
                )
        else:
            cv2.rectangle(img, (x, y), (x + w, y + h), (255, 255, 255), -1)
            cv2.rectangle(img, (x, y), (x + w, y + h), (0, 0, 0), 1)
        labels.append((cls, (x + w / 2) / IMGSZ, (y + h / 2) / IMGSZ, w / IMGSZ, h / IMGSZ))
    return img, labels


def _recipe_hash() -> str:
    recipe = (
        importlib.metadata.version("ultralytics"),
        NAMES,
        TRAIN_IMAGES,
        sorted(TRAIN_ARGS.items()),
    )
    source = inspect.getsource(_scene)
    return hashlib.sha256(f"{recipe}\n{source}".encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("VMS_CACHE_DIR") or Path.home() / ".cache" / "vms")


def trained_model() -> tuple[Path, float]:
    """The model file, and the seconds spent training it now (0 when it was cached)."""
    target = cache_dir() / f"yolo-{_recipe_hash()}" / "model.pt"
    if target.is_file():
        return target, 0.0
    target.parent.mkdir(parents=True, exist_ok=True)
    # One trainer at a time (parallel test workers): the others wait and take its model.
    with _locked(target.with_suffix(".lock")):
        if target.is_file():
            return target, 0.0
        return target, _train(target)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _train(target: Path) -> float:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vms-yolo-") as tmp:
        root = Path(tmp)
        # as the product's adapter does: offline, settings out of $HOME
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics-settings"))
        os.environ.setdefault("MPLCONFIGDIR", str(cache_dir() / "matplotlib"))  # training
        from ultralytics import YOLO

        rng = np.random.default_rng(SEED)
        for split, count in (("train", TRAIN_IMAGES), ("val", 16)):
            (root / split / "images").mkdir(parents=True)
            (root / split / "labels").mkdir(parents=True)
            for i in range(count):
                img, labels = _scene(rng)
                cv2.imwrite(str(root / split / "images" / f"{i}.png"), img)
                (root / split / "labels" / f"{i}.txt").write_text(
                    "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels)
                )
        data = root / "data.yaml"
        data.write_text(
            f"path: {root}\ntrain: train/images\nval: val/images\n"
            + "names:\n"
            + "".join(f"  {i}: {n}\n" for i, n in enumerate(NAMES))
        )
        model = YOLO("yolov8n.yaml", task="detect")
        model.train(data=str(data), project=str(root / "runs"), **TRAIN_ARGS)
        weights = root / "runs" / "train" / "weights" / "last.pt"
        partial = target.with_suffix(f".part{os.getpid()}")
        shutil.copyfile(weights, partial)
        partial.replace(target)
    return time.perf_counter() - started


if __name__ == "__main__":
    path, seconds = trained_model()
    print(path, f"{seconds:.1f} s")
