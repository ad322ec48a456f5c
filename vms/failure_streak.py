"""Failures in a row of something retried, logged at the 1st, 2nd, 4th, 8th, ... only.

A job, a subscription or a camera connection failing for hours (the database, Redis or
the camera away) retries every few seconds; a line each time buried everything else, and
one line only hid how long it lasted. Logging at the powers of two says both, in about
twenty lines a week. The caller owns the message (its count is :attr:`count`):

    streak = FailureStreak()
    while ...:
        try:
            run()
        except Exception:
            if streak.failed():
                log.exception("job %s failed (%d runs in a row)", name, streak.count)
            continue
        if ended := streak.ended():
            log.warning("job %s works again after %d failed runs", name, ended)
"""

from __future__ import annotations


def logged_at(failures: int) -> bool:
    """Whether the ``failures``-th failure in a row is logged: 1, 2, 4, 8, ..."""
    return failures > 0 and failures & (failures - 1) == 0


class FailureStreak:
    """How many times in a row something failed (0: it works)."""

    def __init__(self) -> None:
        self.count = 0

    def failed(self) -> bool:
        """Count one more failure; True when this one is logged (:func:`logged_at`)."""
        self.count += 1
        return logged_at(self.count)

    def ended(self) -> int:
        """It worked: the failures the streak this ends had (0: none), counted anew."""
        ended, self.count = self.count, 0
        return ended
