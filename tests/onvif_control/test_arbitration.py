"""Arbitration rules A1-A6 and the rate-limit bucket: pure, no servers."""

from __future__ import annotations

import datetime as dt

import pytest

from onvif_control.arbitration import (
    Bucket,
    Claim,
    Holder,
    Verdict,
    decide,
    expires_at,
    is_expired,
    may_release,
    parse_priorities,
    priority_of,
    take,
)

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
PRI = parse_priorities("admin=100,supervisor=80,dispatcher=50")


def holder(user="ann", role="dispatcher", at=T0, reservation=False):
    return Holder("s1", user, role, priority_of(role, PRI), at, reservation)


def claim(user="bob", role="dispatcher", reservation=False):
    return Claim(user, role, priority_of(role, PRI), reservation)


def test_free_camera_is_granted_A1():
    assert decide(None, claim(), T0, 30).verdict is Verdict.GRANT


def test_expired_holder_is_no_obstacle_A2():
    d = decide(holder(), claim(), T0 + dt.timedelta(seconds=30), 30)
    assert d.verdict is Verdict.GRANT and d.displaced is not None
    assert not is_expired(holder(), T0 + dt.timedelta(seconds=29.9), 30)
    assert expires_at(holder(), 30) == T0 + dt.timedelta(seconds=30)


def test_reservations_do_not_expire_A2():
    r = holder("root", "admin", reservation=True)
    assert expires_at(r, 30) is None and not is_expired(r, T0 + dt.timedelta(days=1), 30)


def test_holder_replaces_own_session_A3():
    assert decide(holder(), claim("ann"), T0, 30).verdict is Verdict.REPLACE_OWN


def test_reservation_displaces_anyone_and_blocks_others_A4():
    d = decide(holder("sue", "supervisor"), claim("root", "admin", reservation=True), T0, 30)
    assert d.verdict is Verdict.TAKE_OVER and d.displaced and d.displaced.username == "sue"
    blocked = decide(holder("root", "admin", reservation=True), claim("ann", "admin"), T0, 30)
    assert blocked.verdict is Verdict.REFUSE and "maintenance" in blocked.reason


@pytest.mark.parametrize(
    ("held_by", "asked_by", "verdict"),
    [
        ("dispatcher", "supervisor", Verdict.TAKE_OVER),
        ("dispatcher", "admin", Verdict.TAKE_OVER),
        ("supervisor", "admin", Verdict.TAKE_OVER),
        ("dispatcher", "dispatcher", Verdict.REFUSE),  # equal priority
        ("supervisor", "supervisor", Verdict.REFUSE),
        ("admin", "supervisor", Verdict.REFUSE),
        ("supervisor", "dispatcher", Verdict.REFUSE),
        ("dispatcher", "officer", Verdict.REFUSE),  # unlisted role: priority 0
    ],
)
def test_priority_decides_take_overs_A5(held_by, asked_by, verdict):
    d = decide(holder("ann", held_by), claim("bob", asked_by), T0, 30)
    assert d.verdict is verdict
    if verdict is Verdict.REFUSE:
        assert "controlled by ann" in d.reason  # the 409 names the holder


def test_release_by_holder_or_admin_A6():
    assert may_release(holder(), "ann", False)
    assert not may_release(holder(), "bob", False)
    assert may_release(holder(), "bob", True)


@pytest.mark.parametrize("text", ["admin", "admin=x", "=5"])
def test_bad_priorities_are_refused(text):
    with pytest.raises(ValueError, match="role priority"):
        parse_priorities(text)


def test_token_bucket():
    bucket: Bucket | None = None
    results = []
    for _ in range(5):
        ok, bucket = take(bucket, T0, rate=2.0, burst=3.0)
        results.append(ok)
    assert results == [True, True, True, False, False]
    ok, bucket = take(bucket, T0 + dt.timedelta(seconds=0.5), rate=2.0, burst=3.0)
    assert ok  # one token refilled in half a second at 2/s
    ok, _ = take(bucket, T0 + dt.timedelta(seconds=0.5), rate=2.0, burst=3.0)
    assert not ok
