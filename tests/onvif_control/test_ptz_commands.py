"""PTZ commands (onvif_control/ptz_commands.py): the per-session token bucket and its
life with the session, and a command in flight across a take-over (P5). The commands'
API behaviour (every op, limits, audit INV-6) is in ``test_api_ptz.py``."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select

from onvif_control.guard import CommandRequest, Op
from onvif_control.ptz_commands import CommandBuckets
from onvif_control.ptz_sessions import OpenSession
from vms.clock import ManualClock
from vms.db.models import AuditEntry
from vms.errors import RateLimited, VMSError
from web.contract import parse_model
from web.schemas.ptz import OpenSessionIn

pytestmark = pytest.mark.timeout(120)


def test_buckets_allow_a_burst_of_twice_the_rate_then_refill_per_session():
    clock = ManualClock(dt.datetime(2026, 12, 3, 6, tzinfo=dt.UTC))
    buckets = CommandBuckets(clock, lambda: 2.0)
    for _ in range(4):
        buckets.take("s1")
    with pytest.raises(RateLimited, match="more than 2 PTZ commands per second"):
        buckets.take("s1")
    buckets.take("s2")  # another session has its own bucket
    clock.advance(dt.timedelta(seconds=0.5))
    buckets.take("s1")  # one token back after half a second at 2/s
    with pytest.raises(RateLimited):
        buckets.take("s1")
    buckets.forget("s1")
    buckets.take("s1")  # a forgotten session starts full


def test_buckets_of_sessions_ended_in_another_process_do_not_pile_up():
    """A bucket is forgotten when its session ends in this process; a session ended in
    another one (the jobs role's ``ptz-expire``, another web worker's close) left its
    bucket here for good: one per PTZ session since the web process started. A bucket
    refilled to its burst is the same as none, so it is dropped at the next command."""
    clock = ManualClock(dt.datetime(2026, 12, 3, 6, tzinfo=dt.UTC))
    buckets = CommandBuckets(clock, lambda: 2.0)
    for n in range(1000):  # sessions that sent commands, each ended elsewhere
        buckets.take(f"s{n}")
        buckets.take(f"s{n}")
        clock.advance(dt.timedelta(seconds=0.01))
    clock.advance(dt.timedelta(seconds=1))  # s999's two tokens back: full again
    buckets.take("now")
    assert len(buckets) == 1, f"{len(buckets)} buckets held for 1 recent session"
    # One not yet refilled is kept: its session goes on with what it had left.
    for _ in range(4):
        buckets.take("busy")
    clock.advance(dt.timedelta(seconds=0.5))
    buckets.take("other")
    assert "busy" in buckets
    buckets.take("busy")
    with pytest.raises(RateLimited):
        buckets.take("busy")


def test_a_slow_rate_still_allows_one_command():
    buckets = CommandBuckets(ManualClock(dt.datetime(2026, 12, 3, tzinfo=dt.UTC)), lambda: 0.2)
    buckets.take("s")
    with pytest.raises(RateLimited):
        buckets.take("s")


def test_a_sessions_bucket_goes_when_the_session_ends(control, camera, people):
    """The sessions tell the commands when a session ends (PtzService wires them)."""
    sid = control.ptz.open_session(
        people["dispatcher"],
        camera.id,
        parse_model(OpenSessionIn, {"purpose": "event"}).command(),
    ).session_id
    buckets = control.ptz.commands.buckets
    with pytest.raises(RateLimited):
        for _ in range(100):
            buckets.take(sid)
    control.ptz.close_session(people["dispatcher"], camera.id, sid)
    buckets.take(sid)


def test_reopening_ones_own_session_gives_no_fresh_burst_of_commands(control, camera, people):
    """The per-session rate limit ([ptz] commands_per_second, burst twice that) goes on
    when a holder replaces their own session (A3). Before the fix each reopen forgot the
    bucket and started a full one: five reopens sent 100 commands in no time at 10/s
    (burst 20), a flood of the camera the limit exists to stop."""
    ptz = control.ptz
    burst = int(2 * ptz.commands.config.commands_per_second)
    sent = 0
    for _ in range(5):
        sid = ptz.open_session(
            people["dispatcher"], camera.id, OpenSession(purpose="event")
        ).session_id
        try:
            while sent <= 5 * burst:
                ptz.command(people["dispatcher"], camera.id, CommandRequest(sid, Op.STOP))
                sent += 1
        except RateLimited:
            pass
    assert sent == burst  # the manual clock stands still: no token comes back


def test_a_command_in_flight_when_its_session_is_taken_over_leaves_the_camera_still_P5_INV_6(
    control, camera, people, sim, svc
):
    """A displaced operator's command that passed the session check just before a take-over
    must not move the camera after the take-over's Stop (P5: an ended session leaves the
    camera still; INV-6: the displaced operator no longer controls it). Before the fix the
    command's checks and its send were not ordered with the take-over's Stop: on a slow
    link the dispatcher's move reached the camera after the arbiter's Stop, the camera ran
    on under the supervisor's control, and the move was audited as granted after the
    take-over."""
    ptz = control.ptz
    sid = ptz.open_session(people["dispatcher"], camera.id, OpenSession(purpose="event")).session_id
    move = CommandRequest(sid, Op.CONTINUOUS, pan=0.5, timeout=20.0)
    outcome: dict[str, object] = {}

    def steer() -> None:
        try:
            outcome["result"] = ptz.command(people["dispatcher"], camera.id, move)
        except VMSError as exc:
            outcome["error"] = exc

    sim.soap_reply_delay = 0.6  # a slow link: the pose before takes 0.6 s
    try:
        steering = threading.Thread(target=steer)
        steering.start()
        time.sleep(0.2)  # the dispatcher's command waits for the camera's pose
        ptz.open_session(people["sergeant"], camera.id, OpenSession(purpose="investigation"))
        steering.join(20)
        assert not steering.is_alive()
    finally:
        sim.soap_reply_delay = 0.0
    time.sleep(0.3)
    moving = sim.state()["moving"]["pan_tilt"]
    with svc.db.session() as s:
        rows = s.execute(
            select(AuditEntry)
            .where(AuditEntry.action.in_(("ptz.command", "ptz.session.takeover")))
            .order_by(AuditEntry.seq)
        ).scalars()
        trail = [(e.action, e.actor, e.outcome, (e.details or {}).get("op")) for e in rows]
    stop = trail.index(("ptz.command", "ptz-arbiter", "ok", "stop"))
    # Whatever the dispatcher got, no move of theirs was granted after the Stop.
    assert ("ptz.command", "dispatcher", "ok", "continuous") not in trail[stop:], trail
    assert not moving, "the camera moves after the take-over"
