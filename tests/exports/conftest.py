"""Export fixtures: one real recording of the camera simulator per test session (a
pass-through camera, 10 segments of about 3 s at 10 fps, GOP 1 s), read as the
:class:`~vms.media.clip.Segment` list an export is cut from.

The recording is made once (about 35 s) and shared: tests only read it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from onvif_control.simulator import SimulatedCamera
from tests.recorder.conftest import PASSWORD, USERNAME, sqlite_services, wait_for
from tests.recorder.test_reliability import items, recording, with_creds
from vms.media.clip import Segment
from vms.services import Services

CAMERA = "export-cam"
FPS = 10
SEGMENTS = 10


@dataclass(frozen=True)
class Recording:
    """The stored segments of the session's recording, in time order."""

    segments: tuple[Segment, ...]
    sha256: dict[str, str]  # label (media id) -> sha256
    fps: int
    # The recording's services (SQLite): the export job test runs an export on it; its
    # derived items have source ``export`` and do not change the segments read here.
    services: Services

    @property
    def start(self) -> dt.datetime:
        return self.segments[0].start

    @property
    def end(self) -> dt.datetime:
        return self.segments[-1].end

    def at(self, seconds: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    root = tmp_path_factory.mktemp("export-recording")
    services = sqlite_services(root, VMS_RECORDER_SEGMENT_SECONDS="3")
    sim = SimulatedCamera(CAMERA, size=(320, 180), fps=FPS, username=USERNAME, password=PASSWORD)
    sim.start()
    try:
        try:
            with recording(services, CAMERA, with_creds(sim.rtsp_url)):
                wait_for(lambda: len(items(services, CAMERA)) >= SEGMENTS, 90, "ten segments")
        finally:
            # Only the segments are shared: the camera stops now, not at the session's end.
            sim.stop()
        rows = items(services, CAMERA)
        segments = tuple(
            Segment(
                services.store.path_for(row.sha256),
                row.recorded_start,
                row.recorded_end or row.recorded_start,
                row.id,
            )
            for row in rows
        )
        yield Recording(segments, {row.id: row.sha256 for row in rows}, FPS, services)
    finally:
        services.close()
