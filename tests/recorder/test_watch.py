"""The recorder's picture watch (recorder/watch.py, issue 12.3): video lost after N
seconds without a packet, picture blanked after M seconds of whole-frame blanking
(INV-5), each announced once per change; readings and monotonic times given."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from recorder.engine import get as get_recorder
from recorder.watch import Event, PictureWatch, Reading, WatchThread
from tests.recorder.conftest import PASSWORD, USERNAME, Rig, onboard, sqlite_services, wait_for
from vms.clock import ManualClock
from vms.db.models import AlarmRow
from vms.events import EventBus


def topics(events: list[Any]) -> list[tuple[str, object]]:
    return [(e.topic, e.payload.get("state", e.payload.get("active"))) for e in events]


def test_video_lost_after_the_configured_silence_and_back_with_the_next_packet() -> None:
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    # Start: the first packets say "ok" once (clears an alarm a previous run left).
    assert topics(watch.observe(Reading(1, 10, None, 10, True), 0.0)) == [("mask.blanking", False)]
    assert topics(watch.observe(Reading(1, 20, None, 20, True), 1.0)) == [("recorder.video", "ok")]
    assert watch.observe(Reading(1, 20, None, 20, True), 3.9) == []  # 2.9 s silent: not yet
    lost = watch.observe(Reading(1, 20, None, 20, True), 4.0)
    assert topics(lost) == [("recorder.video", "lost")]
    assert lost[0].payload == {"camera_id": "c1", "state": "lost", "seconds": 3.0}
    assert watch.observe(Reading(1, 20, None, 20, True), 60.0) == []  # announced once
    assert topics(watch.observe(Reading(1, 21, None, 21, True), 61.0)) == [("recorder.video", "ok")]


def test_a_restarted_pipeline_starts_its_silence_anew() -> None:
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    watch.observe(Reading(1, 10, None, 10, True), 0.0)
    watch.observe(Reading(1, 11, None, 11, True), 1.0)
    # A new pipeline counts from 0 packets: no "ok", no "lost" until 3 s of its silence.
    assert watch.observe(Reading(2, 0, None, 0, True), 2.0) == []
    assert watch.observe(Reading(2, 0, None, 0, True), 4.9) == []
    assert topics(watch.observe(Reading(2, 0, None, 0, True), 5.0)) == [("recorder.video", "lost")]


def test_a_new_pipeline_is_silent_from_the_end_of_its_first_open() -> None:
    """No video is due while the first connection opens (RTSP set-up, FFmpeg probing, a
    slow link): its silence counts from the open's end, connected or failed."""
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    watch.observe(Reading(1, 0, None, 0, False), 0.0)  # started ("not blanked")
    for t in range(1, 8):  # opening for 7 s, more than lost_after
        assert watch.observe(Reading(1, 0, None, 0, False), float(t)) == []
    assert watch.observe(Reading(1, 0, None, 0, True), 8.0) == []  # opened (or failed)
    assert watch.observe(Reading(1, 0, None, 0, True), 10.9) == []
    assert topics(watch.observe(Reading(1, 0, None, 0, True), 11.0)) == [("recorder.video", "lost")]
    # An alarm already raised stays while a restarted pipeline opens.
    assert watch.observe(Reading(2, 0, None, 0, False), 12.0) == []
    assert topics(watch.observe(Reading(2, 5, None, 5, True), 13.0)) == [("recorder.video", "ok")]


def test_video_without_a_keyframe_raises_no_keyframes_until_one_is_recorded_OPS_1() -> None:
    """P frames arrive (``packets`` grows) and none is recorded (``recorded`` stays: the
    connection has no keyframe to start from): not "video lost", but "no keyframes"
    after ``keyframes_after`` seconds of it, cleared by the first recorded packet."""
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    watch.observe(Reading(1, 0, None, 0, True), 0.0)
    assert topics(watch.observe(Reading(1, 10, None, 0, True), 1.0)) == [("recorder.video", "ok")]
    for t in range(2, 7):
        assert watch.observe(Reading(1, 10 * t, None, 0, True), float(t)) == []  # 5 s of it
    raised = watch.observe(Reading(1, 70, None, 0, True), 7.0)
    assert topics(raised) == [("recorder.keyframes", True)]
    assert raised[0].payload["detail"] == (
        "no keyframe from the camera in 6 s of video: nothing of it is recorded until one comes"
    )
    assert watch.observe(Reading(1, 80, None, 0, True), 8.0) == []  # announced once
    cleared = watch.observe(Reading(1, 90, None, 5, True), 9.0)  # the keyframe: recorded
    assert topics(cleared) == [("recorder.keyframes", False)]
    assert watch.observe(Reading(1, 100, None, 15, True), 20.0) == []
    # A reconnection within the pipeline: P frames again, counted afresh.
    assert watch.observe(Reading(1, 110, None, 15, True), 21.0) == []
    assert watch.observe(Reading(1, 170, None, 15, True), 26.9) == []
    assert topics(watch.observe(Reading(1, 180, None, 15, True), 27.0)) == [
        ("recorder.keyframes", True)
    ]
    # Removed from the recorder: the alarm it raised ends with it.
    assert ("recorder.keyframes", False) in topics(watch.ended())


