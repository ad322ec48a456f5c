"""Pose tracking against the simulator: fast polling while moving (20 Hz by default), slow
when idle, timestamps from the injected clock (mid round trip, with half of it as their
uncertainty), commanded poses at once, the PoseSource interface for the media pipeline,
and continuous moves stopped at software limits."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from onvif_control.guard import Command, Op
from onvif_control.simulator.calibration import Pose as SimPose
from vms.camera_model import Pose, PoseSource
from vms.clock import SystemClock
from web.contract import parse_model
from web.schemas.cameras import CalibrationIn
from web.schemas.ptz import OpenSessionIn, PtzCommandIn

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def settings():
    return {"VMS_CAMERAS_POSE_IDLE_SECONDS": "1.0", "VMS_CAMERAS_POSE_SETTLE_SECONDS": "0.5"}


@pytest.fixture
def live(control, camera):
    """The tracker polling with the real clock (sample times must advance)."""
    control.tracker.clock = SystemClock()
    control.engine.tracker.clock = SystemClock()
    control.tracker.start()
    yield control
    control.tracker.stop()


def _rate(samples, since):
    measured = [s for s in samples if s.at >= since and not s.commanded]
    seconds = (measured[-1].at - measured[0].at).total_seconds()
    return (len(measured) - 1) / seconds if seconds > 0 else 0.0


def test_tracker_is_a_pose_source(control):
    source: PoseSource = control.tracker  # the protocol (mypy); behaviour below
    assert source is control.tracker
    assert control.tracker.latest("nope") is None
    assert control.tracker.history("nope", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) == []


def test_polls_fast_while_moving_and_slow_when_idle(live, camera, sim):
    tracker, camera_id = live.tracker, camera.id
    deadline = time.monotonic() + 5
    while tracker.latest(camera_id) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tracker.latest(camera_id) is not None
    time.sleep(1.5)  # settle: idle polling
    idle_from = dt.datetime.now(dt.UTC)
    time.sleep(2.2)
    idle_rate = _rate(tracker.history(camera_id, idle_from), idle_from)
    assert idle_rate <= 1.6
    live.engine.execute(camera_id, Command(Op.CONTINUOUS, 0.2, 0.0, 0.0, timeout=2.0))
    moving_from = dt.datetime.now(dt.UTC)
    time.sleep(1.5)
    samples = tracker.history(camera_id, moving_from)
    assert _rate(samples, moving_from) >= 10.0  # [cameras] pose_fast_hz: 20 by default
    assert any(s.moving for s in samples)
    pans = [s.pose.pan for s in samples if not s.commanded]
    assert pans == sorted(pans) and pans[-1] > pans[0]  # panning right, in degrees
    live.engine.execute(camera_id, Command(Op.STOP))


def test_samples_are_stamped_mid_round_trip_with_its_half_as_uncertainty_INV_5(live, camera, sim):
    """The camera read its pose somewhere in the GetStatus round trip: the sample says
    so (stamp at the middle, half the round trip as its uncertainty), and the masks
    widen every bound by it (docs/design/mask-geometry.md item 5)."""
    tracker, camera_id = live.tracker, camera.id
    sim.soap_reply_delay = 0.06  # each reply leaves 60 ms late: round trips >= 60 ms
    try:
        since = dt.datetime.now(dt.UTC)
        live.engine.execute(camera_id, Command(Op.CONTINUOUS, 0.2, 0.0, 0.0, timeout=1.0))
        time.sleep(1.0)
        answered = dt.datetime.now(dt.UTC)
        samples = [s for s in tracker.history(camera_id, since) if not s.commanded]
    finally:
        live.engine.execute(camera_id, Command(Op.STOP))
        sim.soap_reply_delay = 0.0
    assert len(samples) >= 5
    for s in samples:
        assert s.uncertainty is not None
        # Half a round trip of at least the delay, and no longer than the slowest
        # round trip recorded ([privacy_masks] latency_seconds).
        assert 0.03 <= s.uncertainty <= tracker.max_reply_seconds / 2.0 + 1e-9, s
        # Stamped before the reply arrived, by that half.
        assert s.at + dt.timedelta(seconds=s.uncertainty) <= answered


def test_commanded_pose_is_recorded_at_once(control, camera):
    target = Pose(12.0, -5.0, 0.3)
    cal = camera.calibration
    x, y, z = cal.to_generic(target)
    control.engine.execute(camera.id, Command(Op.ABSOLUTE, x, y, z, target=target))
    history = control.tracker.history(camera.id, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    commanded = [s for s in history if s.commanded]
    assert commanded and commanded[-1].pose == target and commanded[-1].moving
    # Sample times are the injected clock's (INV-7).
    assert commanded[-1].at == control.tracker.clock.now()


@pytest.fixture(params=[0.0, 0.3], ids=["fast-link", "slow-link"])
def reply_delay(request, sim):
    """The simulator's SOAP replies leave this late (0.3 s: slower than the masks allow,
    so the tracker records none of them; the limit must hold all the same)."""
    sim.soap_reply_delay = request.param
    yield request.param
    sim.soap_reply_delay = 0.0


@pytest.fixture(params=["recorded-here", "recorded-elsewhere"])
def ownership(request, live):
    """With camera ownership (issue 13.1) the tracker polls only its node's cameras; a
    camera another node records is polled here only while a command given here lasts,
    which is enough for the limit watch."""
    if request.param == "recorded-elsewhere":
        live.tracker.scope = frozenset
    yield request.param
    live.tracker.scope = None


def _timed_watch(live):
    """Every GetStatus round trip the tracker's limit watch uses, as it goes."""
    round_trips: list[float] = []
    watch = live.tracker._watch_limit

    async def timed_watch(cid, calibration, sample, velocity, round_trip):
        round_trips.append(round_trip)
        await watch(cid, calibration, sample, velocity, round_trip)

    live.tracker._watch_limit = timed_watch
    return round_trips


