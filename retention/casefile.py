"""Case folders (issue 15.3): a case, by number, with its items, bookmarks and exports.

A case's items are the media tagged with its number (``media_items.case_number``, TAG-1)
and the items added to it by hand with a note (``case_items``). Both kinds are kept while
the case is open (RET-5, INV-3): :class:`~retention.expiry.ExpiryService` reads the
hand-added links with the tags, so the purge, the recompute and the case's open/close
(``PUT /api/v1/cases/{number}``, :class:`~retention.legal.CaseService`) treat them alike.

Who: investigators, records staff and admins manage case folders (``cases.manage``);
auditors read them too (``cases.read``). Adding an item needs the right to tag it
(``media.edit``: never a restricted item but for admins, ACC-7); a refusal is a 403,
audited (INV-4). Creating a case opens it; closing stays the data steward's
(``retention.manage``, RET-10). Every change is audited in its transaction and every
view of a case page with the ids it showed (ACC-6).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retention.expiry import OPEN, ExpiryService, lock_rows
from retention.holds import serialise_scopes
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.decided_again import refuse_as_now
from vms.auth.permissions import Action, Actor, facts_of
from vms.bookmarks import BookmarkRecord, bookmarks_of_case
from vms.bounded import shown
from vms.case_exports import CaseExport, CaseExports
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import Bookmark, Case, CaseItem, CustodyEvent, MediaItem
from vms.errors import Conflict, InvalidArgument, NotFound
from vms.names import ItemNames, load_names
from vms.ports import Ports
from vms.repeats import made_under_key, with_form_key

MAX_LIST = 500
MAX_OFFSET = 1_000_000  # far beyond any agency's cases; keeps the number sane


@dataclass(frozen=True)
class NewCase:
    """``POST /api/v1/cases``: open a case folder under this number. ``form_key``: the id
    of the page form's one-time key (:mod:`web.form_keys`), so that form sent again is
    answered with the case it opened (ACC-6); None from the API."""

    case_number: str
    form_key: str | None = None


@dataclass(frozen=True)
class CaseQuery:
    """``GET /api/v1/cases``: ``state`` open or closed (None: both)."""

    state: str | None = None
    limit: int = 100
    offset: int = 0  # the cases to skip, newest first (the case list page's later pages)


@dataclass(frozen=True)
class AddCaseItem:
    """``POST /api/v1/cases/{number}/items``: add an item by hand, with a note.
    ``form_key``: the id of the page form's one-time key (:mod:`web.form_keys`), so that
    form sent again is answered with the item it added (ACC-6); None from the API."""

    media_id: str
    note: str | None = None
    form_key: str | None = None


@dataclass(frozen=True)
class CaseSummary:
    case_number: str
    state: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    updated_by: str
    item_count: int
    bookmark_count: int


@dataclass(frozen=True)
class CaseListing:
    cases: tuple[CaseSummary, ...]


@dataclass(frozen=True)
class CaseItemView:
    """One item of a case: how it got there and what it is (names, not ids; 15.5).
    ``in_catalog`` False: a hand-added item since purged (its link is history)."""

    media_id: str
    tagged: bool
    added: bool
    note: str | None
    added_by: str | None
    added_at: dt.datetime | None
    in_catalog: bool
    source: str | None = None
    media_type: str | None = None
    device_id: str | None = None
    device_name: str | None = None
    device_location: str | None = None
    officer_badge: str | None = None
    officer_label: str | None = None
    display_title: str | None = None
    title_at: dt.datetime | None = None  # a made-up title's time (vms/names.py)
    recorded_start: dt.datetime | None = None
    recorded_end: dt.datetime | None = None
    evidence: bool = False
    restricted: bool = False
    expires_at: dt.datetime | None = None
    retention_rule: str | None = None


@dataclass(frozen=True)
class CaseFile:
    case_number: str
    state: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    updated_by: str
    items: tuple[CaseItemView, ...]
    bookmarks: tuple[BookmarkRecord, ...]
    exports: tuple[CaseExport, ...]


def _view(
    number: str,
    media_id: str,
    item: MediaItem | None,
    link: CaseItem | None,
    names: ItemNames | None,
) -> CaseItemView:
    """``tagged``: the item's own case number is this case (it may be added by hand too)."""
    base = CaseItemView(
        media_id=media_id,
        tagged=item is not None and item.case_number == number,
        added=link is not None,
        note=link.note if link else None,
        added_by=link.added_by if link else None,
        added_at=link.added_at if link else None,
        in_catalog=item is not None,
    )
    if item is None:
        return base
    return dataclasses.replace(
        base,
        source=item.source,
        media_type=item.media_type,
        device_id=item.device_id,
        device_name=names.device_name if names else None,
        device_location=names.device_location if names else None,
        officer_badge=item.officer_badge,
        officer_label=names.officer_label if names else None,
        display_title=names.display_title if names else item.title,
        title_at=names.title_at if names else None,
        recorded_start=item.recorded_start,
        recorded_end=item.recorded_end,
        evidence=item.evidence,
        restricted=item.restricted,
        expires_at=item.expires_at,
        retention_rule=item.retention_rule,
    )


