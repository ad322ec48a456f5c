"""A real recording of a camera with an endless GOP, for the tests of what is done with
it (playback, exports): libx264's packets through the real segment writer and ingest,
``segment_seconds`` 1 s, so segments are cut without a keyframe every
``SEGMENT_LIMIT_FACTOR`` s and the next ones *continue* them (docs/design/recording.md,
"Segments without keyframes")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from recorder.fanout import PacketHub
from tests.recorder.conftest import wait_for
from tests.recorder.test_endless_gop import FRAME, Camera, decoded_in_order
from tests.recorder.test_reliability import items
from tests.recorder.test_salvage import T0, custody, writer_for
from vms.db.models import MediaItem
from vms.services import Services

SEGMENT_SECONDS = 1.0
# One keyframe, 8 s of P frames (cut at 3 s and 6 s: two continued segments), then a
# keyframe and 1.5 s more (a segment that starts at a keyframe again).
ENDLESS_SECONDS = 8.0
AFTER_SECONDS = 1.5


@dataclass(frozen=True)
class EndlessRecording:
    camera_id: str
    rows: list[MediaItem]  # in time order
    continued: list[bool]  # per row: custody says it continues without a keyframe
    reference: list[np.ndarray[Any, Any]]  # frame i (at T0 + i frames), decoded in order

    def at(self, seconds: float) -> dt.datetime:
        return T0 + dt.timedelta(seconds=seconds)


def record_endless_gop(services: Services, camera_id: str) -> EndlessRecording:
    """Record the camera (see the module text) and return its catalogued segments with
    the reference picture of every frame: the segments' packets fed to one decoder in
    order, the way the camera sent them (every frame decodes so)."""
    hub = PacketHub(camera_id)
    writer = writer_for(services, camera_id, hub, segment_seconds=SEGMENT_SECONDS)
    writer.start()
    source = Camera(hub)
    try:
        source.send(ENDLESS_SECONDS, pace=False)
        source.send(AFTER_SECONDS, keyframe_first=True, pace=False)
        wait_for(lambda: writer.status.segments >= 3, 20, "segments cut without a keyframe")
    finally:
        writer.stop()
    rows = sorted(items(services, camera_id), key=lambda r: r.recorded_start)
    continued = [custody(services, r.id).get("continues_without_keyframe") == "true" for r in rows]
    paths = [services.store.path_for(row.sha256) for row in rows]
    reference = [f.to_ndarray(format="rgb24") for f in decoded_in_order(paths)]
    assert len(reference) == source.frames
    return EndlessRecording(camera_id, rows, continued, reference)


def psnr(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    error = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if error == 0 else 10 * float(np.log10(255.0**2 / error))


def frame_index(at: dt.datetime) -> int:
    """The index of the camera's frame captured at ``at``."""
    return round((at - T0) / FRAME)


def decoded_frames(path: Any) -> tuple[list[np.ndarray[Any, Any]], int]:
    """The pictures of the video at ``path`` (a file or file-like object), decoded from its
    first packet by one decoder, and how many of them FFmpeg flagged as corrupt or made
    from a missing reference (``decode_error_flags``)."""
    pictures: list[np.ndarray[Any, Any]] = []
    flagged = 0
    with av.open(path) as container:
        for frame in container.decode(video=0):
            pictures.append(frame.to_ndarray(format="rgb24"))
            if getattr(frame, "corrupt", False):
                flagged += 1
    return pictures, flagged