def assert_stopped_near(pan, limit, round_trips, reply_delay):
    """Stopped within -12/+4 degrees of the limit, widened by 90 deg/s (twice the
    speed) times how much the slowest reply the watch used exceeded the link's (the
    simulator reads the pose on arrival and sends the reply ``reply_delay`` later: a
    round trip of ``reply_delay`` plus 0.05 s): see the software-limit test."""
    assert round_trips, "the limit watch never ran"
    extra = max(0.0, max(round_trips) - (reply_delay + 0.05))
    assert limit - 12.0 - 90.0 * extra <= pan <= limit + 4.0 + 90.0 * extra, (
        pan,
        limit,
        round_trips,
    )


def test_continuous_move_is_stopped_at_the_software_limit(
    live, camera, people, svc, sim, reply_delay, ownership
):
    from sqlalchemy import select

    from vms.db.models import AuditEntry

    camera_id = camera.id
    round_trips = _timed_watch(live)
    # On the slow link the first reply that shows the move arrives two round trips
    # (0.6 s, 27 degrees) after it started: the limit sits further away there.
    limit = 60.0 if reply_delay else 20.0
    live.cameras.set_calibration(
        people["admin"],
        camera_id,
        parse_model(
            CalibrationIn, {**camera.calibration.to_dict(), "limit_pan_max": limit}
        ).command(),
    )
    sid = live.ptz.open_session(
        people["dispatcher"], camera_id, parse_model(OpenSessionIn, {"purpose": "event"}).command()
    )
    live.ptz.command(
        people["dispatcher"],
        camera_id,
        parse_model(
            PtzCommandIn,
            {
                "session_id": sid.session_id,
                "op": "absolute",
                "pan": 0.0,
                "tilt": -10.0,
                "units": "degrees",
            },
        ).command(),
    )
    deadline = time.monotonic() + 5
    while sim.state()["moving"]["pan_tilt"] and time.monotonic() < deadline:
        time.sleep(0.05)
    live.ptz.command(
        people["dispatcher"],
        camera_id,
        parse_model(
            PtzCommandIn,
            {"session_id": sid.session_id, "op": "continuous", "pan": 0.5, "timeout": 10},
        ).command(),
    )
    deadline = time.monotonic() + 8
    while sim.state()["moving"]["pan_tilt"] and time.monotonic() < deadline:
        time.sleep(0.05)
    pan = sim.state()["pose"]["pan"]
    # 45 deg/s at half speed, polling with look-ahead: stops near the limit, not at 180.
    # The look-ahead is two round trips: a reply slower than the link's (a loaded
    # machine: 0.77 s once in CI against 0.30) stops it earlier by design, at 45 deg/s
    # for twice the extra time. Such a reply also times the speed estimate wrong (its
    # pose was read at an unknown instant of the longer trip), and the stop can come
    # as much later: CI runs on a loaded machine stopped at 67.4 and 87.0 against 60
    # with round trips of 0.70 and 0.30 s, and of 0.62 and 0.30 s (a round trip of the
    # slow link is 0.30 s: the delay is the reply's only). Unloaded (extra 0) as tight as
    # ever: without its look-ahead the watch stopped the slow link at 83.1 and 84.9
    # (tried here; on the fast link it stays within the bounds even so).
    assert_stopped_near(pan, limit, round_trips, reply_delay)
    stop = None
    deadline = time.monotonic() + 5  # the audit entry is written right after the Stop
    while stop is None and time.monotonic() < deadline:
        with svc.db.session() as s:
            stop = s.execute(
                select(AuditEntry).where(AuditEntry.action == "ptz.limit_stop")
            ).scalar_one_or_none()
        time.sleep(0.05)
    assert stop is not None
    assert stop.actor == "pose-tracker" and stop.details["user"] == "dispatcher"


