"""FailureStreak (vms/failure_streak.py): failures in a row logged at 1, 2, 4, 8, ...
with the count, and the streak's length when it ends."""

from __future__ import annotations

from vms.failure_streak import FailureStreak, logged_at


def test_failures_in_a_row_are_logged_at_the_powers_of_two() -> None:
    assert [n for n in range(0, 70) if logged_at(n)] == [1, 2, 4, 8, 16, 32, 64]


def test_a_streak_says_which_failures_to_log_and_its_length_when_it_ends() -> None:
    streak = FailureStreak()
    assert streak.ended() == 0  # no streak: nothing to say
    loud = [streak.count for _ in range(20) if streak.failed()]
    assert loud == [1, 2, 4, 8, 16]
    assert streak.count == 20
    assert streak.ended() == 20
    assert streak.count == 0 and streak.ended() == 0
    # A new streak is counted from 1 again: its first failure is logged.
    assert streak.failed() and streak.count == 1
    assert streak.failed() and streak.count == 2
    assert not streak.failed() and streak.count == 3