def test_no_keyframes_counts_only_video_arriving() -> None:
    """Silence is "video lost", not "no keyframes": the bound counts afresh when video
    comes back; and a camera recorded all along never raises it."""
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    watch.observe(Reading(1, 0, None, 0, True), 0.0)
    watch.observe(Reading(1, 10, None, 0, True), 1.0)  # P frames from t=1
    assert topics(watch.observe(Reading(1, 10, None, 0, True), 4.0)) == [("recorder.video", "lost")]
    assert watch.observe(Reading(1, 10, None, 0, True), 30.0) == []
    assert topics(watch.observe(Reading(1, 20, None, 0, True), 31.0)) == [("recorder.video", "ok")]
    assert watch.observe(Reading(1, 70, None, 0, True), 36.9) == []
    assert topics(watch.observe(Reading(1, 80, None, 0, True), 37.0)) == [
        ("recorder.keyframes", True)
    ]
    recorded = PictureWatch("c2", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    for t in range(0, 20):
        events = recorded.observe(Reading(1, 10 * t, None, 10 * t, True), float(t))
        assert "recorder.keyframes" not in {e.topic for e in events}


def test_blanking_alarm_after_the_configured_time_only_while_video_flows_INV_5() -> None:
    watch = PictureWatch("c1", lost_after=3.0, blank_after=2.0, keyframes_after=6.0)
    watch.observe(Reading(1, 0, None, 0, True), 0.0)
    watch.observe(Reading(1, 1, None, 1, True), 0.5)
    assert watch.observe(Reading(1, 2, "pose stale", 2, True), 1.0) == []
    assert watch.observe(Reading(1, 3, "pose stale", 3, True), 2.9) == []
    raised = watch.observe(Reading(1, 4, "pose stale", 4, True), 3.0)
    assert topics(raised) == [("mask.blanking", True)]
    assert raised[0].payload["reason"] == "pose stale"
    # Video lost: the stage's last frame is old news; nothing about blanking.
    assert topics(watch.observe(Reading(1, 4, "pose stale", 4, True), 6.0)) == [
        ("recorder.video", "lost")
    ]
    back = watch.observe(Reading(1, 5, None, 5, True), 7.0)
    assert topics(back) == [("recorder.video", "ok"), ("mask.blanking", False)]
    # A short blanking (a moment of stale pose) raises nothing.
    assert watch.observe(Reading(1, 6, "pose stale", 6, True), 8.0) == []
    assert watch.observe(Reading(1, 7, None, 7, True), 9.0) == []


def test_the_thread_publishes_with_the_clock_time_and_ends_removed_cameras() -> None:
    clock = ManualClock(dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))
    bus = EventBus()
    heard: list[tuple[str, dict[str, Any]]] = []
    bus.subscribe(lambda topic, payload: heard.append((topic, payload)))
    readings = {"c1": Reading(1, 5, None, 5, True)}
    thread = WatchThread(
        lambda: dict(readings), bus, clock, lost_after=2.0, blank_after=2.0, keyframes_after=6.0
    )
    thread.round()
    clock.advance(dt.timedelta(seconds=2))
    thread.round()
    assert heard[-1] == (
        "recorder.video",
        {"camera_id": "c1", "state": "lost", "seconds": 2.0, "at": "2026-11-20T10:00:02Z"},
    )
    readings.clear()  # removed from the recorder: its alarm ends
    thread.round()
    assert heard[-1][0] == "recorder.video" and heard[-1][1]["state"] == "ok"


@pytest.fixture
def rig_settings() -> dict[str, object]:
    return {
        "VMS_RECORDER_SEGMENT_SECONDS": "20",
        "VMS_CAMERAS_POSE_FAST_HZ": "10",
        "VMS_RECORDER_BLANKING_ALARM_SECONDS": "1",
        "VMS_RECORDER_VIDEO_LOST_SECONDS": "2",
    }


