"""The unified catalog: search, detail, tag changes and content access, with the
audit entries they need (ACC-6, TAG-1); permissions are asked of the one authoriser
(:mod:`vms.auth.authoriser`, ACC-1). What it takes and answers are values of
:mod:`vms.catalog_values`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session, raiseload

from vms.access import CriticalIncidentChange, check_purpose, needs_purpose, review_facts
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.decided_again import UserChanged, hold_user, refuse_as_now
from vms.auth.permissions import (
    Action,
    Actor,
    Decision,
    ItemFacts,
    Scope,
    facts_of,
    scope_of,
)
from vms.bounded import check_window
from vms.catalog_values import (
    MAX_PAGE,
    ContentAccess,
    CustodyRecord,
    MarkerRecord,
    MediaChanges,
    MediaDetail,
    MediaQuery,
    MediaRecord,
    Page,
    RestrictionChange,
    Unchanged,
    decode_cursor,
    encode_cursor,
    record_fields,
)
from vms.categories import CategoryList
from vms.clock import Clock, isoformat
from vms.config import AccessConfig
from vms.continued import continuation_of
from vms.db.engine import Database
from vms.db.models import (
    AuditEntry,
    CustodyEvent,
    MediaCategory,
    MediaItem,
    MediaMarker,
)
from vms.errors import Conflict, InvalidArgument, NotFound
from vms.fixed_segments import fixed_segments_of as fixed_segments_of
from vms.fixed_segments import segments_from as segments_from
from vms.lineage import PackageOf, package_of
from vms.media_flags import EditNoLongerAllowed, MediaFlags
from vms.names import load_names
from vms.repeats import with_form_key
from vms.store import MediaStore

# Range requests of one playback within this window belong to the same viewing (ACC-6).
VIEWING_WINDOW = dt.timedelta(minutes=30)

# Called inside the transaction of a tag change with the changed row (e.g. retention
# recomputes the expiry), so the change and its consequences commit together.
ChangeHook = Callable[[Session, MediaItem, dt.datetime], None]


class _RetentionShortened(Exception):
    """A tag change refused inside its transaction: it would shorten retention."""


class _ViewNoLongerAllowed(Exception):
    """The item changed between a view's permission check and the record of the view
    (sent just before the content) so that the view is no longer allowed; the reason."""


def _kept_text(until: dt.datetime | None, rule: str | None) -> str:
    when = "while held" if until is None else f"{isoformat(until)}"
    return f"{when} ({rule})" if rule else when


def _filters_json(query: MediaQuery) -> dict[str, Any]:
    """The search's filters as its audit entry records them (those that were set)."""
    values = {
        "source": query.source.value if query.source else None,
        "device_id": query.device_id,
        "officer_badge": query.officer_badge,
        "case_number": query.case_number,
        "category": query.category,
        "has_marker": query.has_marker.value if query.has_marker else None,
        "start": isoformat(query.start),
        "end": isoformat(query.end),
        "cursor": query.cursor,
    }
    return {k: v for k, v in values.items() if v is not None}


def facts(item: MediaItem) -> ItemFacts:
    return facts_of(item)


