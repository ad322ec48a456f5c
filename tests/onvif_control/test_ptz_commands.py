"""PTZ commands (onvif_control/ptz_commands.py): the per-session token bucket and its
life with the session. The commands' API behaviour (every op, limits, audit INV-6) is in
``test_api_ptz.py``."""

from __future__ import annotations

import datetime as dt

import pytest

from onvif_control.ptz_commands import CommandBuckets
from vms.clock import ManualClock
from vms.errors import RateLimited
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
