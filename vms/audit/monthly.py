"""The monthly audits (OPS-6, OPS-7, TAG-7; issue 14 item 3) and supervisor reviews.

:class:`ReviewService` records a supervisor's review of one officer video (OPS-6) and
lists them. :class:`MonthlyAudit` builds the month's report from what is recorded:

- usage: the month's ``ok`` audit entries per (user, role): ``media.view``,
  ``media.download`` and ``media.export.download``, ``media.playback``, ``live.view``,
  ``media.export`` (a finished export package, its creator's) and ``release.*``;
- storage per source: items and bytes at month end, added and purged in the month
  (destruction records), held vs expiring (today's holds and expiries);
- viewing: per (user, camera or device): live views opened, playback sessions and the
  length of the windows they asked for, item views; "how long" is the requested
  playback window (what the audit records), not a measured watching time;
- PTZ use: the PTZ-use report's rows (the :class:`~vms.ports.PtzUseReport` port, so
  both show the same numbers); tagging (TAG-7): ``Reports.monthly`` through the
  :class:`~vms.ports.TaggingReport` port;
- supervisor reviews per officer against ``[reviews] per_officer_month``.

docs/design/monthly-audit.md explains each number and its limits.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor, ItemFacts, Scope, scope_of
from vms.bounded import parse_month
from vms.clock import Clock, parse_iso
from vms.db.engine import Database
from vms.db.models import (
    AuditEntry,
    DestructionRecord,
    MediaExpiry,
    MediaHold,
    MediaItem,
    Role,
    SupervisorReview,
    User,
)
from vms.errors import InvalidArgument, NotFound
from vms.ports import Ports, PtzUseReport, TaggingReport

MAX_REVIEWS = 1000
NOTE_MAX = 2000

# Audit actions counted as usage, by column of :class:`UsageRow`.
USAGE_ACTIONS: dict[str, str] = {
    "media.view": "views",
    "media.download": "downloads",
    "media.export.download": "downloads",
    "media.playback": "playbacks",
    "live.view": "live_views",
    "media.export": "exports",
}
MEDIA_PREFIX = "media:"  # the target of an item's audit entries
UNKNOWN_CAMERA = "(unknown)"  # an item viewed that is neither catalogued nor destroyed
RELEASE_PREFIX = "release."  # releases to outside parties (issue 16: REL-*, ACC-5)


# -- supervisor reviews (OPS-6) -------------------------------------------------------


@dataclass(frozen=True)
class RecordReview:
    media_id: str
    note: str


@dataclass(frozen=True)
class ReviewQuery:
    officer: str | None = None
    month: str | None = None
    limit: int = 500


@dataclass(frozen=True)
class Review:
    id: int
    media_id: str
    officer_badge: str
    reviewer: str
    reviewer_role: str
    reviewed_at: dt.datetime
    note: str


def _review(row: SupervisorReview) -> Review:
    return Review(
        id=row.id,
        media_id=row.media_id,
        officer_badge=row.officer_badge,
        reviewer=row.reviewer,
        reviewer_role=row.reviewer_role,
        reviewed_at=row.reviewed_at,
        note=row.note,
    )


class ReviewService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        *,
        zone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.zone = zone  # the agency's: a month is its calendar month

    def record(self, actor: Actor, command: RecordReview) -> Review:
        """Record ``actor``'s review of an officer video (OPS-6): supervisors of the
        officers they supervise, admins of anyone; audited ``review.record``."""
        target = f"media:{command.media_id}"
        self.authoriser.require(actor, Action.REVIEWS_RECORD, "reviews")
        note = command.note.strip()
        if not note or len(note) > NOTE_MAX:
            raise InvalidArgument(f"note must be 1..{NOTE_MAX} characters", field="note")
        with self.db.session() as s:
            item = s.get(MediaItem, command.media_id)
            if item is None:
                raise NotFound(f"media {command.media_id} does not exist")
            badge, restricted = item.officer_badge, item.restricted
        if badge is None:
            raise InvalidArgument(
                f"media {command.media_id} has no officer badge: not an officer video",
                field="media_id",
            )
        if actor.role is Role.SUPERVISOR and badge == actor.badge:
            self.authoriser.refuse(
                actor,
                Action.REVIEWS_RECORD.value,
                target,
                "a supervisor's own recording is not an officer review (OPS-6)",
            )
        self.authoriser.require(actor, Action.REVIEWS_RECORD, target, ItemFacts(badge, restricted))
        now = self.clock.now()
        with self.db.transaction() as s:
            row = SupervisorReview(
                media_id=command.media_id,
                officer_badge=badge,
                reviewer=actor.username,
                reviewer_role=actor.role.value,
                reviewed_at=now,
                note=note,
            )
            s.add(row)
            s.flush()
            self.audit.append(
                s,
                who(actor),
                "review.record",
                target,
                details={"review_id": row.id, "officer_badge": badge, "note": note},
            )
            return _review(row)

    def list(self, actor: Actor, query: ReviewQuery) -> tuple[Review, ...]:
        """Reviews, newest first: auditors and admins all of them, supervisors those of
        the officers they supervise; the listing is audited with the items shown."""
        if not 1 <= query.limit <= MAX_REVIEWS:
            raise InvalidArgument(f"limit must be 1..{MAX_REVIEWS}, not {query.limit}")
        stmt = select(SupervisorReview)
        if not self.authoriser.allows(actor, Action.AUDIT_READ):
            self.authoriser.require(actor, Action.REVIEWS_RECORD, "reviews")
            if scope_of(actor.role, Action.REVIEWS_RECORD) is not Scope.ALL:
                stmt = stmt.where(SupervisorReview.officer_badge.in_(actor.supervised_badges))
        if query.officer:
            stmt = stmt.where(SupervisorReview.officer_badge == query.officer)
        if query.month:
            start, end = parse_month(query.month, "month", self.zone)
            stmt = stmt.where(
                SupervisorReview.reviewed_at >= start, SupervisorReview.reviewed_at < end
            )
        stmt = stmt.order_by(SupervisorReview.reviewed_at.desc(), SupervisorReview.id.desc())
        with self.db.session() as s:
            rows = tuple(_review(r) for r in s.execute(stmt.limit(query.limit)).scalars())
        self.audit.record(
            self.db,
            who(actor),
            "report.view",
            "reports:reviews",
            details={
                "officer": query.officer,
                "month": query.month,
                "media_ids": [r.media_id for r in rows],
            },
        )
        return rows


# -- the monthly audit (OPS-7) --------------------------------------------------------


@dataclass(frozen=True)
class UsageRow:
    user: str
    role: str
    views: int = 0
    downloads: int = 0
    playbacks: int = 0
    live_views: int = 0
    exports: int = 0
    releases: int = 0

    @property
    def total(self) -> int:
        return (
            self.views
            + self.downloads
            + self.playbacks
            + self.live_views
            + self.exports
            + self.releases
        )


@dataclass(frozen=True)
class StorageRow:
    """One source: at month end (items, bytes), the month's additions and purges, and
    of the items counted at month end those held and those expiring (today's state)."""

    source: str
    items: int
    bytes: int
    added_items: int
    added_bytes: int
    purged_items: int
    purged_bytes: int
    held_items: int
    held_bytes: int
    expiring_items: int
    expiring_bytes: int

    @property
    def growth_bytes(self) -> int:
        return self.added_bytes - self.purged_bytes


@dataclass(frozen=True)
class ViewingRow:
    """Who watched which camera (or device) in the month; ``playback_seconds`` is the
    sum of the playback windows asked for (``media.playback`` start..end)."""

    user: str
    role: str
    camera_id: str
    live_views: int
    playbacks: int
    playback_seconds: float
    item_views: int


@dataclass(frozen=True)
class PtzRow:
    user: str
    role: str
    camera_id: str
    sessions: int
    sessions_outside_hours: int
    commands: int
    commands_refused: int
    commands_into_masks: int
    seconds_in_control: float


@dataclass(frozen=True)
class ReviewCount:
    """OPS-6: one officer's reviewed videos in the month (``reviews``: distinct
    videos, however often each was reviewed) against the required number."""

    officer_badge: str
    officer: str | None
    supervisor: str | None
    reviews: int
    required: int

    @property
    def short(self) -> bool:
        return self.reviews < self.required


@dataclass(frozen=True)
class MonthlyAuditReport:
    month: str
    start: dt.datetime
    end: dt.datetime
    generated_at: dt.datetime
    usage: tuple[UsageRow, ...]
    storage: tuple[StorageRow, ...]
    viewing: tuple[ViewingRow, ...]
    # None: no PTZ-use report in this installation (camera control not installed).
    ptz: tuple[PtzRow, ...] | None
    # TAG-7; None: the retention plugin is not installed.
    untagged_not_requiring_tags: dict[str, int] | None
    tagging_failures_per_officer: dict[str, int] | None
    reviews: tuple[ReviewCount, ...]
    reviews_required: int
    # The agency's time zone: ``start`` and ``end`` are its midnights, given in UTC.
    time_zone: str = "UTC"

    @property
    def officers_short_of_reviews(self) -> tuple[ReviewCount, ...]:
        return tuple(r for r in self.reviews if r.short)


def _usage(s: Session, start: dt.datetime, end: dt.datetime) -> tuple[UsageRow, ...]:
    rows = s.execute(
        select(AuditEntry.actor, AuditEntry.role, AuditEntry.action, func.count())
        .where(
            AuditEntry.at >= start,
            AuditEntry.at < end,
            AuditEntry.outcome == "ok",
            or_(
                AuditEntry.action.in_(sorted(USAGE_ACTIONS)),
                AuditEntry.action.startswith(RELEASE_PREFIX),
            ),
        )
        .group_by(AuditEntry.actor, AuditEntry.role, AuditEntry.action)
    ).all()
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for actor, role, action, n in rows:
        column = USAGE_ACTIONS.get(action, "releases")
        counts[(actor, role)][column] += int(n)
    return tuple(UsageRow(user, role, **counts[(user, role)]) for user, role in sorted(counts))


def _storage(s: Session, start: dt.datetime, end: dt.datetime) -> tuple[StorageRow, ...]:
    active_hold = (
        select(MediaHold.media_id)
        .where(MediaHold.media_id == MediaItem.id, MediaHold.released_at.is_(None))
        .exists()
    )
    held = or_(
        active_hold,
        MediaItem.evidence.is_(True),
        and_(MediaExpiry.media_id.is_not(None), MediaExpiry.expires_at.is_(None)),
    )
    expiring = and_(~held, MediaExpiry.expires_at.is_not(None))
    size = MediaItem.size_bytes

    def total(cond: ColumnElement[bool], value: Any) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, value), else_=0)), 0)

    added = and_(MediaItem.ingested_at >= start)
    at_end = s.execute(
        select(
            MediaItem.source,
            func.count(),
            func.coalesce(func.sum(size), 0),
            total(added, 1),
            total(added, size),
            total(held, 1),
            total(held, size),
            total(expiring, 1),
            total(expiring, size),
        )
        .select_from(MediaItem)
        .outerjoin(MediaExpiry, MediaExpiry.media_id == MediaItem.id)
        .where(MediaItem.ingested_at < end)
        .group_by(MediaItem.source)
    ).all()
    # Items purged after month end were still stored at it (recorded before it).
    later = dict(
        (src, (int(n), int(b)))
        for src, n, b in s.execute(
            select(
                DestructionRecord.source,
                func.count(),
                func.coalesce(func.sum(DestructionRecord.size_bytes), 0),
            )
            .where(DestructionRecord.purged_at >= end, DestructionRecord.recorded_start < end)
            .group_by(DestructionRecord.source)
        ).all()
    )
    purged = dict(
        (src, (int(n), int(b)))
        for src, n, b in s.execute(
            select(
                DestructionRecord.source,
                func.count(),
                func.coalesce(func.sum(DestructionRecord.size_bytes), 0),
            )
            .where(DestructionRecord.purged_at >= start, DestructionRecord.purged_at < end)
            .group_by(DestructionRecord.source)
        ).all()
    )
    stored = {str(r[0]): [int(v) for v in r[1:]] for r in at_end}
    out = []
    for source in sorted(set(stored) | set(later) | set(purged)):
        n, b, an, ab, hn, hb, en, eb = stored.get(source, [0] * 8)
        ln, lb = later.get(source, (0, 0))
        pn, pb = purged.get(source, (0, 0))
        out.append(StorageRow(source, n + ln, b + lb, an, ab, pn, pb, hn, hb, en, eb))
    return tuple(out)