class Catalog:
    def __init__(
        self,
        db: Database,
        store: MediaStore,
        audit: AuditLog,
        clock: Clock,
        categories: CategoryList,
        authoriser: Authoriser,
        purposes: Sequence[str] = AccessConfig().purpose_list,
    ) -> None:
        self.db = db
        self.purposes = tuple(purposes)  # ACC-4: [access] review_purposes
        self.store = store
        self.audit = audit
        self.clock = clock
        self.categories = categories
        self.authoriser = authoriser
        self.change_hooks: list[ChangeHook] = []
        self.flags = MediaFlags(self)

    def _scoped(self, stmt: Select[Any], actor: Actor) -> Select[Any]:
        scope = scope_of(actor.role, Action.MEDIA_SEARCH)
        if scope is Scope.OWN or scope is Scope.SUPERVISED:
            badges = sorted(actor.reachable_badges)
            return stmt.where(MediaItem.officer_badge.in_(badges))
        return stmt

    # -- search ----------------------------------------------------------------------

    def search(self, actor: Actor, query: MediaQuery) -> Page:
        """Items matching ``query`` that ``actor`` may see, newest first (by recorded time)."""
        self.authoriser.require(actor, Action.MEDIA_SEARCH, "catalog")
        if not 1 <= query.limit <= MAX_PAGE:
            raise InvalidArgument(f"limit must be 1..{MAX_PAGE}, not {query.limit}")
        check_window(query.start, query.end)
        stmt = self._scoped(select(MediaItem), actor)
        if query.source:
            stmt = stmt.where(MediaItem.source == query.source.value)
        if query.device_id:
            stmt = stmt.where(MediaItem.device_id == query.device_id)
        if query.officer_badge:
            stmt = stmt.where(MediaItem.officer_badge == query.officer_badge)
        if query.case_number:
            stmt = stmt.where(MediaItem.case_number == query.case_number)
        if query.has_marker:  # OPS-3: on ix_media_markers_kind
            stmt = stmt.where(
                exists().where(
                    MediaMarker.kind == query.has_marker.value, MediaMarker.media_id == MediaItem.id
                )
            )
        # The time order is walked on the index of the most selective table: a category
        # search walks media_categories (category, recorded_start, media_id), which
        # carries a copy of the item's recorded start for this purpose.
        time_col: Any = MediaItem.recorded_start
        id_col: Any = MediaItem.id
        if query.category:
            category = self.categories.get(query.category)
            name = category.name if category else query.category
            stmt = stmt.join(MediaCategory, MediaCategory.media_id == MediaItem.id).where(
                MediaCategory.category == name
            )
            time_col, id_col = MediaCategory.recorded_start, MediaCategory.media_id
        if query.start:
            stmt = stmt.where(time_col >= query.start)
        if query.end:
            stmt = stmt.where(time_col < query.end)
        if query.cursor:
            at, media_id = decode_cursor(query.cursor)
            stmt = stmt.where(
                # Implied by the OR below, but it is what lets SQLite and PostgreSQL start
                # the index scan at the cursor; without it they scan from the newest row
                # and filter (page N of a 1M catalog: 90 ms on SQLite, 1.8 s on PostgreSQL).
                time_col <= at,
                or_(time_col < at, and_(time_col == at, id_col < media_id)),
            )
        stmt = stmt.order_by(time_col.desc(), id_col.desc()).limit(query.limit + 1)
        with self.db.session() as s:
            rows = list(s.execute(stmt).scalars())
            names = load_names(s, rows)
            items = [MediaRecord.of(i, names[i.id]) for i in rows]
        more = len(items) > query.limit
        items = items[: query.limit]
        # ACC-6: a metadata view is audited with what it showed.
        self.audit.record(
            self.db,
            who(actor),
            "media.search",
            "catalog",
            details={"filters": _filters_json(query), "media_ids": [i.id for i in items]},
        )
        return Page(tuple(items), encode_cursor(items[-1]) if more and items else None)

    # -- one item --------------------------------------------------------------------

    def _load(
        self, s: Session, media_id: str, *, lock: bool = False, row_alone: bool = False
    ) -> MediaItem:
        """The item; ``lock``: for a change (the row locked first on PostgreSQL, as every
        writer of an item's retention facts does, and read fresh after the wait).
        ``row_alone``: without its categories and expiry, for a content decision (none
        reads them, and a player has one made for every range it fetches:
        bench/bench_content.py); reading them from it raises, never an empty list."""
        if "\x00" in media_id:  # no stored id has one (PostgreSQL text cannot hold it)
            raise NotFound(f"media {media_id!r} does not exist")
        options = [raiseload("*")] if row_alone else None
        if lock and s.get_bind().dialect.name == "postgresql":
            item = s.get(MediaItem, media_id, with_for_update=True, populate_existing=True)
        else:
            item = s.get(MediaItem, media_id, options=options)
        if item is None:
            raise NotFound(f"media {media_id!r} does not exist")
        return item

    def get(self, actor: Actor, media_id: str) -> MediaDetail:
        """Metadata, custody events and derived items of one item."""
        with self.db.session() as s:
            item = self._load(s, media_id)
            grant = self._require_visible(actor, item, s)
            events = s.execute(
                select(CustodyEvent)
                .where(CustodyEvent.media_id == media_id)
                .order_by(CustodyEvent.id)
            ).scalars()
            custody = tuple(CustodyRecord.of(e) for e in events)
            derived = tuple(
                s.execute(
                    select(MediaItem.id).where(MediaItem.derived_from_id == media_id)
                ).scalars()
            )
            names = load_names(s, [item])[item.id]
            markers = tuple(
                MarkerRecord.of(m, item.recorded_start)
                for m in s.execute(
                    select(MediaMarker)
                    .where(MediaMarker.media_id == media_id)
                    .order_by(MediaMarker.at, MediaMarker.id)
                ).scalars()
            )
            detail = MediaDetail(
                **record_fields(item, names),
                custody=custody,
                derived=derived,
                markers=markers,
                continues=continuation_of(s, item),
            )
        # ACC-6: the item's metadata was shown (its content is audited when served);
        # through an ACC-3 grant: with the grant's id.
        details = {"review_grant": grant} if grant else None
        self.audit.record(self.db, who(actor), "media.detail", f"media:{media_id}", details=details)
        return detail

    def _require_visible(self, actor: Actor, item: MediaItem, s: Session) -> str | None:
        """Refuse (audited) an actor who may not see the item's metadata; the id of the
        ACC-3 grant that lets them, if that is what does."""
        item_facts = review_facts(s, actor, item, self.clock.now())
        decision = self.authoriser.require(
            actor, Action.MEDIA_SEARCH, f"media:{item.id}", item_facts
        )
        return item_facts.review_grant if "(ACC-3)" in decision.reason else None

    def package_decision(self, actor: Actor, package: PackageOf, fact: ItemFacts) -> Decision:
        """May ``actor`` have the bytes of an export's package item, whichever route
        serves them (docs/design/exports.md, "Reading"; ACC-1, ACC-10)? Its creator while
        they may export, or an admin, and only while they may export the package item
        itself (restricted or flagged since it was made: ACC-7, ACC-11). Viewing its
        sources is not enough: the ZIP may carry audit entries (``include_audit``)."""
        exporting = self.authoriser.decide(actor, Action.EXPORTS_CREATE, fact)
        if not exporting.allowed:
            return Decision(
                False, f"the item is an export package, for who may export it: {exporting.reason}"
            )
        if (
            scope_of(actor.role, Action.EXPORTS_CREATE) is not Scope.ALL
            and package.created_by != actor.username
        ):
            return Decision(
                False, "the item is the package of another user's export: its creator's (ACC-1)"
            )
        return exporting

    def content_decision(self, actor: Actor, media_id: str) -> tuple[ItemFacts, Decision]:
        """The facts :meth:`authorise_content` decides on, for ``actor``, and its decision
        (nothing audited): for pages that show a player, or why there is none."""
        with self.db.session() as s:
            item = self._load(s, media_id)
            item_facts = review_facts(s, actor, item, self.clock.now())
            package = package_of(s, item)
        decision = self.authoriser.decide(actor, Action.MEDIA_VIEW, item_facts)
        if decision.allowed and package is not None:
            decision = self.package_decision(actor, package, facts_of(item))
        return item_facts, decision

    def authorise_content(
        self,
        actor: Actor,
        media_id: str,
        *,
        download: bool,
        continuation: bool = False,
        purpose: str | None = None,
    ) -> ContentAccess:
        """Authorise a view or download (ACC-1; refusals audited) and find the file.

        ACC-2: the officer's own review of a critical-incident item needs an approval;
        ACC-3: an active review grant opens an item the actor does not otherwise reach;
        ACC-4: a reviewer outside their own scope states ``purpose``, one of
        :attr:`purposes` (400 naming them otherwise). All three go into the audit entry.

        Nothing is recorded as viewed here: the caller builds its response first and then
        calls :meth:`record_content`, so a request that fails to produce content leaves no
        ``media.view``/``media.download`` entry claiming it did (issue 10, item 5).
        """
        action = "media.download" if download else "media.view"
        target = f"media:{media_id}"
        with self.db.session() as s:
            item = self._load(s, media_id, row_alone=True)
            item_facts = review_facts(s, actor, item, self.clock.now())
            package = package_of(s, item)
            continues = continuation_of(s, item)
        decision = self.authoriser.require(actor, Action.MEDIA_VIEW, target, item_facts)
        if package is not None:
            refused = self.package_decision(actor, package, facts_of(item))
            if not refused.allowed:
                self.authoriser.refuse(actor, action, target, refused.reason)
        details: dict[str, Any] = {}
        if "(ACC-3)" in decision.reason:
            details["review_grant"] = item_facts.review_grant
        elif item_facts.review_approval is not None and "(ACC-2)" in decision.reason:
            details["review_approval"] = item_facts.review_approval
        if needs_purpose(actor, item_facts) or purpose is not None:
            details["purpose"] = check_purpose(purpose, self.purposes)
        # None on S3: the web layer streams the object (ranges from the store).
        path = self.store.servable(
            item.sha256, f"the file of media {media_id} is missing from the store"
        )
        access = ContentAccess(item, path, action, download, continuation, details)
        return replace(access, continues=continues)

    def record_content(self, actor: Actor, access: ContentAccess, *, remote: str) -> None:
        """Write the custody event and the audit entry of content actually served (ACC-6).

        A ``continuation`` (a player fetching a later byte range of a viewing in progress)
        is recorded only when the same user has no entry for the same viewing in the last
        ``VIEWING_WINDOW``, so one viewing is one entry.
        """
        media_id = access.item.id
        target = f"media:{media_id}"
        now = self.clock.now()
        custody = "downloaded" if access.download else "viewed"
        try:
            if access.continuation:
                # One read finds the viewing and, when it is recorded already, decides
                # again: not recorded again, never sent undecided.
                with self.db.session() as s:
                    if self._viewing_recorded(s, actor, access.action, target, now):
                        self._still_viewable(s, actor, access)
                        return
            with self.db.transaction() as s:
                self._still_viewable(s, actor, access)
                details = {"remote_addr": remote, **access.details}
                self._witnessed(s, actor, media_id, custody, access.action, now, details)
        except _ViewNoLongerAllowed as refused:
            # Audited outside the rolled-back transaction (SQLite has one writer); the
            # response is not sent: the caller records before the content goes out.
            self.authoriser.refuse(actor, access.allowed_by, target, str(refused))

    def _still_viewable(self, s: Session, actor: Actor, access: ContentAccess) -> None:
        """The decision that allowed ``access`` again, on the item held FOR SHARE until
        the view is recorded: a restriction (ACC-7), a flag (ACC-2, ACC-11) or a revoked
        grant (ACC-3) committed since the check is seen, one after waits for the record.
        The row alone, without its categories and expiry: no decision reads them, and a
        player has this asked for every range it fetches (bench/bench_content.py); a
        decision that came to read them would raise here, not decide on empty lists."""
        media_id = access.item.id
        item = s.get(
            MediaItem,
            media_id,
            with_for_update={"read": True},
            populate_existing=True,
            options=[raiseload("*")],
        )
        if item is None:
            raise NotFound(f"media {media_id!r} does not exist")
        facts_now = review_facts(s, actor, item, self.clock.now())
        action = Action(access.allowed_by)
        decision = self.authoriser.decide(actor, action, facts_now)
        viewing = action is Action.MEDIA_VIEW
        package = package_of(s, item) if decision.allowed and viewing else None
        if package is not None:
            decision = self.package_decision(actor, package, facts_of(item))
        if not decision.allowed:
            raise _ViewNoLongerAllowed(decision.reason)

    def _viewing_recorded(
        self, s: Session, actor: Actor, action: str, target: str, now: dt.datetime
    ) -> bool:
        """Whether ``actor`` has an entry of this viewing (``action`` on ``target``) in the
        last ``VIEWING_WINDOW`` (ACC-6: one viewing, one entry)."""
        recent = s.execute(
            select(AuditEntry.seq)
            .where(
                AuditEntry.target == target,
                AuditEntry.actor == actor.username,
                AuditEntry.action == action,
                AuditEntry.outcome == "ok",
                AuditEntry.at >= now - VIEWING_WINDOW,
            )
            .limit(1)
        ).scalar()
        return recent is not None

    def _witnessed(
        self,
        s: Session,
        actor: Actor,
        media_id: str,
        custody: str,
        action: str,
        at: dt.datetime,
        details: dict[str, Any],
        form_key: str | None = None,
    ) -> None:
        """One event on the item's chain of custody and its audit entry, in ``s``; the
        entry also records ``form_key`` (the request's, for its repeat: ACC-6)."""
        s.add(
            CustodyEvent(
                media_id=media_id, at=at, actor=actor.username, action=custody, details=details
            )
        )
        audited = with_form_key(details, form_key)
        self.audit.append(s, who(actor), action, f"media:{media_id}", details=audited)

    def _keep_retention(
        self,
        actor: Actor,
        item: MediaItem,
        kept: tuple[dt.datetime | None, str | None],
        changed: list[str],
    ) -> None:
        """A tag change that would keep ``item`` for less time than before (its case
        number cleared while the case is open, RET-5; a category with a longer period
        taken off, TAG-4) is only for who manages retention (records commanders,
        admins). Otherwise an officer could retag their own footage to have it purged:
        the erasure ACC-10 forbids, by the back door. Raises _RetentionShortened."""
        until, rule = kept
        after = item.expires_at
        # None is "while held": longer than any date.
        shortened = after is not None and (until is None or after < until)
        if not shortened or self.authoriser.decide(actor, Action.RETENTION_MANAGE).allowed:
            return
        raise _RetentionShortened(
            f"media {item.id}: changing {', '.join(changed)} would shorten how long it is "
            f"kept, from {_kept_text(until, rule)} to {_kept_text(after, item.retention_rule)}; "
            "only a records commander or an administrator may shorten retention (ACC-10, "
            "RET-12)"
        )

    def set_restricted(self, actor: Actor, media_id: str, change: RestrictionChange) -> MediaRecord:
        """Mark an item restricted or clear the mark (ACC-7):
        :meth:`vms.media_flags.MediaFlags.set_restricted`."""
        return self.flags.set_restricted(actor, media_id, change)

    def set_critical_incident(
        self, actor: Actor, media_id: str, change: CriticalIncidentChange
    ) -> MediaRecord:
        """Set or clear an item's critical-incident flag (ACC-2):
        :meth:`vms.media_flags.MediaFlags.set_critical_incident`."""
        return self.flags.set_critical_incident(actor, media_id, change)

    def update(self, actor: Actor, media_id: str, changes: MediaChanges) -> MediaRecord:
        """Change title, categories, case or incident number (TAG-1); audited with
        the old and new values."""
        normalised = changes.changed()
        if not normalised:
            raise InvalidArgument("nothing to change")
        with self.db.session() as s:
            item = self._load(s, media_id)
        self.authoriser.require(actor, Action.MEDIA_EDIT, f"media:{media_id}", facts(item))
        if not isinstance(changes.categories, Unchanged):
            changes = replace(changes, categories=self.categories.normalise(changes.categories))
        now = self.clock.now()
        try:
            return self._update(actor, media_id, changes, now)
        except _RetentionShortened as refused:
            # Rolled back; audited after, outside the item's transaction (SQLite has one
            # writer).
            self.authoriser.refuse(
                actor, Action.RETENTION_MANAGE.value, f"media:{media_id}", str(refused)
            )
        except EditNoLongerAllowed:
            # Refused as the check refuses it now, audited outside the rolled-back
            # transaction; allowed again meanwhile: a 409.
            with self.db.session() as s:
                item = self._load(s, media_id)
            self.authoriser.require(actor, Action.MEDIA_EDIT, f"media:{media_id}", facts(item))
            raise Conflict(f"media {media_id} changed while it was edited; try again") from None
        except UserChanged as exc:
            # ACC-1: disabled or given another role since the check. Refused as the check
            # on this item refuses the user now (403, audited); still allowed, a 409.
            refuse_as_now(
                self.db,
                self.authoriser,
                actor,
                Action.MEDIA_EDIT,
                media_id,
                target=f"media:{media_id}",
                gone=f"media {media_id!r} does not exist",
                changed=str(exc),
            )

    def _update(
        self, actor: Actor, media_id: str, changes: MediaChanges, now: dt.datetime
    ) -> MediaRecord:
        normalised = changes.changed()
        if "categories" in normalised:
            normalised["categories"] = list(normalised["categories"])  # as audited before
        with self.db.transaction() as s:
            item = self._load(s, media_id, lock=True)
            # Allowed on the item as read before this transaction: decided again on the
            # locked row, so a restriction committed in between is not edited past (ACC-7).
            if not self.authoriser.decide(actor, Action.MEDIA_EDIT, facts(item)).allowed:
                raise EditNoLongerAllowed
            # A tag change can shorten retention (RET-5, TAG-4; _keep_retention decides by
            # the role): the user decided again, held until commit (ACC-1).
            hold_user(s, actor)
            # How long the rules keep it before the change, decided now: the stored
            # expiry may predate a change of the policy, which is not the editor's doing.
            for hook in self.change_hooks:
                hook(s, item, now)
            kept = (item.expires_at, item.retention_rule) if item.expiry is not None else None
            before: dict[str, Any] = {}
            for key, value in normalised.items():
                if key == "categories":
                    before[key] = sorted(c.category for c in item.categories)
                    item.categories = [
                        MediaCategory(category=c, recorded_start=item.recorded_start) for c in value
                    ]
                    if any((c := self.categories.get(n)) is not None and c.evidence for n in value):
                        item.evidence = True  # TAG-6; clearing evidence is not a tag change
                else:
                    before[key] = getattr(item, key)
                    setattr(item, key, value)
            s.flush()
            for hook in self.change_hooks:
                hook(s, item, now)
            details: dict[str, Any] = {"before": before, "after": normalised}
            if kept is not None and item.expiry is not None:
                self._keep_retention(actor, item, kept, list(normalised))
                now_kept = (item.expires_at, item.retention_rule)
                if now_kept != kept:  # what the change did to retention, for the auditor
                    details["retention"] = {
                        "before": _kept_text(*kept),
                        "after": _kept_text(*now_kept),
                    }
            self._witnessed(s, actor, media_id, "tagged", "media.update", now, details)
            s.flush()
            return MediaRecord.of(item, load_names(s, [item])[item.id])