def open_alarms(rig: Rig) -> set[str]:
    with rig.services.db.session() as s:
        return set(s.execute(select(AlarmRow.kind).where(AlarmRow.cleared_at.is_(None))).scalars())


@pytest.mark.timeout(120)
def test_pose_lost_and_video_lost_raise_and_clear_alarms_in_the_recorder_INV_5(rig: Rig) -> None:
    """The real engine: the pose hidden (a control channel down) blanks the masked
    picture, which raises ``mask_blanking`` and clears when poses return; the camera's
    RTSP stopped raises ``video_lost`` and the recording gap."""
    rig.recorder.start()
    rig.wait_streaming()
    rig.view.cut()
    wait_for(lambda: "mask_blanking" in open_alarms(rig), 20, "the blanking alarm")
    rig.view.cut(False)
    wait_for(lambda: "mask_blanking" not in open_alarms(rig), 20, "the blanking alarm cleared")
    rig.sim.stop_rtsp()
    wait_for(lambda: {"video_lost", "recording_gap"} <= open_alarms(rig), 20, "video lost")


class SlowLink:
    """A TCP relay to the simulator's RTSP port that holds each connection ``delay``
    seconds before it passes anything on (a slow link to the camera): the stream's open
    takes that much longer."""

    def __init__(self, port: int, delay: float) -> None:
        self.target, self.delay = port, delay
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # closed
            while True:
                client, _ = self.server.accept()
                self.sockets.append(client)
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        time.sleep(self.delay)
        upstream = socket.create_connection(("127.0.0.1", self.target))
        self.sockets.append(upstream)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.mark.timeout(60)
def test_a_slow_connection_is_not_video_lost_before_its_open_ends_OPS_1(tmp_path: Path) -> None:
    """A new pipeline's silence was counted from when it started, so a connection whose
    open (RTSP set-up, FFmpeg probing the stream) outlasts ``video_lost_seconds`` raised
    "video lost" before the camera could have sent a packet, and the first packet
    cleared it: an alarm to acknowledge for every slow connection. Now the silence of a
    new pipeline counts from the end of its first open (connected, or failed)."""
    services = sqlite_services(tmp_path, VMS_RECORDER_VIDEO_LOST_SECONDS="2")
    heard: list[str] = []
    services.events.subscribe(
        lambda topic, payload: heard.append(payload["state"]) if topic == "recorder.video" else None
    )
    sim = SimulatedCamera("slow", size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    sim.start()
    link = SlowLink(sim.rtsp_port, 3.0)  # longer than video_lost_seconds
    recorder = get_recorder(services)
    try:
        sim.answer_stream_uri(sim.rtsp_url.replace(f":{sim.rtsp_port}/", f":{link.port}/", 1))
        camera_id = onboard(services, sim)
        assert recorder.add_registered() == [camera_id]
        recorder.start()
        pipeline = recorder.pipeline(camera_id)
        wait_for(lambda: pipeline.status.packets > 0, 20, "the first recorded packet")
        time.sleep(1.0)  # two watch rounds
        assert heard == ["ok"]
        with services.db.session() as s:
            kinds = s.execute(select(AlarmRow.kind).where(AlarmRow.camera_id == camera_id))
            assert "video_lost" not in set(kinds.scalars())
    finally:
        recorder.stop()
        get_control(services).close()
        link.close()
        sim.stop()
        services.close()


def test_a_refused_stream_certificate_is_raised_once_and_cleared_by_video_OPS_1() -> None:
    """The pipeline's certificate refusal (with its action) is announced once; a new
    pipeline (the accepted pin) says nothing until its video arrives, which clears it;
    a camera removed meanwhile ends it."""
    watch = PictureWatch("c1", lost_after=60.0, blank_after=60.0, keyframes_after=600.0)
    watch.observe(Reading(1, 0, None, 0, False), 0.0)
    problem = "rtsps stream certificate changed; ... accept-certificate c1 ..."
    raised = watch.observe(Reading(1, 0, None, 0, True, problem), 1.0)
    assert raised == [
        Event("recorder.certificate", {"camera_id": "c1", "active": True, "detail": problem})
    ]
    assert watch.observe(Reading(1, 0, None, 0, True, problem), 2.0) == []  # once
    assert watch.observe(Reading(2, 5, None, 5, True), 3.0) == []  # a new pipeline
    cleared = watch.observe(Reading(2, 9, None, 9, True), 4.0)
    assert Event("recorder.certificate", {"camera_id": "c1", "active": False}) in cleared
    watch.observe(Reading(3, 0, None, 0, True, problem), 5.0)
    ended = watch.ended()
    assert Event("recorder.certificate", {"camera_id": "c1", "active": False}) in ended