def _seconds(details: dict[str, object]) -> float:
    try:
        start = parse_iso(str(details["start"]))
        end = parse_iso(str(details["end"]))
    except (KeyError, ValueError, InvalidArgument):
        return 0.0
    return max(0.0, (end - start).total_seconds())


def _item_views(
    s: Session, start: dt.datetime, end: dt.datetime
) -> Iterator[tuple[str, str, str, int]]:
    """(user, role, camera, views) of the month's ``media.view`` entries, counted in the
    database: the camera is the item's device from the catalog or, once purged, from
    its destruction record. One statement whatever the month holds (an agency's month
    is hundreds of thousands of views; loading them and looking their items up 500 at a
    time grew with every view, OPS-7)."""
    per_item = (
        select(
            AuditEntry.actor,
            AuditEntry.role,
            func.substr(AuditEntry.target, len(MEDIA_PREFIX) + 1).label("media_id"),
            func.count().label("views"),
        )
        .where(
            AuditEntry.at >= start,
            AuditEntry.at < end,
            AuditEntry.outcome == "ok",
            AuditEntry.action == "media.view",
        )
        .group_by(AuditEntry.actor, AuditEntry.role, AuditEntry.target)
        .subquery()
    )
    device = func.coalesce(
        select(MediaItem.device_id).where(MediaItem.id == per_item.c.media_id).scalar_subquery(),
        select(DestructionRecord.device_id)
        .where(DestructionRecord.media_id == per_item.c.media_id)
        .limit(1)
        .scalar_subquery(),
        UNKNOWN_CAMERA,
    ).label("camera")
    per_camera = select(per_item.c.actor, per_item.c.role, device, per_item.c.views).subquery()
    rows = s.execute(
        select(
            per_camera.c.actor,
            per_camera.c.role,
            per_camera.c.camera,
            func.sum(per_camera.c.views),
        ).group_by(per_camera.c.actor, per_camera.c.role, per_camera.c.camera)
    )
    for actor, role, camera, views in rows:
        yield str(actor), str(role), str(camera), int(views)


