"""When a file says it was recorded, and whether to believe it (issue #10.2).

A user upload's ``recorded_at``, a dock sidecar's or a CLI import's, or the container's
``creation_time``, is the uploader's word or a device's clock. Retention never counts
from it alone (``retention.rules.counted_from``), and it must fall in a plausible window
around the ingest time, or the file is refused with the reason (400): by default not
more than a day after the ingest, and not more than ten years before it
(``[ingest] recorded_at_max_future_seconds``, ``recorded_at_max_age_days``). Pure: the
caller hands in ``now`` (INV-7).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vms.bounded import parse_time
from vms.clock import isoformat
from vms.errors import InvalidArgument


@dataclass(frozen=True)
class RecordedWindow:
    """Plausible recorded times: from ``now - max_age`` to ``now + max_future``."""

    max_future: dt.timedelta = dt.timedelta(days=1)
    max_age: dt.timedelta = dt.timedelta(days=3652)

    def bounds(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        return now - self.max_age, now + self.max_future

    def check(
        self,
        recorded: dt.datetime,
        now: dt.datetime,
        *,
        what: str = "recorded_at",
        note: str = "",
    ) -> None:
        """Raise :class:`InvalidArgument` naming ``what``, the value and the window when
        ``recorded`` lies outside it; ``note`` (where the time came from) ends the
        message."""
        earliest, latest = self.bounds(now)
        if recorded > latest:
            message = (
                f"{what} {isoformat(recorded)} is in the future: it may be at most "
                f"{_span(self.max_future)} after the ingest time ({isoformat(latest)})"
            )
        elif recorded < earliest:
            message = (
                f"{what} {isoformat(recorded)} is implausibly old: it may be at most "
                f"{_span(self.max_age)} before the ingest time ({isoformat(earliest)})"
            )
        else:
            return
        raise InvalidArgument(
            f"{message} ({note})" if note else message, field=what, value=isoformat(recorded)
        )


def parse_recorded_at(text: object, *, field: str = "recorded_at") -> dt.datetime:
    """``text`` as an aware UTC time through the one bounded parser (``vms.bounded``,
    #10.10): InvalidArgument naming ``field`` and the value when it is not a string, not
    ISO 8601 with an offset, or outside the years it accepts. The plausible window is
    checked later, against the ingest time (:class:`RecordedWindow`)."""
    return parse_time(text, field)


def _span(delta: dt.timedelta) -> str:
    if delta.days >= 1 and not delta.seconds:
        return f"{delta.days} day{'s' if delta.days != 1 else ''}"
    return f"{int(delta.total_seconds())} s"