class _NoLongerAllowed(Exception):
    """The item changed between the right to tag it (media.edit) and the transaction
    adding it to a case, so that it is no longer allowed (restricted since, ACC-7)."""


class CaseFileService:
    """Case folders: list, open, show (audited) and add items by hand."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        expiry: ExpiryService,
        ports: Ports,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.expiry = expiry
        self.ports = ports  # the exports package's CaseExports, when installed

    # -- list and open -------------------------------------------------------------

    def list_cases(self, actor: Actor, query: CaseQuery) -> CaseListing:
        """Cases newest first, with how many items and bookmarks each holds."""
        self.authoriser.require(actor, Action.CASES_READ, "cases")
        if query.state is not None and query.state not in (OPEN, "closed"):
            raise InvalidArgument(
                f"state: {shown(query.state)} must be one of 'open', 'closed'", field="state"
            )
        if not 1 <= query.limit <= MAX_LIST:
            raise InvalidArgument(f"limit: {query.limit} is outside 1..{MAX_LIST}", field="limit")
        if not 0 <= query.offset <= MAX_OFFSET:
            raise InvalidArgument(
                f"offset: {query.offset} is outside 0..{MAX_OFFSET}", field="offset"
            )
        stmt = (
            select(Case)
            .order_by(Case.opened_at.desc(), Case.case_number)
            .offset(query.offset)
            .limit(query.limit)
        )
        if query.state is not None:
            stmt = stmt.where(Case.state == query.state)
        with self.db.session() as s:
            cases = list(s.execute(stmt).scalars())
            numbers = [c.case_number for c in cases]
            items, marks = self._counts(s, numbers)
            return CaseListing(
                tuple(
                    self._summary(c, items.get(c.case_number, 0), marks.get(c.case_number, 0))
                    for c in cases
                )
            )

    @staticmethod
    def _summary(case: Case, items: int, marks: int) -> CaseSummary:
        return CaseSummary(
            case.case_number,
            case.state,
            case.opened_at,
            case.closed_at,
            case.updated_by,
            items,
            marks,
        )

    @staticmethod
    def _counts(s: Session, numbers: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
        if not numbers:
            return {}, {}
        members = union(
            select(MediaItem.case_number.label("n"), MediaItem.id.label("m")).where(
                MediaItem.case_number.in_(numbers)
            ),
            select(CaseItem.case_number.label("n"), CaseItem.media_id.label("m")).where(
                CaseItem.case_number.in_(numbers)
            ),
        ).subquery()
        items: dict[str, int] = {
            str(n): int(c)
            for n, c in s.execute(select(members.c.n, func.count()).group_by(members.c.n))
        }
        marks: dict[str, int] = {
            str(n): int(c)
            for n, c in s.execute(
                select(Bookmark.case_number, func.count())
                .where(Bookmark.case_number.in_(numbers))
                .group_by(Bookmark.case_number)
            )
        }
        return items, marks

    def create(self, actor: Actor, command: NewCase) -> CaseSummary:
        """Open a case folder (audited ``case.create``): the items tagged with its number
        are kept from now on (RET-5). 409 when the case exists (open or closed: reopening
        is the data steward's ``PUT /api/v1/cases/{number}``), but to the same page form
        sent again (``command.form_key``): that is answered with the case it opened."""
        number = command.case_number
        target = f"case:{number}"
        self.authoriser.require(actor, Action.CASES_MANAGE, target)
        now = self.clock.now()
        try:
            with self.db.transaction() as s:
                serialise_scopes(s)  # an ingest naming this case sees it open (RET-5)
                existing = s.get(Case, number)
                if existing is not None:
                    repeat = self._opened_by_form(s, actor, existing, command.form_key)
                    if repeat is not None:
                        return repeat
                    raise Conflict(
                        f"case_number {shown(number)} already exists ({existing.state})",
                        field="case_number",
                    )
                case = Case(
                    case_number=number,
                    state=OPEN,
                    opened_at=now,
                    closed_at=None,
                    updated_by=actor.username,
                )
                s.add(case)
                s.flush()
                tagged = list(
                    s.execute(select(MediaItem.id).where(MediaItem.case_number == number)).scalars()
                )
                changed = self.expiry.apply_ids(s, tagged)
                self.audit.append(
                    s,
                    who(actor),
                    "case.create",
                    target,
                    details=with_form_key(
                        {"tagged_items": len(tagged), "items_recomputed": changed},
                        command.form_key,
                    ),
                )
                summary = self._summary(case, len(tagged), 0)
        except IntegrityError:  # created by someone else at the same instant
            with self.db.session() as s:
                existing = s.get(Case, number)
                if existing is not None:
                    repeat = self._opened_by_form(s, actor, existing, command.form_key)
                    if repeat is not None:
                        return repeat
            raise Conflict(
                f"case_number {shown(number)} already exists", field="case_number"
            ) from None
        return summary

    def _opened_by_form(
        self, s: Session, actor: Actor, case: Case, form_key: str | None
    ) -> CaseSummary | None:
        """The case, when the page form that opened it is the one sent again (a double
        submit, ``form_key``): opened and audited once (ACC-6); else None."""
        number = case.case_number
        if not made_under_key(s, actor, "case.create", f"case:{number}", form_key):
            return None
        items, marks = self._counts(s, [number])
        return self._summary(case, items.get(number, 0), marks.get(number, 0))

    # -- one case ------------------------------------------------------------------

    def get(self, actor: Actor, number: str) -> CaseFile:
        """The case page: its items (tagged or added), bookmarks and exports. The
        viewing is audited (``case.view``) with the media and bookmark ids shown."""
        self.authoriser.require(actor, Action.CASES_READ, f"case:{number}")
        with self.db.session() as s:
            case = s.get(Case, number)
            if case is None:
                raise NotFound(f"case {shown(number)} does not exist", field="case_number")
            items = self._items(s, number)
            bookmarks = tuple(bookmarks_of_case(s, number))
            folder = CaseFile(
                case.case_number,
                case.state,
                case.opened_at,
                case.closed_at,
                case.updated_by,
                items,
                bookmarks,
                self._exports(number),
            )
        self.audit.record(
            self.db,
            who(actor),
            "case.view",
            f"case:{number}",
            details={
                "media_ids": [i.media_id for i in folder.items],
                "bookmark_ids": [b.id for b in folder.bookmarks],
                "export_ids": [e.id for e in folder.exports],
            },
        )
        return folder

    def _items(self, s: Session, number: str) -> tuple[CaseItemView, ...]:
        tagged = list(s.execute(select(MediaItem).where(MediaItem.case_number == number)).scalars())
        links = {
            link.media_id: link
            for link in s.execute(select(CaseItem).where(CaseItem.case_number == number)).scalars()
        }
        by_id = {i.id: i for i in tagged}
        missing = sorted(set(links) - set(by_id))
        if missing:
            for item in s.execute(select(MediaItem).where(MediaItem.id.in_(missing))).scalars():
                by_id[item.id] = item
        names = load_names(s, list(by_id.values()))
        views = [
            _view(number, media_id, by_id.get(media_id), links.get(media_id), names.get(media_id))
            for media_id in set(by_id) | set(links)
        ]
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        views.sort(key=lambda v: (v.recorded_start or far, v.media_id))
        return tuple(views)

    def _exports(self, number: str) -> tuple[CaseExport, ...]:
        """The case's exports, from the exports package's
        :class:`~vms.case_exports.CaseExports` in ``services.ports``."""
        return tuple(self.ports.get(CaseExports, reader="the case page").for_case(number))

    # -- add an item ---------------------------------------------------------------

    def add_item(self, actor: Actor, number: str, command: AddCaseItem) -> CaseItemView:
        """Add ``command.media_id`` to the case by hand, with a note (audited
        ``case.item_add``, and a custody event on the item). The item is then kept while
        the case is open, as a tagged one is (RET-5, INV-3). 409 when it is in the case
        already, but to the same page form sent again (``command.form_key``): that is
        answered with the item it added."""
        target = f"case:{number}"
        self.authoriser.require(actor, Action.CASES_MANAGE, target)
        with self.db.session() as s:
            case = s.get(Case, number)
            if case is None:
                raise NotFound(f"case {shown(number)} does not exist", field="case_number")
            item = s.get(MediaItem, command.media_id)
            if item is None:
                raise NotFound(
                    f"media_id {shown(command.media_id)} does not exist", field="media_id"
                )
            facts = facts_of(item)
        # The right to tag the item with the case number (ACC-2, ACC-7, ACC-8).
        self.authoriser.require(actor, Action.MEDIA_EDIT, f"media:{command.media_id}", facts)
        try:
            return self._add_item(actor, number, command)
        except _NoLongerAllowed:
            # Refused as the check refuses it now, audited outside the rolled-back
            # transaction; allowed again meanwhile: a 409.
            refuse_as_now(
                self.db,
                self.authoriser,
                actor,
                Action.MEDIA_EDIT,
                command.media_id,
                target=f"media:{command.media_id}",
                gone=f"media_id {shown(command.media_id)} does not exist",
                changed=f"media_id {shown(command.media_id)} changed while it was added; try again",
                changed_field="media_id",
            )

    def _add_item(self, actor: Actor, number: str, command: AddCaseItem) -> CaseItemView:
        target = f"case:{number}"
        now = self.clock.now()
        with self.db.transaction() as s:
            serialise_scopes(s)
            case = s.get(Case, number, with_for_update=lock_rows(s))
            if case is None:  # pragma: no cover - cases are never deleted
                raise NotFound(f"case {shown(number)} does not exist", field="case_number")
            if case.state != OPEN:
                raise Conflict(
                    f"case {shown(number)} is closed: reopen it before adding items",
                    field="case_number",
                )
            # Locked before it is read, as every writer of its retention facts does.
            item = s.get(
                MediaItem, command.media_id, with_for_update=lock_rows(s), populate_existing=True
            )
            if item is None:
                raise NotFound(
                    f"media_id {shown(command.media_id)} does not exist", field="media_id"
                )
            # The right to tag it, decided on the item as read before this transaction:
            # decided again on the locked row, so a restriction committed in between is
            # not added past (ACC-7, ACC-2, ACC-8).
            if not self.authoriser.decide(actor, Action.MEDIA_EDIT, facts_of(item)).allowed:
                raise _NoLongerAllowed
            link = s.get(CaseItem, (number, command.media_id))
            if link is not None:
                # The same item and note: the same key with another item (one another
                # request added) is not this request sent again (ACC-6).
                asked = {"media_id": item.id, "note": command.note}
                if made_under_key(s, actor, "case.item_add", target, command.form_key, asked=asked):
                    # The form that added it, sent again: added and audited once (ACC-6).
                    return _view(number, item.id, item, link, load_names(s, [item]).get(item.id))
                raise Conflict(
                    f"media_id {shown(command.media_id)} is already in case {shown(number)}",
                    field="media_id",
                )
            link = CaseItem(
                case_number=number,
                media_id=command.media_id,
                note=command.note,
                added_by=actor.username,
                added_at=now,
            )
            s.add(link)
            s.flush()
            expiry = self.expiry.apply(s, item)  # kept while the case is open (RET-5)
            details = {"case_number": number, "note": command.note}
            s.add(
                CustodyEvent(
                    media_id=item.id,
                    at=now,
                    actor=actor.username,
                    action="added_to_case",
                    details=details,
                )
            )
            self.audit.append(
                s,
                who(actor),
                "case.item_add",
                target,
                details=with_form_key(
                    {**details, "media_id": item.id, "retention_rule": expiry.rule},
                    command.form_key,
                ),
            )
            s.flush()
            names = load_names(s, [item])
            return _view(number, item.id, item, link, names.get(item.id))