def test_replies_slower_than_the_masks_allow_are_not_recorded_INV_5(live, camera, sim):
    """A pose read at an unknown instant of a long round trip may be older than its stamp
    by more than [privacy_masks] latency_seconds: the tracker does not record it, so the
    pose grows stale and the masks blank the picture (INV-5) until replies are fast."""
    tracker, camera_id = live.tracker, camera.id
    assert tracker.max_reply_seconds == 0.15  # from [privacy_masks] latency_seconds
    deadline = time.monotonic() + 5
    while tracker.latest(camera_id) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tracker.latest(camera_id) is not None
    sim.soap_reply_delay = 0.3
    try:
        live.engine.execute(camera_id, Command(Op.CONTINUOUS, 0.2, 0.0, 0.0, timeout=2.0))
        slow_from = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)
        time.sleep(2.0)
        recorded = [s for s in tracker.history(camera_id, slow_from) if not s.commanded]
        assert recorded == [] and tracker.slow_replies >= 3
    finally:
        sim.soap_reply_delay = 0.0
    fast_from = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not [
        s for s in tracker.history(camera_id, fast_from) if not s.commanded
    ]:
        time.sleep(0.05)
    assert [s for s in tracker.history(camera_id, fast_from) if not s.commanded]
    live.engine.execute(camera_id, Command(Op.STOP))


def test_a_move_that_starts_late_is_still_watched_to_the_limit(live, camera, people, sim):
    """A ContinuousMove that reaches the camera late (a loaded machine, a slow link: a
    CI failure of the test above) gives IDLE replies after the command for a while: the
    limit watch must not end before it has seen the camera move."""
    limit = 20.0
    round_trips = _timed_watch(live)
    live.cameras.set_calibration(
        people["admin"],
        camera.id,
        parse_model(
            CalibrationIn, {**camera.calibration.to_dict(), "limit_pan_max": limit}
        ).command(),
    )
    sim.ptz.absolute(SimPose(0.0, -10.0, 0.0), None)
    deadline = time.monotonic() + 5
    while sim.state()["moving"]["pan_tilt"] and time.monotonic() < deadline:
        time.sleep(0.05)
    live.tracker.continuous(camera.id, (0.5, 0.0, 0.0))  # commanded: watched from now
    time.sleep(1.0)  # polled fast meanwhile: several IDLE replies
    sim.ptz.continuous(0.5, 0.0, None, 10.0)  # ...then the camera starts
    deadline = time.monotonic() + 8
    time.sleep(0.2)
    while sim.state()["moving"]["pan_tilt"] and time.monotonic() < deadline:
        time.sleep(0.05)
    pan = sim.state()["pose"]["pan"]
    # A CI run on a loaded machine stopped it at 24.5 (the bound was 24): the late
    # replies' margin of the software-limit test applies here too.
    assert_stopped_near(pan, limit, round_trips, 0.0)


