"""Read models of retention: the destruction log, upcoming deletions, and the tagging
deadline reports (RET-13, TAG-3, TAG-7)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import String, func, insert, literal, select
from sqlalchemy.orm import Session, aliased

from retention.records import (
    DestructionEntry,
    DestructionLogPage,
    MonthlyReport,
    UntaggedItem,
    UntaggedReport,
    UpcomingDeletions,
    UpcomingItem,
)
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.bounded import parse_month
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import (
    DestructionRecord,
    MediaCategory,
    MediaExpiry,
    MediaItem,
    SourceKind,
    TaggingNotice,
    User,
)
from vms.db.types import UTCDateTime
from vms.errors import InvalidArgument
from vms.events import EventBus

log = logging.getLogger(__name__)

# BWC and dash videos must be tagged (TAG-2, TAG-3); fixed segments and handheld
# recordings need no tags.
TAGGED_SOURCES = (SourceKind.BWC.value, SourceKind.DASH.value)
MAX_LIMIT = 1000


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1..{MAX_LIMIT}, not {limit}")
    return limit


class Reports:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        events: EventBus,
        authoriser: Authoriser,
        *,
        deadline_hours: float = 72.0,
        zone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.events = events
        self.authoriser = authoriser
        self.deadline = dt.timedelta(hours=deadline_hours)
        self.zone = zone  # the agency's: a month is its calendar month (TAG-7)

    def _viewed(self, actor: Actor, report: str, media_ids: list[str], **params: Any) -> None:
        """ACC-6: a report is a metadata view, audited with the items it listed."""
        self.audit.record(
            self.db,
            who(actor),
            "report.view",
            report,
            details={**{k: v for k, v in params.items() if v is not None}, "media_ids": media_ids},
        )

    # -- RET-13 ----------------------------------------------------------------------

    def destruction_log(
        self,
        actor: Actor,
        *,
        before_id: int | None = None,
        device_id: str | None = None,
        limit: int = 100,
    ) -> DestructionLogPage:
        """Destruction records, newest first; ``before_id`` pages backwards."""
        self.authoriser.require(actor, Action.RETENTION_READ, "destruction-log")
        stmt = select(DestructionRecord).order_by(DestructionRecord.id.desc())
        if before_id is not None:
            stmt = stmt.where(DestructionRecord.id < before_id)
        if device_id:
            stmt = stmt.where(DestructionRecord.device_id == device_id)
        with self.db.session() as s:
            rows = list(s.execute(stmt.limit(_limit(limit))).scalars())
        self._viewed(actor, "destruction-log", [r.media_id for r in rows], device_id=device_id)
        return DestructionLogPage(
            records=tuple(DestructionEntry.of(r) for r in rows),
            next_before_id=rows[-1].id if len(rows) == limit else None,
        )

    def upcoming(self, actor: Actor, *, days: int = 7, limit: int = 500) -> UpcomingDeletions:
        """Items the purge will delete within ``days`` (default 7), soonest first."""
        self.authoriser.require(actor, Action.RETENTION_READ, "upcoming-deletions")
        if not 0 < days <= 3660:
            raise InvalidArgument(f"days must be 1..3660, not {days}")
        now = self.clock.now()
        until = now + dt.timedelta(days=days)
        with self.db.session() as s:
            rows = s.execute(
                select(
                    MediaItem.id,
                    MediaItem.source,
                    MediaItem.device_id,
                    MediaItem.officer_badge,
                    MediaItem.recorded_start,
                    MediaExpiry.expires_at,
                    MediaExpiry.retention_rule,
                    MediaItem.size_bytes,
                )
                .select_from(MediaExpiry)
                .join(MediaItem, MediaItem.id == MediaExpiry.media_id)
                .where(MediaExpiry.expires_at.is_not(None), MediaExpiry.expires_at < until)
                .order_by(MediaExpiry.expires_at, MediaExpiry.media_id)
                .limit(_limit(limit))
            ).all()
        self._viewed(actor, "upcoming-deletions", [r.id for r in rows], days=days)
        return UpcomingDeletions(
            now=now,
            until=until,
            items=tuple(
                UpcomingItem(
                    id=r.id,
                    source=r.source,
                    device_id=r.device_id,
                    officer_badge=r.officer_badge,
                    recorded_start=r.recorded_start,
                    expires_at=r.expires_at,
                    retention_rule=r.retention_rule,
                    size_bytes=r.size_bytes,
                )
                for r in rows
            ),
        )

    # -- TAG-3 -----------------------------------------------------------------------

    def _untagged(self, s: Session, now: dt.datetime, limit: int) -> tuple[UntaggedItem, ...]:
        officer = aliased(User)
        supervisor = aliased(User)
        tagged = select(MediaCategory.media_id).where(MediaCategory.media_id == MediaItem.id)
        rows = s.execute(
            select(
                MediaItem.id,
                MediaItem.source,
                MediaItem.device_id,
                MediaItem.officer_badge,
                MediaItem.ingested_at,
                officer.username,
                supervisor.username,
            )
            .outerjoin(officer, officer.badge == MediaItem.officer_badge)
            .outerjoin(supervisor, supervisor.id == officer.supervisor_id)
            .where(
                MediaItem.source.in_(TAGGED_SOURCES),
                MediaItem.ingested_at <= now - self.deadline,
                ~tagged.exists(),
            )
            .order_by(MediaItem.ingested_at, MediaItem.id)
            .limit(limit)
        ).all()
        return tuple(
            UntaggedItem(
                id=r[0],
                source=r[1],
                device_id=r[2],
                officer_badge=r[3],
                uploaded_at=r[4],
                hours_overdue=round((now - r[4] - self.deadline).total_seconds() / 3600, 1),
                officer=r[5],
                supervisor=r[6],
            )
            for r in rows
        )

    def untagged(self, actor: Actor, *, limit: int = 500) -> UntaggedReport:
        """BWC/dash items still untagged past the deadline (72 h), with officer and
        supervisor (TAG-3), and the tagging failures counted per officer."""
        self.authoriser.require(actor, Action.RETENTION_READ, "reports:untagged")
        now = self.clock.now()
        with self.db.session() as s:
            items = self._untagged(s, now, _limit(limit))
            failures = self._failures(s)
        self._viewed(actor, "reports:untagged", [i.id for i in items])
        return UntaggedReport(
            now=now,
            deadline_hours=self.deadline.total_seconds() / 3600,
            items=items,
            failures_per_officer=failures,
        )

    def _failures(
        self, s: Session, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> dict[str, int]:
        """Items notified as untagged (TAG-3 failures), per officer badge."""
        stmt = select(
            TaggingNotice.officer_badge, func.count(func.distinct(TaggingNotice.media_id))
        ).group_by(TaggingNotice.officer_badge)
        if start is not None:
            stmt = stmt.where(TaggingNotice.notified_at >= start)
        if end is not None:
            stmt = stmt.where(TaggingNotice.notified_at < end)
        return {badge or "(none)": int(n) for badge, n in s.execute(stmt).all()}

    def notify_untagged(self) -> int:
        """The daily job (TAG-3): record one notice per overdue item per day (the
        tagging failure, logged per person), audit it and tell the web role.

        The notices are written by the database from the catalog (INSERT ... SELECT)
        and counted per officer there: a city's overdue items are never loaded, and
        none is left out (the job read them all into memory, at most 100,000)."""
        now = self.clock.now()
        day = now.date().isoformat()
        officer = aliased(User)
        supervisor = aliased(User)
        tagged = select(MediaCategory.media_id).where(MediaCategory.media_id == MediaItem.id)
        noticed = select(TaggingNotice.media_id).where(
            TaggingNotice.media_id == MediaItem.id, TaggingNotice.day == day
        )
        overdue = (
            select(
                MediaItem.id,
                literal(day, String(10)),
                MediaItem.officer_badge,
                supervisor.username,
                literal(now, UTCDateTime()),
            )
            .outerjoin(officer, officer.badge == MediaItem.officer_badge)
            .outerjoin(supervisor, supervisor.id == officer.supervisor_id)
            .where(
                MediaItem.source.in_(TAGGED_SOURCES),
                MediaItem.ingested_at <= now - self.deadline,
                ~tagged.exists(),
                ~noticed.exists(),
            )
        )
        columns = ["media_id", "day", "officer_badge", "supervisor", "notified_at"]
        with self.db.transaction() as s:
            # The notices of this run are those numbered after the day's last one.
            last = s.execute(select(func.max(TaggingNotice.id))).scalar_one() or 0
            s.execute(insert(TaggingNotice).from_select(columns, overdue))
            per_officer = {
                badge or "(none)": int(n)
                for badge, n in s.execute(
                    select(TaggingNotice.officer_badge, func.count())
                    .where(TaggingNotice.id > last, TaggingNotice.day == day)
                    .group_by(TaggingNotice.officer_badge)
                ).all()
            }
            new = sum(per_officer.values())
            if new:
                self.audit.append(
                    s,
                    Who("tagging-deadlines", SYSTEM_ROLE),
                    "tagging.overdue",
                    f"day:{day}",
                    details={"items": new, "per_officer": per_officer},
                )
        if new:
            log.warning("%d BWC/dash items untagged past the deadline (TAG-3)", new)
            self.events.publish("tagging.overdue", {"day": day, "per_officer": per_officer})
        return new

    # -- TAG-7 -----------------------------------------------------------------------

    def monthly(self, actor: Actor, month: str) -> MonthlyReport:
        """The monthly report for ``month`` (YYYY-MM): untagged videos not requiring
        tags (fixed, handheld) by source, and tagging failures per officer (TAG-7)."""
        self.authoriser.require(actor, Action.RETENTION_READ, "reports:monthly")
        # bounded: 9999-12 is a 400 (#10.10); midnights of the agency's time zone
        start, end = parse_month(month, "month", self.zone)
        tagged = select(MediaCategory.media_id).where(MediaCategory.media_id == MediaItem.id)
        with self.db.session() as s:
            by_source = dict(
                s.execute(
                    select(MediaItem.source, func.count())
                    .where(
                        MediaItem.source.not_in(TAGGED_SOURCES),
                        MediaItem.recorded_start >= start,
                        MediaItem.recorded_start < end,
                        ~tagged.exists(),
                    )
                    .group_by(MediaItem.source)
                ).all()
            )
            failures = self._failures(s, start, end)
        # ACC-6: reading a report is audited like every other report here (the monthly
        # audit, which shows this one, relies on it), with the officers it named.
        self.audit.record(
            self.db,
            who(actor),
            "report.view",
            "reports:monthly",
            details={"month": month, "officer_badges": sorted(failures)},
        )
        return MonthlyReport(
            month=month,
            untagged_not_requiring_tags={k: int(v) for k, v in by_source.items()},
            tagging_failures_per_officer=failures,
        )
