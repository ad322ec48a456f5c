"""A gap's cause says why footage is missing, for as long as it is (OPS-4).

A gap the recorder opens for a reason of its own (its start, a stop, a crash, a
restart) says nothing about the camera: once the camera's own reason is known (it does
not answer; recording was turned off), that gap ends there and one with the camera's
cause begins, as the gap list and the gap alarm show an auditor. The real simulator
camera, the real recorder (a killed process for the crash), SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from onvif_control.simulator import SimulatedCamera
from onvif_control.simulator.rtsp_server import PlayStart
from recorder.recording import ADDED, RecordingLog, SetRecording
from tests.conftest import make_config
from tests.recorder.conftest import PASSWORD, SETUP, USERNAME, wait_for
from tests.recorder.recorded import segment_rows
from tests.recorder.test_endless_gop import alarms
from tests.recorder.test_long_gop import long_gop_camera
from tests.recorder.test_reliability import FAST, gaps, items, recording, with_creds
from tests.recorder.test_salvage import recorder_process, spool_dir
from vms.db.models import RecordingGap
from vms.services import Services

pytestmark = pytest.mark.timeout(150)


@contextlib.contextmanager
def opened(database: tuple[str, Path]) -> Iterator[Services]:
    """A process's services on ``database`` (one backend of the parametrized fixture)."""
    url, data_dir = database
    services = Services.open(make_config(data_dir, url, **FAST))
    services.migrate()
    try:
        yield services
    finally:
        services.close()


def killed_mid_segment(services: Services, camera_id: str, url: str) -> None:
    """A recorder process recording ``camera_id``, killed with SIGKILL once a segment is
    catalogued and the next is in its spool: a crash."""
    spool = spool_dir(services, camera_id)
    child = recorder_process(services, camera_id, url, 2)
    try:
        wait_for(lambda: len(items(services, camera_id)) >= 1, 40, "a first segment")
        wait_for(lambda: any(spool.glob("*.mp4")), 10, "a segment in the spool")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)


def causes(rows: list[RecordingGap]) -> list[tuple[str, bool]]:
    return [(g.cause, g.end is None) for g in rows]


@pytest.mark.parametrize("ended", ["crash", "stopped"])
def test_a_camera_down_after_a_restart_is_the_gaps_cause_from_then_on_OPS_4(
    database: tuple[str, Path], ended: str
) -> None:
    """The recorder's last run ended (killed, or stopped) and the camera is unreachable
    when it starts again. Before, the gap the start continued or opened (``crash``, or
    ``stopped``: a quiet cause, no gap alarm at all) stayed open with its cause for as
    long as the camera was down; now it ends at the failed connection and a
    ``camera_down`` gap begins there, whose alarm says so."""
    camera = "down-after"
    sim = SimulatedCamera(camera, size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    sim.start()
    url = with_creds(sim.rtsp_url)
    try:
        with opened(database) as services:
            if ended == "crash":
                killed_mid_segment(services, camera, url)
            else:
                with recording(services, camera, url):
                    wait_for(lambda: len(items(services, camera)) >= 1, 40, "a first segment")
    finally:
        sim.stop()  # the camera is down from here on

    with opened(database) as services:
        with recording(services, camera, url) as recorder:
            pipeline = recorder.pipeline(camera)
            wait_for(lambda: pipeline.status.reconnects >= 2, 20, "two failed connections")
        # Stopped: the writer has taken every interruption the pipeline published.
        rows = gaps(services, camera)
        open_alarms = alarms(services, camera, open_only=True)
    # The last run's gap (the crash's from the last packet written), then the camera's.
    last, down = rows[-2:]
    assert causes([last, down]) == [(ended, False), ("camera_down", True)], causes(rows)
    assert last.end == down.start
    assert [(a.kind, a.detail) for a in open_alarms if a.kind == "recording_gap"] == [
        ("recording_gap", "recording stopped: camera_down")
    ]


def test_recording_turned_off_before_a_new_cameras_first_keyframe_is_the_gaps_cause_OPS_4(
    database: tuple[str, Path],
) -> None:
    """A new camera waits for its first keyframe (a long GOP, sync points refused): its
    ``added`` gap is open. Recording is turned off meanwhile, and the keyframe comes.
    Before, the ``recording_off`` gap was not opened (a gap was open already): the time
    recording was off stayed ``added`` until it was turned on again. Now the ``added``
    gap ends at the first packet recording is off for, and ``recording_off`` begins."""
    url, data_dir = database
    services = Services.open(make_config(data_dir, url, VMS_RECORDER_SEGMENT_SECONDS="2"))
    services.migrate()
    try:
        refusing = long_gop_camera(services, PlayStart.P_FRAMES, synchronization_point=False)
        with refusing as (sim, recorder, camera_id):
            recorder.start()
            pipeline = recorder.pipeline(camera_id)
            wait_for(lambda: pipeline.status.dropped_before_keyframe > 0, 8, "a P frame")
            assert causes(gaps(services, camera_id)) == [(ADDED, True)]
            services.ports.get(RecordingLog).set_enabled(
                SETUP, camera_id, SetRecording(False, "test: off before the first keyframe")
            )
            wait_for(lambda: not recorder.polls.enabled(camera_id), 10, "recording read off")
            sim.hub.request_keyframe()  # the camera's next keyframe
            writer = recorder.writer(camera_id)
            wait_for(lambda: not writer.status.recording, 10, "a packet taken while off")
        rows = gaps(services, camera_id)
        assert not segment_rows(services, camera_id)
    finally:
        services.close()
    assert causes(rows) == [(ADDED, False), ("recording_off", True)], causes(rows)
    assert rows[0].end == rows[1].start


def test_a_camera_back_while_recording_is_off_ends_its_down_gap_there_OPS_4(
    database: tuple[str, Path],
) -> None:
    """The camera goes down (its gap open), recording is turned off, the camera comes
    back. Before, the down gap swallowed ``recording_off`` and went on saying the camera
    was down while it sent video nobody recorded, until recording was turned on again.
    Now the first packet taken while off ends it, and ``recording_off`` begins there."""
    camera = "back-off"
    sim = SimulatedCamera(camera, size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    sim.start()
    port, back = sim.rtsp_port, None
    try:
        with opened(database) as services:
            with recording(services, camera, with_creds(sim.rtsp_url)) as recorder:
                wait_for(lambda: len(items(services, camera)) >= 1, 40, "a first segment")
                sim.stop()
                wait_for(lambda: gaps(services, camera)[-1].end is None, 20, "the down gap")
                services.ports.get(RecordingLog).set_enabled(
                    SETUP, camera, SetRecording(False, "test: off while the camera is down")
                )
                wait_for(lambda: not recorder.polls.enabled(camera), 10, "recording read off")
                back = SimulatedCamera(
                    camera, rtsp_port=port, size=(320, 180), fps=10,
                    username=USERNAME, password=PASSWORD,
                )  # fmt: skip
                back.start()
                writer = recorder.writer(camera)
                wait_for(lambda: not writer.status.recording, 30, "a packet taken while off")
            rows = gaps(services, camera)
    finally:
        sim.stop()
        if back is not None:
            back.stop()
    down, off = rows[-2:]
    assert causes([down, off]) == [(down.cause, False), ("recording_off", True)], causes(rows)
    assert down.cause in ("camera_down", "stalled") and down.end == off.start