def _viewing(s: Session, start: dt.datetime, end: dt.datetime) -> tuple[ViewingRow, ...]:
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0])
    for actor, role, camera, views in _item_views(s, start, end):
        acc[(actor, role, camera)][3] += views
    # Live views and playbacks name their camera; a playback's seconds are in its
    # details, read in batches (not the month at once).
    entries = s.execute(
        select(AuditEntry.actor, AuditEntry.role, AuditEntry.action, AuditEntry.target)
        .add_columns(case((AuditEntry.action == "media.playback", AuditEntry.details), else_=None))
        .where(
            AuditEntry.at >= start,
            AuditEntry.at < end,
            AuditEntry.outcome == "ok",
            AuditEntry.action.in_(("live.view", "media.playback")),
        )
        .execution_options(yield_per=2000)
    )
    for actor, role, action, target, details in entries:
        row = acc[(actor, role, target.removeprefix("camera:"))]
        if action == "live.view":
            row[0] += 1
        else:
            row[1] += 1
            row[2] += _seconds(details if isinstance(details, dict) else {})
    return tuple(
        ViewingRow(u, r, c, int(v[0]), int(v[1]), round(v[2], 3), int(v[3]))
        for (u, r, c), v in sorted(acc.items())
    )


def _reviews(
    s: Session, start: dt.datetime, end: dt.datetime, required: int
) -> tuple[ReviewCount, ...]:
    supervisor = aliased(User)
    officers = s.execute(
        select(User.badge, User.username, supervisor.username)
        .outerjoin(supervisor, supervisor.id == User.supervisor_id)
        .where(User.role == Role.OFFICER.value, User.active.is_(True), User.badge.is_not(None))
    ).all()
    # Videos reviewed, not reviews (OPS-6: "two videos per officer"): the same review
    # sent twice (a retried POST) is two rows, and must not count as two videos.
    counts = dict(
        s.execute(
            select(SupervisorReview.officer_badge, func.count(SupervisorReview.media_id.distinct()))
            .where(SupervisorReview.reviewed_at >= start, SupervisorReview.reviewed_at < end)
            .group_by(SupervisorReview.officer_badge)
        ).all()
    )
    known: dict[str, tuple[str | None, str | None]] = {
        str(b): (name, sup) for b, name, sup in officers
    }
    for badge in counts:  # reviewed officers without an active officer account
        known.setdefault(badge, (None, None))
    return tuple(
        ReviewCount(badge, name, sup, int(counts.get(badge, 0)), required)
        for badge, (name, sup) in sorted(known.items())
    )


