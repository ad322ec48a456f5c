"""Logging a retried step through an outage: its first failure, then nothing while the
outage lasts, then one line when the step works again.

A heartbeat or a poll that fails every few seconds while the database (or Redis, or a
camera) is away logged a traceback each time; written out by hand in each loop, the
copies drifted. Each loop keeps one :class:`OutageLog` (a keyed one for several things
failing apart, such as the cameras of a poll) and says what happened:

    renewing = OutageLog(log)
    while ...:
        try:
            renew()
        except Exception:
            renewing.failed("job %s: renewing the lease failed", name)
            continue
        renewing.works("job %s: renewing the lease works again", name)

The records are the caller's: its logger, its message and arguments, and its file and
line (``stacklevel``).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable


class OutageLog:
    """Which things (``key``: one thing by default) are failing now, logged on ``logger``
    at the first failure of an outage and when it ends."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._failing: set[Hashable] = set()

    def failing(self, key: Hashable = None) -> bool:
        """Whether ``key`` failed last time (an outage is going on)."""
        return key in self._failing

    def failed(
        self,
        msg: str,
        *args: object,
        key: Hashable = None,
        level: int = logging.ERROR,
        traceback: bool = True,
    ) -> None:
        """``key`` failed: log ``msg % args`` when its outage starts here (default: at
        ERROR with the exception being handled, as ``logger.exception``), else nothing."""
        if key not in self._failing:
            self._failing.add(key)
            # None, not False, without one: the record a plain ``logger.warning`` makes.
            self.logger.log(level, msg, *args, exc_info=traceback or None, stacklevel=2)

    def works(
        self, msg: str, *args: object, key: Hashable = None, level: int = logging.WARNING
    ) -> None:
        """``key`` worked: log ``msg % args`` (default at WARNING) when this ends its
        outage, else nothing."""
        if key in self._failing:
            self._failing.discard(key)
            self.logger.log(level, msg, *args, stacklevel=2)

    def forget(self, key: Hashable = None) -> None:
        """Drop ``key`` without a line (the thing is gone, e.g. a deleted camera): what
        is kept per key does not outlive it."""
        self._failing.discard(key)
