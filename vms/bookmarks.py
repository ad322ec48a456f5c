"""Bookmarks (issue 15.3): a labelled instant or range on a fixed camera's timeline or in
one media item, with a note and its author, optionally filed in a case.

Who: the roles that manage cases (``cases.manage``: investigators, records staff,
admins) create them; those that read cases (``cases.read``, auditors too) list them. A
bookmark in an item needs the same right on the item as tagging it (``media.edit``:
restricted items only for admins, ACC-7). Creating is audited with what was bookmarked,
listing with the ids shown (ACC-6); refusals are audited by the authoriser (INV-4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vms import ids
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.decided_again import UserChanged, actor_as_now, refuse_as_now
from vms.auth.permissions import Action, Actor, ItemFacts, facts_of
from vms.bounded import shown
from vms.clock import Clock, isoformat
from vms.db.engine import Database
from vms.db.models import Bookmark, Case, MediaItem
from vms.devices import is_registered_camera
from vms.errors import Conflict, InvalidArgument, NotFound
from vms.repeats import find_repeat_of

# A bookmark marks a moment or an incident's span, not a day's recording.
MAX_SPAN = dt.timedelta(hours=24)
# A bookmark may not point past now by more than this (clock skew between machines).
FUTURE_SLACK = dt.timedelta(minutes=5)
MAX_LIST = 500


@dataclass(frozen=True)
class NewBookmark:
    """``POST /api/v1/bookmarks``: exactly one of ``camera_id`` and ``media_id``; ``end``
    None for an instant."""

    start: dt.datetime
    label: str
    camera_id: str | None = None
    media_id: str | None = None
    end: dt.datetime | None = None
    note: str | None = None
    case_number: str | None = None


@dataclass(frozen=True)
class BookmarkQuery:
    """``GET /api/v1/bookmarks``: every filter given must match; ``start``/``end``: the
    bookmarks overlapping that window."""

    case_number: str | None = None
    camera_id: str | None = None
    media_id: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    limit: int = 100


@dataclass(frozen=True)
class BookmarkRecord:
    id: str
    case_number: str | None
    camera_id: str | None
    media_id: str | None
    start: dt.datetime
    end: dt.datetime | None
    label: str
    note: str | None
    author: str
    created_at: dt.datetime

    @classmethod
    def of(cls, row: Bookmark) -> BookmarkRecord:
        return cls(
            row.id,
            row.case_number,
            row.camera_id,
            row.media_id,
            row.start,
            row.end,
            row.label,
            row.note,
            row.author,
            row.created_at,
        )


@dataclass(frozen=True)
class BookmarkListing:
    bookmarks: tuple[BookmarkRecord, ...]


class _NoLongerAllowed(Exception):
    """The item changed between a bookmark's check and its transaction (BookmarkService
    .create) so that the bookmark is no longer allowed, or it is gone."""


def _asked(b: Bookmark | NewBookmark) -> tuple[object, ...]:
    """What a bookmark asks for, to know the same one asked again."""
    return (b.case_number, b.camera_id, b.media_id, b.start, b.end, b.label, b.note)


def item_facts(item: MediaItem) -> ItemFacts:
    return facts_of(item)


def bookmarks_of_case(session: Session, case_number: str) -> list[BookmarkRecord]:
    """Every bookmark filed in ``case_number``, in time order."""
    rows = session.execute(
        select(Bookmark)
        .where(Bookmark.case_number == case_number)
        .order_by(Bookmark.start, Bookmark.id)
    ).scalars()
    return [BookmarkRecord.of(r) for r in rows]


class BookmarkService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, authoriser: Authoriser) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser

    def create(self, actor: Actor, command: NewBookmark) -> BookmarkRecord:
        """Store a bookmark (audited ``bookmark.create``). Refused: an unknown camera,
        item or case (404), an item the actor may not tag (403, audited), an end before
        the start, a span over :data:`MAX_SPAN`, a time in the future or outside the
        item's recording (400, naming the value)."""
        target = f"media:{command.media_id}" if command.media_id else f"camera:{command.camera_id}"
        self.authoriser.require(actor, Action.CASES_MANAGE, target)
        if (command.camera_id is None) == (command.media_id is None):
            given = "both were given" if command.camera_id else "neither was given"
            raise InvalidArgument(
                f"a bookmark needs exactly one of camera_id and media_id: {given}"
            )
        self._check_times(command)
        now = self.clock.now()
        with self.db.session() as s:
            if command.media_id is not None:
                item = s.get(MediaItem, command.media_id)
                if item is None:
                    raise NotFound(
                        f"media_id {shown(command.media_id)} does not exist", field="media_id"
                    )
                self.authoriser.require(actor, Action.MEDIA_EDIT, target, item_facts(item))
                self._check_within(command, item)
            elif command.camera_id is not None and not is_registered_camera(s, command.camera_id):
                raise NotFound(
                    f"camera_id {shown(command.camera_id)} is not a registered camera",
                    field="camera_id",
                )
        try:
            return self._store(actor, command, target, now)
        except _NoLongerAllowed:
            # Restricted (ACC-7) or otherwise changed since the check above: refused as
            # the check refuses now, audited outside the rolled-back transaction.
            assert command.media_id is not None  # only an item's bookmark is decided again
            refuse_as_now(
                self.db,
                self.authoriser,
                actor,
                Action.MEDIA_EDIT,
                command.media_id,
                target=target,
                gone=f"media_id {shown(command.media_id)} does not exist",
                changed=f"{target} changed while it was bookmarked; try again",
            )
        except UserChanged as exc:
            # Disabled or given another role since the check (ACC-1): refused as the
            # check refuses the user now (audited); still allowed, try again.
            now_actor = actor_as_now(self.db, self.authoriser, actor, Action.CASES_MANAGE, target)
            self.authoriser.require(now_actor, Action.CASES_MANAGE, target)
            raise Conflict(str(exc)) from None

    def _store(
        self, actor: Actor, command: NewBookmark, target: str, now: dt.datetime
    ) -> BookmarkRecord:
        with self.db.transaction() as s:
            if command.media_id is not None:
                # Allowed on the item as read before: decided again, the row held till
                # the bookmark commits, so a restriction is either seen or waits (ACC-7).
                held = s.get(
                    MediaItem,
                    command.media_id,
                    with_for_update={"read": True},  # PostgreSQL; SQLite has one writer
                    populate_existing=True,
                )
                if (
                    held is None
                    or not self.authoriser.decide(
                        actor, Action.MEDIA_EDIT, item_facts(held)
                    ).allowed
                ):
                    raise _NoLongerAllowed
            # The same bookmark asked again (a double submit of the case or media page's
            # form, a retry): answered with the first, stored and audited once (ACC-6).
            # Asked after the item's row, as an export asks it: the item, then the
            # user's row (item 6 of docs/design/authorisation.md; the other order
            # deadlocked with a tag change of the same user, which holds the item first).
            repeat = find_repeat_of(
                s,
                actor,
                Bookmark,
                Bookmark.author,
                Bookmark.created_at,
                now=now,
                same=lambda row: _asked(row) == _asked(command),
            )
            if repeat is not None:
                return BookmarkRecord.of(repeat)
            if command.case_number is not None and s.get(Case, command.case_number) is None:
                raise NotFound(
                    f"case_number {shown(command.case_number)} is not a case", field="case_number"
                )
            row = Bookmark(
                id=ids.new_id(),
                case_number=command.case_number,
                camera_id=command.camera_id,
                media_id=command.media_id,
                start=command.start,
                end=command.end,
                label=command.label,
                note=command.note,
                author=actor.username,
                created_at=now,
            )
            s.add(row)
            record = BookmarkRecord.of(row)
            self.audit.append(
                s,
                who(actor),
                "bookmark.create",
                target,
                details={
                    "bookmark_id": record.id,
                    "case_number": record.case_number,
                    "start": isoformat(record.start),
                    "end": isoformat(record.end),
                    "label": record.label,
                },
            )
        return record

    def _check_times(self, command: NewBookmark) -> None:
        latest = self.clock.now() + FUTURE_SLACK
        for name, value in (("start", command.start), ("end", command.end)):
            if value is not None and value > latest:
                raise InvalidArgument(f"{name}: {isoformat(value)!r} is in the future", field=name)
        if command.end is not None:
            if command.end < command.start:
                raise InvalidArgument(
                    f"end: {isoformat(command.end)!r} is before start {isoformat(command.start)!r}",
                    field="end",
                )
            if command.end - command.start > MAX_SPAN:
                raise InvalidArgument(
                    f"end: {isoformat(command.end)!r} is more than "
                    f"{MAX_SPAN.total_seconds() / 3600:g} h after start "
                    f"{isoformat(command.start)!r}",
                    field="end",
                )

    @staticmethod
    def _check_within(command: NewBookmark, item: MediaItem) -> None:
        """An item's bookmark falls inside its recording (when its end is known)."""
        first = item.recorded_start
        last = item.recorded_end or item.recorded_start
        for name, value in (("start", command.start), ("end", command.end)):
            if value is not None and not first <= value <= last:
                raise InvalidArgument(
                    f"{name}: {isoformat(value)!r} is outside the recording of media "
                    f"{item.id} ({isoformat(first)} .. {isoformat(last)})",
                    field=name,
                )

    def search(self, actor: Actor, query: BookmarkQuery) -> BookmarkListing:
        """Bookmarks matching ``query`` in time order (audited ``bookmark.read`` with the
        ids shown, ACC-6)."""
        self.authoriser.require(actor, Action.CASES_READ, "bookmarks")
        if not 1 <= query.limit <= MAX_LIST:
            raise InvalidArgument(f"limit: {query.limit} is outside 1..{MAX_LIST}", field="limit")
        if query.start and query.end and query.end < query.start:
            raise InvalidArgument(
                f"end: {isoformat(query.end)!r} is before start {isoformat(query.start)!r}",
                field="end",
            )
        stmt = select(Bookmark)
        if query.case_number is not None:
            stmt = stmt.where(Bookmark.case_number == query.case_number)
        if query.camera_id is not None:
            stmt = stmt.where(Bookmark.camera_id == query.camera_id)
        if query.media_id is not None:
            stmt = stmt.where(Bookmark.media_id == query.media_id)
        if query.end is not None:
            stmt = stmt.where(Bookmark.start <= query.end)
        if query.start is not None:
            stmt = stmt.where(or_(Bookmark.start >= query.start, Bookmark.end >= query.start))
        stmt = stmt.order_by(Bookmark.start, Bookmark.id).limit(query.limit)
        with self.db.session() as s:
            found = tuple(BookmarkRecord.of(r) for r in s.execute(stmt).scalars())
        self.record_read(actor, "bookmarks", query, found)
        return BookmarkListing(found)

    def record_read(
        self, actor: Actor, target: str, query: BookmarkQuery, found: Sequence[BookmarkRecord]
    ) -> None:
        filters = {
            "case_number": query.case_number,
            "camera_id": query.camera_id,
            "media_id": query.media_id,
            "start": isoformat(query.start),
            "end": isoformat(query.end),
        }
        self.audit.record(
            self.db,
            who(actor),
            "bookmark.read",
            target,
            details={
                "filters": {k: v for k, v in filters.items() if v is not None},
                "bookmark_ids": [b.id for b in found],
            },
        )