class MonthlyAudit:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        ports: Ports,
        *,
        reviews_required: int = 2,
        zone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.ports = ports
        self.reviews_required = reviews_required
        self.zone = zone  # the agency's: a month is its calendar month

    def report(self, actor: Actor, month: str, *, output: str = "json") -> MonthlyAuditReport:
        """The monthly audit of ``month`` (YYYY-MM) for auditors and admins
        (``audit.read``; refusals audited); the viewing is audited ``report.view``."""
        self.authoriser.require(actor, Action.AUDIT_READ, "reports:monthly-audit")
        start, end = parse_month(month, "month", self.zone)
        first = start.astimezone(self.zone)
        month = f"{first.year:04d}-{first.month:02d}"
        with self.db.session() as s:
            usage = _usage(s, start, end)
            storage = _storage(s, start, end)
            viewing = _viewing(s, start, end)
            reviews = _reviews(s, start, end, self.reviews_required)
        ptz: tuple[PtzRow, ...] | None = None
        ptz_source = self.ports.find(PtzUseReport)
        if ptz_source is not None:
            ptz = tuple(
                PtzRow(
                    r.user,
                    r.role,
                    r.camera_id,
                    r.sessions,
                    r.sessions_outside_hours,
                    r.commands,
                    r.commands_refused,
                    r.commands_into_masks,
                    round(r.seconds_in_control, 3),
                )
                for r in ptz_source.report(actor, start, end).rows
            )
        untagged = failures = None
        tagging = self.ports.find(TaggingReport)
        if tagging is not None:
            tag7 = tagging.monthly(actor, month)
            untagged = dict(tag7.untagged_not_requiring_tags)
            failures = dict(tag7.tagging_failures_per_officer)
        report = MonthlyAuditReport(
            month=month,
            start=start,
            end=end,
            generated_at=self.clock.now(),
            usage=usage,
            storage=storage,
            viewing=viewing,
            ptz=ptz,
            untagged_not_requiring_tags=untagged,
            tagging_failures_per_officer=failures,
            reviews=reviews,
            reviews_required=self.reviews_required,
            time_zone=str(self.zone),
        )
        self.audit.record(
            self.db,
            who(actor),
            "report.view",
            "reports:monthly-audit",
            details={
                "month": month,
                "format": output,
                "camera_ids": sorted({v.camera_id for v in viewing}),
                "officers_short": [r.officer_badge for r in report.officers_short_of_reviews],
            },
        )
        return report