def test_a_limit_edit_during_a_row_read_applies_to_the_next_read(
    control, camera, people, monkeypatch
):
    """A tracker poll that read the camera's row just before an admin narrowed its
    software limits must not keep the old limits cached for RECORD_TTL (a CI failure of
    the test above: the move was stopped at the old limit, 180 degrees)."""
    import onvif_control.connections as connections_module

    connections = control.connections
    connections.forget(camera.id)
    real = connections_module.record_of

    def edited_meanwhile(row):
        record = real(row)  # the old row, as read by the poll
        monkeypatch.setattr(connections_module, "record_of", real)
        control.cameras.set_calibration(  # the edit commits (and forgets) meanwhile
            people["admin"],
            camera.id,
            parse_model(
                CalibrationIn, {**camera.calibration.to_dict(), "limit_pan_max": 20.0}
            ).command(),
        )
        return record

    monkeypatch.setattr(connections_module, "record_of", edited_meanwhile)
    read_before = connections.record(camera.id)
    assert read_before.calibration.limit_pan_max != 20.0  # that read saw the old row
    assert connections.record(camera.id).calibration.limit_pan_max == 20.0


def test_masks_plan_again_from_the_first_poll_after_the_clock_is_set_back_INV_5_INV_7(
    control, clock
):
    """The pose history was stamped by a clock that ran an hour ahead; then the clock was
    set right. Before, every new sample was restamped to the last one's time (an hour
    ahead) with an hour of uncertainty, so no sample could be said to precede a frame
    captured since: every frame of a masked camera was blanked for that hour (a year for
    a year: nothing but black recorded). Now a sample more than a few seconds older than
    the last starts the camera's history again on the clock as it is."""
    from onvif_control.adapter.models import PtzStatus
    from privacy_masks.planning import MaskSettings, plan_masks
    from vms.camera_model import Calibration

    tracker, cal = control.tracker, Calibration()
    right = clock.now()
    clock.set(right + dt.timedelta(hours=1))
    for _ in range(5):
        tracker.record("cam-set", PtzStatus(0.1, 0.1, 0.0, False), cal, 0.02)
        clock.advance(0.2)
    clock.set(right)  # set right: an hour back
    for _ in range(5):
        tracker.record("cam-set", PtzStatus(0.1, 0.1, 0.0, False), cal, 0.02)
        clock.advance(0.2)
    frame_at = clock.now() - dt.timedelta(seconds=0.5)
    history = tracker.history("cam-set", frame_at - dt.timedelta(seconds=10))
    assert all(s.at <= clock.now() and (s.uncertainty or 0) < 1 for s in history), history[-1]
    plan = plan_masks(frame_at, tracker.latest("cam-set"), history, MaskSettings())
    assert not plan.blank, plan


def test_a_poll_failing_on_the_database_is_logged_once_per_outage(
    control, camera, monkeypatch, caplog
):
    """A pose poll whose camera row cannot be read (the database away: not a VMSError)
    logged a traceback every poll, each camera (every second or two, for the whole
    outage); a camera that does not answer was logged once. Now both once per outage
    ("pose known again" once a poll succeeds)."""
    import asyncio
    import logging

    from sqlalchemy.exc import OperationalError

    tracker = control.tracker

    def away(camera_id):
        # The fake is the database's answer only: what is examined is the tracker.
        raise OperationalError("SELECT cameras", {}, Exception("server closed the connection"))

    due: dict[str, float] = {}
    with caplog.at_level(logging.INFO, logger="onvif_control.pose"):
        monkeypatch.setattr(tracker.connections, "record", away)
        for _ in range(20):
            asyncio.run(tracker._poll(camera.id, due))
    failed = [r for r in caplog.records if "pose poll failed" in r.getMessage()]
    assert len(failed) == 1, f"{len(failed)} lines for 20 failed polls"
    assert failed[0].exc_info is not None  # the first one with its traceback
