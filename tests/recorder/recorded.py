"""A short real recording of the simulator for the playback tests (issue 15.1): three
complete segments (use 2 s segments, ``VMS_RECORDER_SEGMENT_SECONDS``), then recording
stops; services on the system clock (segments follow real arrival times)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import select

from onvif_control.simulator import SimulatedCamera
from tests.recorder.conftest import PASSWORD, USERNAME, Rig, rigged, wait_for
from vms.db.models import MediaItem
from vms.services import Services

SEGMENT_SECONDS = "2"
FPS = 10


def segment_rows(services: Services, camera_id: str) -> list[MediaItem]:
    """The camera's complete segments in time order."""
    with services.db.session() as s:
        return list(
            s.execute(
                select(MediaItem)
                .where(MediaItem.device_id == camera_id, MediaItem.recorded_end.is_not(None))
                .order_by(MediaItem.recorded_start)
            ).scalars()
        )


@contextlib.contextmanager
def three_segments(
    services: Services, burn_in_clock: bool = False
) -> Iterator[tuple[Rig, list[MediaItem]]]:
    """The simulator recorded until three segments are complete; yields the rig and the
    first three segments' rows. ``burn_in_clock``: each picture carries its capture time
    (:mod:`onvif_control.simulator.timecode`)."""
    cam = SimulatedCamera(
        "cam1",
        size=(320, 180),
        fps=FPS,
        username=USERNAME,
        password=PASSWORD,
        burn_in_clock=burn_in_clock,
    )
    cam.start()
    try:
        with rigged(services, cam) as rig:
            rig.recorder.start()
            rig.wait_streaming()
            wait_for(lambda: len(segment_rows(services, rig.camera_id)) >= 3, 40, "3 segments")
            rig.recorder.stop()
            yield rig, segment_rows(services, rig.camera_id)[:3]
    finally:
        cam.stop()
