"""The recorder's picture watch (recorder/watch.py, issue 12.3): video lost after N
seconds without a packet, picture blanked after M seconds of whole-frame blanking
(INV-5), each announced once per change; readings and monotonic times given."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from recorder.watch import PictureWatch, Reading, WatchThread
from tests.recorder.conftest import Rig, wait_for
from vms.clock import ManualClock
from vms.db.models import AlarmRow
from vms.events import EventBus


def topics(events: list[Any]) -> list[tuple[str, object]]:
    return [(e.topic, e.payload.get("state", e.payload.get("active"))) for e in events]


def test_video_lost_after_the_configured_silence_and_back_with_the_next_packet() -> None:
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    # Start: the first packets say "ok" once (clears an alarm a previous run left).
    assert topics(watch.observe(Reading(1, 10, None, 10), 0.0)) == [("mask.blanking", False)]
    assert topics(watch.observe(Reading(1, 20, None, 20), 1.0)) == [("recorder.video", "ok")]
    assert watch.observe(Reading(1, 20, None, 20), 3.9) == []  # 2.9 s silent: not yet
    lost = watch.observe(Reading(1, 20, None, 20), 4.0)
    assert topics(lost) == [("recorder.video", "lost")]
    assert lost[0].payload == {"camera_id": "c1", "state": "lost", "seconds": 3.0}
    assert watch.observe(Reading(1, 20, None, 20), 60.0) == []  # announced once
    assert topics(watch.observe(Reading(1, 21, None, 21), 61.0)) == [("recorder.video", "ok")]


def test_a_restarted_pipeline_starts_its_silence_anew() -> None:
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    watch.observe(Reading(1, 10, None, 10), 0.0)
    watch.observe(Reading(1, 11, None, 11), 1.0)
    # A new pipeline counts from 0 packets: no "ok", no "lost" until 3 s of its silence.
    assert watch.observe(Reading(2, 0, None, 0), 2.0) == []
    assert watch.observe(Reading(2, 0, None, 0), 4.9) == []
    assert topics(watch.observe(Reading(2, 0, None, 0), 5.0)) == [("recorder.video", "lost")]


def test_video_without_a_keyframe_raises_no_keyframes_until_one_is_recorded_OPS_1() -> None:
    """P frames arrive (``packets`` grows) and none is recorded (``recorded`` stays: the
    connection has no keyframe to start from): not "video lost", but "no keyframes"
    after ``keyframes_after`` seconds of it, cleared by the first recorded packet."""
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    watch.observe(Reading(1, 0, None, 0), 0.0)
    assert topics(watch.observe(Reading(1, 10, None, 0), 1.0)) == [("recorder.video", "ok")]
    for t in range(2, 7):
        assert watch.observe(Reading(1, 10 * t, None, 0), float(t)) == []  # 5 s of it
    raised = watch.observe(Reading(1, 70, None, 0), 7.0)
    assert topics(raised) == [("recorder.keyframes", True)]
    assert raised[0].payload["detail"] == (
        "no keyframe from the camera in 6 s of video: nothing of it is recorded until one comes"
    )
    assert watch.observe(Reading(1, 80, None, 0), 8.0) == []  # announced once
    cleared = watch.observe(Reading(1, 90, None, 5), 9.0)  # the keyframe: recorded
    assert topics(cleared) == [("recorder.keyframes", False)]
    assert watch.observe(Reading(1, 100, None, 15), 20.0) == []
    # A reconnection within the pipeline: P frames again, counted afresh.
    assert watch.observe(Reading(1, 110, None, 15), 21.0) == []
    assert watch.observe(Reading(1, 170, None, 15), 26.9) == []
    assert topics(watch.observe(Reading(1, 180, None, 15), 27.0)) == [("recorder.keyframes", True)]
    # Removed from the recorder: the alarm it raised ends with it.
    assert ("recorder.keyframes", False) in topics(watch.ended())


def test_no_keyframes_counts_only_video_arriving() -> None:
    """Silence is "video lost", not "no keyframes": the bound counts afresh when video
    comes back; and a camera recorded all along never raises it."""
    watch = PictureWatch("c1", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    watch.observe(Reading(1, 0, None, 0), 0.0)
    watch.observe(Reading(1, 10, None, 0), 1.0)  # P frames from t=1
    assert topics(watch.observe(Reading(1, 10, None, 0), 4.0)) == [("recorder.video", "lost")]
    assert watch.observe(Reading(1, 10, None, 0), 30.0) == []
    assert topics(watch.observe(Reading(1, 20, None, 0), 31.0)) == [("recorder.video", "ok")]
    assert watch.observe(Reading(1, 70, None, 0), 36.9) == []
    assert topics(watch.observe(Reading(1, 80, None, 0), 37.0)) == [("recorder.keyframes", True)]
    recorded = PictureWatch("c2", lost_after=3.0, blank_after=5.0, keyframes_after=6.0)
    for t in range(0, 20):
        events = recorded.observe(Reading(1, 10 * t, None, 10 * t), float(t))
        assert "recorder.keyframes" not in {e.topic for e in events}


def test_blanking_alarm_after_the_configured_time_only_while_video_flows_INV_5() -> None:
    watch = PictureWatch("c1", lost_after=3.0, blank_after=2.0, keyframes_after=6.0)
    watch.observe(Reading(1, 0, None, 0), 0.0)
    watch.observe(Reading(1, 1, None, 1), 0.5)
    assert watch.observe(Reading(1, 2, "pose stale", 2), 1.0) == []
    assert watch.observe(Reading(1, 3, "pose stale", 3), 2.9) == []
    raised = watch.observe(Reading(1, 4, "pose stale", 4), 3.0)
    assert topics(raised) == [("mask.blanking", True)]
    assert raised[0].payload["reason"] == "pose stale"
    # Video lost: the stage's last frame is old news; nothing about blanking.
    assert topics(watch.observe(Reading(1, 4, "pose stale", 4), 6.0)) == [
        ("recorder.video", "lost")
    ]
    back = watch.observe(Reading(1, 5, None, 5), 7.0)
    assert topics(back) == [("recorder.video", "ok"), ("mask.blanking", False)]
    # A short blanking (a moment of stale pose) raises nothing.
    assert watch.observe(Reading(1, 6, "pose stale", 6), 8.0) == []
    assert watch.observe(Reading(1, 7, None, 7), 9.0) == []


def test_the_thread_publishes_with_the_clock_time_and_ends_removed_cameras() -> None:
    clock = ManualClock(dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))
    bus = EventBus()
    heard: list[tuple[str, dict[str, Any]]] = []
    bus.subscribe(lambda topic, payload: heard.append((topic, payload)))
    readings = {"c1": Reading(1, 5, None, 5)}
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
