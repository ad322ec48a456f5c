"""The purge does not act on a clock that jumped (RET-1, INV-3, INV-7).

The purge takes ``now`` from the one clock (vms/clock.py). A server clock set a year
ahead (an operator's error, a bad NTP source) would make every unheld item expired at
once, and the purge would destroy it all. Before a run deletes anything it compares its
``now`` with (docs/design/retention.md, "The purge's clock guard"):

- **the purge's previous run**: the ``now`` of the last run this guard let through
  (kept in ``job_leases`` under :data:`CLOCK_MARK`) or, after an upgrade, the newest
  destruction record. More than ``[retention] purge_clock_max_gap_hours`` past it: the
  clock jumped, or the jobs role was down that long;
- on PostgreSQL, **the database server's clock** (``clock_timestamp()``): more than
  ``[retention] purge_clock_max_skew_seconds`` apart (0: not compared).

Either refuses the run (:class:`ClockJumped`, nothing deleted), raises the site's
``purge_clock`` alarm and audits the refusal once per episode. An operator who finds the
clock right runs ``vms purge --confirm-clock`` (audited); its run sets the mark, and the
scheduled runs go on from there. The guard only ever stops deletion: it cannot be used
to keep footage past its retention unseen, since the alarm stays open until a run goes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from vms.audit.log import AuditLog, Who
from vms.clock import isoformat
from vms.db.engine import Database
from vms.db.models import DestructionRecord, JobLease
from vms.errors import FailedPrecondition
from vms.events import EventBus

log = logging.getLogger(__name__)

# The job_leases row whose finished_at is the now of the last run the guard let through
# (no job of that name exists: the lease machinery never claims it).
CLOCK_MARK = "retention.purge-clock"
CLOCK_ALARM_TOPIC = "retention.purge_clock"


class ClockJumped(FailedPrecondition):
    """The purge's clock is too far from its previous run or the database's clock."""


class PurgeClockGuard:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        events: EventBus,
        *,
        max_gap: dt.timedelta,
        max_skew: dt.timedelta | None,
        who: Who,
    ) -> None:
        self.db = db
        self.audit = audit
        self.events = events
        self.max_gap = max_gap
        self.max_skew = max_skew
        self.who = who
        self._alarm = False
        self._lock = threading.Lock()

    def check(self, now: dt.datetime, *, confirmed: bool, by: Who) -> None:
        """Return when the purge may act at ``now`` (recording it as the previous run);
        ClockJumped otherwise, unless an operator ``confirmed`` the clock (audited as
        ``by``). RET-1, INV-3: a jumped clock destroys nothing."""
        reference = self.previous_run()
        problems: list[str] = []
        details: dict[str, Any] = {"now": isoformat(now), "previous_run": isoformat(reference)}
        if reference is not None and now - reference > self.max_gap:
            problems.append(
                f"the clock reads {isoformat(now)}, {_hours(now - reference)} after the "
                f"purge's previous run at {isoformat(reference)} (more than [retention] "
                f"purge_clock_max_gap_hours = {_hours(self.max_gap)})"
            )
        server = self.database_now()
        if server is not None:
            details["database_now"] = isoformat(server)
            assert self.max_skew is not None
            if abs(now - server) > self.max_skew:
                problems.append(
                    f"the clock reads {isoformat(now)} and the database server's "
                    f"{isoformat(server)} (more than [retention] purge_clock_max_skew_seconds "
                    f"= {self.max_skew.total_seconds():g} apart)"
                )
        if problems and not confirmed:
            message = (
                "the purge did not run, nothing was deleted (RET-1, INV-3): "
                + "; ".join(problems)
                + ". Set the clock right; if it is right (the jobs role was down that "
                "long), run `vms purge --confirm-clock` (audited)"
            )
            log.error(message)
            self._set_alarm(True, message, details)
            raise ClockJumped(message, **details)
        if problems:
            log.warning("purge: clock confirmed by %s: %s", by.name, "; ".join(problems))
            self.audit.record(
                self.db,
                by,
                "retention.purge_clock_confirmed",
                "purge:clock",
                details={**details, "problems": problems},
            )
        self._mark(now)
        self._set_alarm(False, None, details)

    def previous_run(self) -> dt.datetime | None:
        with self.db.session() as s:
            row = s.get(JobLease, CLOCK_MARK)
            newest = s.execute(select(func.max(DestructionRecord.purged_at))).scalar()
        marks = [t for t in (row.finished_at if row else None, newest) if t is not None]
        return max(marks) if marks else None

    def database_now(self) -> dt.datetime | None:
        if self.max_skew is None or self.db.dialect != "postgresql":
            return None
        with self.db.session() as s:
            value = s.execute(text("SELECT clock_timestamp()")).scalar_one()
        assert isinstance(value, dt.datetime)
        return value.astimezone(dt.UTC)

    def _mark(self, now: dt.datetime) -> None:
        for _attempt in range(2):
            try:
                with self.db.transaction() as s:
                    row = s.get(JobLease, CLOCK_MARK)
                    if row is None:
                        s.add(JobLease(name=CLOCK_MARK, token=0, finished_at=now))
                    else:
                        row.finished_at = now
                return
            except IntegrityError:  # another process made the row first: update it
                continue

    def _set_alarm(self, active: bool, detail: str | None, details: dict[str, Any]) -> None:
        with self._lock:
            if active == self._alarm:
                return
            self._alarm = active
        self.events.publish(CLOCK_ALARM_TOPIC, {"active": active, "detail": detail})
        self.audit.record(
            self.db,
            self.who,
            "retention.purge_clock",
            "purge:clock",
            outcome="raised" if active else "cleared",
            details=details,
        )


def _hours(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"
