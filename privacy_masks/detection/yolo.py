"""The ultralytics adapter: the one module that imports ``ultralytics``
(docs/design/dependencies.md). The ``ultralytics`` detection backend: a YOLO model file
the agency configures (``[redaction] model``), its class names mapped to ours by
``[redaction] classes``.

Nothing is downloaded: the model is a local ``.pt`` file checked at construction (the
start of the role that uses it), and ultralytics is imported with ``YOLO_OFFLINE=1`` and
its settings directory pointed at ``settings_dir`` (the data dir's; default a new
private folder of a random name in the temporary directory), so it neither looks for
the network nor writes into ``$HOME``. A missing, unreadable or non-YOLO file, or a
model none of whose classes the table maps, is an :class:`InvalidArgument` naming the
path.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from privacy_masks.detection.model import Box, Detection, Frame, ObjectClass
from vms.errors import InvalidArgument

log = logging.getLogger(__name__)

#: Tasks whose results carry boxes.
_BOX_TASKS = frozenset({"detect", "segment"})


def _ultralytics(settings_dir: Path | None) -> Any:
    """The ``ultralytics`` module, imported offline and quiet (the environment is read
    once, at its first import: a process that imported it before keeps its settings)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if settings_dir is None:  # never $HOME
        # A new private folder of a random name (mkdtemp: 0700, created exclusively): a
        # fixed name in the shared temporary folder could be another local user's
        # folder, or a link to one, holding the settings ultralytics would read.
        settings_dir = Path(tempfile.mkdtemp(prefix="vms-ultralytics-"))
    settings_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(settings_dir))
    import ultralytics

    return ultralytics


class YoloDetector:
    """A YOLO detection model from ``path``. ``table``: model class name -> our class
    (names the table lacks are ignored); ``classes``: which of ours to report;
    ``min_score``: the confidence below which a box is dropped; ``imgsz``: the inference
    size (the picture's longer side is scaled to it)."""

    name = "ultralytics"

    def __init__(
        self,
        path: Path,
        table: Mapping[str, ObjectClass],
        classes: Collection[ObjectClass] = tuple(ObjectClass),
        *,
        min_score: float = 0.25,
        imgsz: int = 640,
        settings_dir: Path | None = None,
    ) -> None:
        where = f"[redaction] model {str(path)!r}"
        if path.suffix != ".pt":
            raise InvalidArgument(f"{where}: not a .pt file (a YOLO PyTorch model is expected)")
        if not path.is_file():
            raise InvalidArgument(f"{where}: no such file")
        if not os.access(path, os.R_OK):
            raise InvalidArgument(f"{where}: the file cannot be read")
        if not 0 <= min_score <= 1:
            raise InvalidArgument(f"[redaction] min_score must be in [0, 1], not {min_score}")
        ultralytics = _ultralytics(settings_dir)
        try:
            model = ultralytics.YOLO(str(path), task=None, verbose=False)
        except Exception as exc:  # a pickle, a zip or torch error: anything but a model
            raise InvalidArgument(
                f"{where}: not a YOLO model ({type(exc).__name__}: {exc})"
            ) from None
        task = getattr(model, "task", None)
        if task not in _BOX_TASKS:
            raise InvalidArgument(
                f"{where}: a YOLO {task!r} model finds no boxes (a detect or segment "
                "model is expected)"
            )
        names: dict[int, str] = dict(model.names)
        wanted = frozenset(classes)
        self._map = {i: table[n] for i, n in names.items() if n in table and table[n] in wanted}
        if not self._map:
            raise InvalidArgument(
                f"{where}: none of its classes ({', '.join(sorted(names.values()))}) is mapped "
                "by [redaction] classes to one of " + ", ".join(sorted(c.value for c in wanted))
            )
        self.path = path
        self.model_names = names
        self.min_score = min_score
        self.imgsz = imgsz
        self._model = model
        log.info(
            "YOLO model %s loaded: %s",
            path,
            ", ".join(f"{names[i]}->{c.value}" for i, c in sorted(self._map.items())),
        )

    def detect(self, frame: Frame) -> list[Detection]:
        results = self._model.predict(
            frame,
            conf=self.min_score,
            imgsz=self.imgsz,
            classes=sorted(self._map),
            device="cpu",
            verbose=False,
        )
        found: list[Detection] = []
        for result in results:
            boxes = result.boxes
            if boxes is None:
                continue
            xyxy = boxes.xyxy.cpu().numpy()
            cls = boxes.cls.cpu().numpy()
            conf = boxes.conf.cpu().numpy()
            for (x0, y0, x1, y1), c, s in zip(xyxy, cls, conf, strict=True):
                ours = self._map.get(int(c))
                if ours is not None:
                    box = Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
                    found.append(Detection(box, ours, float(s)))
        return found
