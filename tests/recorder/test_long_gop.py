"""A camera with a long GOP (60 s at 10 fps) is recorded within seconds of connecting,
over RTSP from the real simulator into the real recorder (OPS-4: no minute-long gap at
every connection). The recorder asks the camera for a keyframe (ONVIF
``SetSynchronizationPoint``) while it waits for the first one it can start from."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from onvif_control.simulator.rtsp_server import PlayStart
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from recorder.pipeline import CameraPipeline
from recorder.segments import SEGMENT_LIMIT_FACTOR
from tests.conftest import make_config
from tests.recorder.conftest import PASSWORD, USERNAME, onboard, sqlite_services, wait_for
from tests.recorder.recorded import segment_rows
from tests.recorder.test_endless_gop import alarms
from tests.recorder.test_reliability import gaps
from vms.clock import ensure_utc
from vms.services import Services

pytestmark = pytest.mark.timeout(120)

GOP_SECONDS = 60.0


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = sqlite_services(tmp_path, VMS_RECORDER_SEGMENT_SECONDS="2")
    try:
        yield services
    finally:
        services.close()


@contextlib.contextmanager
def long_gop_camera(
    services: Services, play_start: PlayStart, **options: Any
) -> Iterator[tuple[SimulatedCamera, Recorder, str]]:
    """The simulator with a 60 s GOP at 10 fps, onboarded and added to the recorder
    (not started yet), its own first IDR behind it."""
    sim = SimulatedCamera(
        "gop", size=(320, 180), fps=10, gop_seconds=GOP_SECONDS,
        play_start=play_start, username=USERNAME, password=PASSWORD, **options,
    )  # fmt: skip
    sim.start()
    recorder = get_recorder(services)
    try:
        camera_id = onboard(services, sim)
        assert recorder.add_registered() == [camera_id]
        time.sleep(1.0)  # the camera's own first IDR is behind it
        yield sim, recorder, camera_id
    finally:
        recorder.stop()
        get_control(services).close()
        sim.stop()


@pytest.mark.parametrize("play_start", list(PlayStart))
def test_a_camera_with_a_long_gop_is_recorded_within_seconds_OPS_4(
    services: Services, play_start: PlayStart
) -> None:
    """Before: FFmpeg hands the first packet of an RTSP session over without a
    timestamp (with this simulator and with GStreamer's server alike), so the IDR a
    camera sends at PLAY was dropped, a camera sending P frames from PLAY had none to
    give, and one sending nothing until its next keyframe made FFmpeg's read time out
    (5 s) and reconnect into the same wait: nothing was recorded until the camera's next
    GOP, a minute here
    (the pipeline counted 250 packets dropped in 25 s, none recorded, a "video lost"
    alarm after 10 s), at every reconnection. Now the first dropped packet makes the
    recorder ask for a keyframe (rate-limited, on a worker thread) and a segment is
    catalogued within seconds."""
    with long_gop_camera(services, play_start) as (sim, recorder, camera_id):
        started = time.monotonic()
        recorder.start()
        pipeline = recorder.pipeline(camera_id)
        wait_for(lambda: pipeline.status.packets > 0, 8, "the first recorded packet")
        took = time.monotonic() - started
        # A segment (2 s; cut at a keyframe the writer asks for) catalogued.
        wait_for(lambda: segment_rows(services, camera_id), 15, "a catalogued segment")
        assert sim.sync_points >= 1
        assert pipeline.status.reconnects == 0
        assert pipeline.status.state == "streaming"
        assert took < 8


def test_p_frames_before_the_first_keyframe_are_video_arriving_OPS_1(tmp_path: Path) -> None:
    """A camera that sends P frames from PLAY, with a long GOP, and refuses
    ``SetSynchronizationPoint``: the recorder has nothing to start a recording from until
    the camera's next keyframe, but video arrives all along. Before, the picture watch
    counted only the packets after the first keyframe and raised "video lost" ("no video
    packet for 2 s") while P frames came in. A missing keyframe is another condition than
    a lost camera, and OPS-1 wants the operator told what is wrong."""
    with refusing_camera(tmp_path) as (_, _, pipeline, _, heard):
        time.sleep(4.0)  # twice video_lost_seconds, P frames only
        assert pipeline.status.packets == 0  # still no keyframe to start from
        assert pipeline.status.dropped_before_keyframe > 30  # 10 fps of P frames
        # Not while the connection opens either (FFmpeg probing the stream may outlast
        # 2 s): silence counts from the open's end (test_watch.py, the slow link).
        assert [e["state"] for e in heard] == ["ok"], heard


@contextlib.contextmanager
def refusing_camera(
    tmp_path: Path,
) -> Iterator[tuple[Services, SimulatedCamera, CameraPipeline, str, list[dict[str, Any]]]]:
    """The long-GOP camera sending P frames from PLAY and refusing
    ``SetSynchronizationPoint``, recorded with 2 s segments and ``video_lost_seconds``
    2, once its first P frame came in; with the ``recorder.video`` events heard."""
    services = sqlite_services(
        tmp_path, VMS_RECORDER_SEGMENT_SECONDS="2", VMS_RECORDER_VIDEO_LOST_SECONDS="2"
    )
    heard: list[dict[str, Any]] = []
    services.events.subscribe(
        lambda topic, payload: heard.append(payload) if topic == "recorder.video" else None
    )
    refusing = long_gop_camera(services, PlayStart.P_FRAMES, synchronization_point=False)
    try:
        with refusing as (sim, recorder, camera_id):
            recorder.start()
            pipeline = recorder.pipeline(camera_id)
            wait_for(lambda: pipeline.status.dropped_before_keyframe > 0, 8, "a P frame")
            yield services, sim, pipeline, camera_id, heard
    finally:
        services.close()


def test_a_camera_sending_only_p_frames_raises_the_no_keyframes_alarm_OPS_1(
    tmp_path: Path,
) -> None:
    """A camera that sends P frames from PLAY, with a long GOP, and refuses
    ``SetSynchronizationPoint``: nothing of it is recorded until its next keyframe (a
    minute here, never for an endless GOP). Before, the operator was told nothing: its
    P frames count as video arriving (no "video lost"), and the segment writer, which
    raises "no keyframes" for an endless GOP, never got a packet. Now the picture watch
    raises ``no_keyframes`` once video has arrived for ``SEGMENT_LIMIT_FACTOR`` x
    ``segment_seconds`` without a keyframe, and the first keyframe clears it."""
    with refusing_camera(tmp_path) as (services, sim, pipeline, camera_id, _):
        bound = SEGMENT_LIMIT_FACTOR * 2
        wait_for(
            lambda: "no_keyframes" in open_kinds(services, camera_id),
            bound + 4,
            "the no-keyframes alarm",
        )
        assert pipeline.status.packets == 0  # nothing recorded meanwhile
        assert open_kinds(services, camera_id) == {"no_keyframes"}  # not "video lost"
        (raised,) = alarms(services, camera_id, open_only=True)
        assert raised.detail and "keyframe" in raised.detail
        # The camera's keyframe comes (its GOP's end, or its firmware recovered).
        sim.hub.request_keyframe()
        wait_for(lambda: pipeline.status.packets > 0, 8, "the first recorded packet")
        wait_for(lambda: not open_kinds(services, camera_id), 8, "the no-keyframes alarm cleared")
        assert [a.kind for a in alarms(services, camera_id, open_only=False)] == ["no_keyframes"]


def open_kinds(services: Services, camera_id: str) -> set[str]:
    return {a.kind for a in alarms(services, camera_id, open_only=True)}


@pytest.fixture
def any_backend(database: tuple[str, Path]) -> Iterator[Services]:
    """Services on each backend (``database``), on the system clock, 2 s segments."""
    url, data_dir = database
    services = Services.open(make_config(data_dir, url, VMS_RECORDER_SEGMENT_SECONDS="2"))
    services.migrate()
    try:
        yield services
    finally:
        services.close()


def test_a_new_camera_waiting_for_its_first_keyframe_is_a_gap_OPS_4(
    any_backend: Services,
) -> None:
    """A camera just added, recording on, whose first keyframe comes seconds (minutes,
    with a long GOP refusing sync points) after it connected: nothing is recorded
    meanwhile. Before, no gap row covered that time (a restart's or a reconnection's
    does), so the catalog's timeline showed nothing missing before the first segment.
    Now the writer of a camera never recorded opens an ``added`` gap when it starts,
    closed by the first segment."""
    services = any_backend
    refusing = long_gop_camera(services, PlayStart.P_FRAMES, synchronization_point=False)
    with refusing as (sim, recorder, camera_id):
        started = dt.datetime.now(dt.UTC)
        recorder.start()
        pipeline = recorder.pipeline(camera_id)
        wait_for(lambda: pipeline.status.dropped_before_keyframe > 0, 8, "a P frame")
        time.sleep(2.0)  # P frames only: nothing recorded
        assert pipeline.status.packets == 0
        sim.hub.request_keyframe()  # the camera's next keyframe
        wait_for(lambda: segment_rows(services, camera_id), 15, "a catalogued segment")
    first = segment_rows(services, camera_id)[0]
    assert [(g.cause, g.end) for g in gaps(services, camera_id)][:1] == [
        ("added", first.recorded_start)
    ]
    gap = gaps(services, camera_id)[0]
    assert started <= gap.start <= ensure_utc(pipeline.status.connected_at or gap.start)
    assert gap.end is not None and gap.end - gap.start >= dt.timedelta(seconds=2)
