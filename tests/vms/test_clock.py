"""The injected clock (INV-7): wall and monotonic readings, moved together by a manual
clock, read from the system by the real one."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from vms.clock import Clock, ManualClock, SystemClock

START = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def test_manual_clock_advances_wall_and_monotonic_time_together_INV_7() -> None:
    clock: Clock = ManualClock(START)
    assert isinstance(clock, ManualClock)
    before = clock.monotonic()
    clock.advance(dt.timedelta(seconds=90))
    assert clock.now() == START + dt.timedelta(seconds=90)
    assert clock.monotonic() == before + 90.0
    clock.advance(0.25)  # seconds
    assert clock.now() == START + dt.timedelta(seconds=90.25)
    assert clock.monotonic() == before + 90.25


def test_manual_clock_set_moves_monotonic_time_forward_only_INV_7() -> None:
    clock = ManualClock(START)
    before = clock.monotonic()
    clock.set(START + dt.timedelta(days=1))
    assert clock.monotonic() == before + 86400.0
    clock.set(START)  # the wall clock stepped back: monotonic time does not go back
    assert clock.now() == START
    assert clock.monotonic() == before + 86400.0


def test_manual_clock_refuses_to_go_back_by_advancing() -> None:
    clock = ManualClock(START)
    with pytest.raises(ValueError, match="negative"):
        clock.advance(dt.timedelta(seconds=-1))
    assert clock.now() == START


def test_system_clock_reads_the_system() -> None:
    clock = SystemClock()
    wall = clock.now()
    assert wall.tzinfo is dt.UTC
    assert abs((wall - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    first = clock.monotonic()
    time.sleep(0.02)
    second = clock.monotonic()
    assert second - first >= 0.015
    assert abs(second - time.monotonic()) < 5


def test_services_fixture_runs_on_the_fixed_clock(services, clock: ManualClock) -> None:
    """The default fixture is on a fixed clock, so no test depends on today's date."""
    assert services.clock is clock
    assert services.clock.now() == START
