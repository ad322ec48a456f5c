"""Access rules that need records beyond the role table (issue 14.4, ACC-2, ACC-3, ACC-4).

- ACC-2: an item flagged ``critical_incident`` (death or serious bodily injury) is
  reviewed by the officer who recorded it only with a written approval recorded here
  (``review_approvals``) by an admin or the officer's supervisor.
- ACC-3: an admin grants an officer under investigation a time-boxed review of the
  items that capture them, other officers' included (``review_grants``); each use is
  audited with the grant's id.
- ACC-4: reviewers outside their own scope state a purpose from ``[access] review_purposes``
  (checked by :func:`check_purpose`; the catalog writes it into the audit entry).

The decision itself stays in the pure table (:func:`vms.auth.permissions.decide`): this
module looks up the approval and the grant in force for one actor and one item and hands
them over as :class:`~vms.auth.permissions.ItemFacts`. See docs/design/access-rules.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.decided_again import (
    UserChanged,
    actor_as_now,
    hold_user,
    refused_as_now_if_changed,
)
from vms.auth.permissions import Action, Actor, ItemFacts
from vms.clock import Clock, ensure_utc, isoformat
from vms.db.engine import Database
from vms.db.models import MediaItem, ReviewApproval, ReviewGrant, ReviewGrantItem, User
from vms.errors import Conflict, InvalidArgument, NotFound
from vms.ids import new_id
from vms.lineage import sources_of
from vms.repeats import find_repeat_of, made_under_key, with_form_key

MAX_GRANT_ITEMS = 500


def review_facts(s: Session, actor: Actor, item: MediaItem, now: dt.datetime) -> ItemFacts:
    """The facts of ``item`` for ``actor``: its flags, and the ACC-2 approval or the ACC-3
    grant in force for this actor now (looked up only when they can matter)."""
    own = actor.badge is not None and item.officer_badge == actor.badge
    critical = item.critical_incident
    approval = None
    flagged = [item.id] if critical else []
    if own:
        # ACC-2: a copy (an export's clip, a redaction) shows its original's pictures, so
        # the original's flag binds the officer's own review of the copy too, whenever it
        # was placed, and the original's approval opens the copy.
        flagged += [o.id for o in sources_of(s, item.id) if o.critical_incident]
        critical = bool(flagged)
    if own and critical:
        approval = s.execute(
            select(ReviewApproval.id)
            .where(
                ReviewApproval.media_id.in_(flagged),
                ReviewApproval.officer == actor.username,
                ReviewApproval.revoked_at.is_(None),
                or_(ReviewApproval.expires_at.is_(None), ReviewApproval.expires_at > now),
            )
            .order_by(ReviewApproval.approved_at.desc())
            .limit(1)
        ).scalar()
    grant = None
    if item.officer_badge is None or item.officer_badge not in actor.reachable_badges:
        grant = s.execute(
            select(ReviewGrant.id)
            .join(ReviewGrantItem, ReviewGrantItem.grant_id == ReviewGrant.id)
            .where(
                ReviewGrantItem.media_id == item.id,
                ReviewGrant.officer == actor.username,
                ReviewGrant.revoked_at.is_(None),
                ReviewGrant.starts_at <= now,
                ReviewGrant.ends_at > now,
            )
            .order_by(ReviewGrant.ends_at.desc())
            .limit(1)
        ).scalar()
    return ItemFacts(
        officer_badge=item.officer_badge,
        restricted=item.restricted,
        critical_incident=critical,
        review_approval=approval,
        review_grant=grant,
        privacy_sensitive=item.privacy_sensitive,  # ACC-11
    )


def needs_purpose(actor: Actor, facts: ItemFacts) -> bool:
    """ACC-4: a reviewer whose reach for the item is not their own or their supervised
    officers' recordings (nor an ACC-3 grant) states a purpose."""
    if facts.review_grant is not None:
        return False
    return facts.officer_badge is None or facts.officer_badge not in actor.reachable_badges


def check_purpose(purpose: str | None, allowed: Sequence[str]) -> str:
    """``purpose`` if it is one of ``allowed``; otherwise a 400 naming the list (ACC-4)."""
    listed = ", ".join(allowed)
    if purpose is None or not purpose.strip():
        raise InvalidArgument(
            f"purpose is required to open this item outside your own scope: one of {listed} "
            "([access] review_purposes, ACC-4)",
            field="purpose",
        )
    if purpose.strip() not in allowed:
        raise InvalidArgument(
            f"purpose {purpose.strip()[:100]!r} is not one of {listed} "
            "([access] review_purposes, ACC-4)",
            field="purpose",
        )
    return purpose.strip()


@dataclass(frozen=True)
class CriticalIncidentChange:
    """Set (``critical``) or clear an item's critical-incident flag, and why (ACC-2).
    ``form_key``: the page form's one-time key or the API's ``request_id``; the same
    request sent again is answered as the first was (ACC-6)."""

    critical: bool
    reason: str
    form_key: str | None = None


@dataclass(frozen=True)
class NewApproval:
    """A written approval of an officer's own review of a critical item (ACC-2): a
    document reference (memo number...) or a catalogued document's id, or both."""

    reason: str
    document_ref: str | None = None
    document_media_id: str | None = None
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class Approval:
    id: str
    media_id: str
    officer: str
    approved_by: str
    approved_at: dt.datetime
    document_ref: str | None
    document_media_id: str | None
    reason: str
    expires_at: dt.datetime | None

    @classmethod
    def of(cls, row: ReviewApproval) -> Approval:
        return cls(
            row.id,
            row.media_id,
            row.officer,
            row.approved_by,
            row.approved_at,
            row.document_ref,
            row.document_media_id,
            row.reason,
            row.expires_at,
        )


@dataclass(frozen=True)
class NewGrant:
    """A review grant for an officer under investigation (ACC-3); ``starts_at`` None:
    from now."""

    officer: str
    media_ids: tuple[str, ...]
    ends_at: dt.datetime
    reason: str
    starts_at: dt.datetime | None = None


@dataclass(frozen=True)
class Grant:
    id: str
    officer: str
    media_ids: tuple[str, ...]
    granted_by: str
    granted_at: dt.datetime
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    revoked_at: dt.datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    active: bool

    @classmethod
    def of(cls, row: ReviewGrant, now: dt.datetime) -> Grant:
        return cls(
            row.id,
            row.officer,
            tuple(sorted(i.media_id for i in row.items)),
            row.granted_by,
            row.granted_at,
            row.starts_at,
            row.ends_at,
            row.reason,
            row.revoked_at,
            row.revoked_by,
            row.revoke_reason,
            row.revoked_at is None and row.starts_at <= now < row.ends_at,
        )


class _ApprovalNoLongerAllowed(Exception):
    """The item changed between an approval's permission check and its transaction so
    that the approval is no longer allowed (restricted since, ACC-7; ACC-2)."""


def _no_document(media_id: str) -> NoReturn:
    """An approval citing ``media_id`` as its written form, which is not catalogued (never
    was, or purged since: RET-13): 400 naming it (ACC-2)."""
    raise InvalidArgument(
        f"document_media_id {media_id[:40]!r} is not a catalogued item",
        field="document_media_id",
    )


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InvalidArgument("reason is required: say why", field="reason")
    return text


class ReviewAccess:
    """Review approvals (ACC-2) and review grants (ACC-3): made, revoked and read, each
    change audited (ACC-6)."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock, authoriser: Authoriser) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser

    # -- ACC-2 ------------------------------------------------------------------------

    def approve(self, actor: Actor, media_id: str, new: NewApproval) -> Approval:
        """Record the written approval for the officer who recorded ``media_id`` to review
        it (ACC-2): by an admin or that officer's supervisor, never the officer."""
        reason = _reason(new.reason)
        ref = (new.document_ref or "").strip() or None
        if ref is None and not new.document_media_id:
            raise InvalidArgument(
                "document_ref or document_media_id is required: the written approval",
                field="document_ref",
            )
        now = self.clock.now()
        if new.expires_at is not None and ensure_utc(new.expires_at) <= now:
            raise InvalidArgument(
                f"expires_at {isoformat(new.expires_at)} is not in the future", field="expires_at"
            )
        target = f"media:{media_id}"
        with self.db.session() as s:
            item = _item(s, media_id)
            facts = review_facts(s, actor, item, now)
            if new.document_media_id and s.get(MediaItem, new.document_media_id) is None:
                _no_document(new.document_media_id)
        self.authoriser.require(actor, Action.REVIEW_APPROVE, target, facts)
        try:
            return self._approve(actor, media_id, new, reason, ref, now)
        except (_ApprovalNoLongerAllowed, UserChanged):
            # Refused as the check refuses it now (the user too, as stored now: ACC-1),
            # audited outside the rolled-back transaction; allowed again meanwhile: a 409.
            actor = actor_as_now(self.db, self.authoriser, actor, Action.REVIEW_APPROVE, target)
            with self.db.session() as s:
                facts = review_facts(s, actor, _item(s, media_id), now)
            self.authoriser.require(actor, Action.REVIEW_APPROVE, target, facts)
            raise Conflict(
                f"media {media_id} changed while its approval was recorded; try again"
            ) from None

    def _approve(
        self,
        actor: Actor,
        media_id: str,
        new: NewApproval,
        reason: str,
        ref: str | None,
        now: dt.datetime,
    ) -> Approval:
        target = f"media:{media_id}"
        with self.db.transaction() as s:
            # Allowed on the item as read before this transaction: decided again on the
            # row held FOR SHARE (a restriction waits for this approval), so one committed
            # in between, or the item's officer changed, is not approved past (ACC-2,
            # ACC-7, ACC-8).
            # The cited document held with it, in id order as the purge locks them: one
            # purged since it was looked up is not cited (RET-13).
            doc = new.document_media_id or None
            held = {
                row.id: row
                for row in s.execute(
                    select(MediaItem)
                    .where(MediaItem.id.in_(sorted({media_id, *filter(None, [doc])})))
                    .order_by(MediaItem.id)
                    .with_for_update(read=True)
                    .execution_options(populate_existing=True)
                ).scalars()
            }
            item = held.get(media_id)
            if item is None:
                raise NotFound(f"media {media_id[:40]!r} does not exist")
            if doc is not None and doc not in held:
                _no_document(doc)
            facts = review_facts(s, actor, item, now)
            if not self.authoriser.decide(actor, Action.REVIEW_APPROVE, facts).allowed:
                raise _ApprovalNoLongerAllowed
            if item.officer_badge is None:
                raise InvalidArgument(
                    f"media {media_id} has no officer: there is nobody to approve", field="media_id"
                )
            officer = s.execute(
                select(User.username).where(User.badge == item.officer_badge).limit(1)
            ).scalar()
            if officer is None:
                raise InvalidArgument(
                    f"no user has badge {item.officer_badge} (the officer of media {media_id})",
                    field="media_id",
                )
            expires = ensure_utc(new.expires_at) if new.expires_at else None
            # The same approval asked again (the media page's form sent twice, a retry):
            # answered with the first, recorded and audited once (ACC-2, ACC-6).
            repeat = find_repeat_of(
                s,
                actor,
                ReviewApproval,
                ReviewApproval.approved_by,
                ReviewApproval.approved_at,
                ReviewApproval.media_id == media_id,
                ReviewApproval.revoked_at.is_(None),
                now=now,
                same=lambda r: (
                    (r.officer, r.document_ref, r.document_media_id, r.reason)
                    == (officer, ref, new.document_media_id or None, reason)
                    and r.expires_at == expires
                ),
            )
            if repeat is not None:
                return Approval.of(repeat)
            row = ReviewApproval(
                id=new_id(),
                media_id=media_id,
                officer=officer,
                approved_by=actor.username,
                approved_at=now,
                document_ref=ref,
                document_media_id=new.document_media_id or None,
                reason=reason,
                expires_at=expires,
            )
            s.add(row)
            s.flush()
            self.audit.append(
                s,
                who(actor),
                "review.approve",
                target,
                details={
                    "approval_id": row.id,
                    "officer": officer,
                    "document_ref": ref,
                    "document_media_id": row.document_media_id,
                    "reason": reason,
                    "expires_at": isoformat(row.expires_at),
                },
            )
            return Approval.of(row)

    # -- ACC-3 ------------------------------------------------------------------------

    def grant(self, actor: Actor, new: NewGrant) -> Grant:
        """Grant ``new.officer`` review of ``new.media_ids`` from ``starts_at`` (now) to
        ``ends_at`` (ACC-3; admins only; audited)."""
        target = f"user:{new.officer}"
        self.authoriser.require(actor, Action.REVIEW_GRANT, target)
        reason = _reason(new.reason)
        media_ids = tuple(dict.fromkeys(new.media_ids))
        if not 1 <= len(media_ids) <= MAX_GRANT_ITEMS:
            raise InvalidArgument(
                f"media_ids must list 1..{MAX_GRANT_ITEMS} items, not {len(media_ids)}",
                field="media_ids",
            )
        now = self.clock.now()
        starts = ensure_utc(new.starts_at) if new.starts_at else now
        ends = ensure_utc(new.ends_at)
        if ends <= max(starts, now):
            raise InvalidArgument(
                f"ends_at {isoformat(ends)} must be after starts_at {isoformat(starts)} and now",
                field="ends_at",
            )
        with (
            refused_as_now_if_changed(self.db, self.authoriser, actor, Action.REVIEW_GRANT, target),
            self.db.transaction() as s,
        ):
            # Held FOR SHARE in id order, as the purge locks them (and before the audit
            # chain): one purged meanwhile is not granted, and the purge skips or waits
            # for the ones held, so none is destroyed before this grant commits (RET-13).
            found = set(
                s.execute(
                    select(MediaItem.id)
                    .where(MediaItem.id.in_(sorted(media_ids)))
                    .order_by(MediaItem.id)
                    .with_for_update(read=True)
                ).scalars()
            )
            # A grant opens other officers' items (ACC-3, admins only): the user decided
            # again, held until commit (ACC-1).
            hold_user(s, actor)
            if s.execute(select(User.id).where(User.username == new.officer)).scalar() is None:
                raise InvalidArgument(
                    f"officer {new.officer[:64]!r} is not a user", field="officer"
                )
            missing = [m for m in media_ids if m not in found]
            if missing:
                raise InvalidArgument(
                    f"media_ids: {', '.join(m[:40] for m in missing[:5])} do not exist",
                    field="media_ids",
                )
            row = ReviewGrant(
                id=new_id(),
                officer=new.officer,
                granted_by=actor.username,
                granted_at=now,
                starts_at=starts,
                ends_at=ends,
                reason=reason,
                items=[ReviewGrantItem(media_id=m) for m in media_ids],
            )
            s.add(row)
            s.flush()
            self.audit.append(
                s,
                who(actor),
                "review.grant",
                f"review_grant:{row.id}",
                details={
                    "officer": new.officer,
                    "media_ids": list(media_ids),
                    "starts_at": isoformat(starts),
                    "ends_at": isoformat(ends),
                    "reason": reason,
                },
            )
            return Grant.of(row, now)

    def revoke(
        self, actor: Actor, grant_id: str, reason: str, form_key: str | None = None
    ) -> Grant:
        """End a grant now (ACC-3; admins only; audited); 409 when already revoked, but
        to the same request sent again (``form_key``: the API's ``request_id``, the same
        reason): answered with the grant it revoked, revoked and audited once (ACC-6)."""
        target = f"review_grant:{grant_id}"
        self.authoriser.require(actor, Action.REVIEW_GRANT, target)
        text = _reason(reason)
        now = self.clock.now()
        with (
            refused_as_now_if_changed(self.db, self.authoriser, actor, Action.REVIEW_GRANT, target),
            self.db.transaction() as s,
        ):
            # Locked before it is read (SQLite's writers are serial already): of two
            # revocations at once the second waits and gets this 409, not a second entry.
            row = s.get(ReviewGrant, grant_id, with_for_update=True)
            if row is None:
                raise NotFound(f"review grant {grant_id[:40]!r} does not exist")
            # Only admins revoke (ACC-3): the user decided again, held until commit (ACC-1).
            hold_user(s, actor)
            if row.revoked_at is not None:
                if row.revoke_reason == text and made_under_key(
                    s, actor, "review.revoke", target, form_key
                ):
                    return Grant.of(row, now)  # the request that revoked it, sent again
                raise Conflict(
                    f"review grant {grant_id} was revoked at {isoformat(row.revoked_at)}",
                    field="grant_id",
                )
            row.revoked_at, row.revoked_by, row.revoke_reason = now, actor.username, text
            s.flush()
            details = with_form_key({"reason": text}, form_key)
            self.audit.append(s, who(actor), "review.revoke", target, details=details)
            return Grant.of(row, now)

    def grants(self, actor: Actor, officer: str | None = None) -> tuple[Grant, ...]:
        """The grants (of ``officer``), newest first (admins and auditors; audited)."""
        self.authoriser.require(actor, Action.REVIEW_GRANTS_READ, "review_grants")
        now = self.clock.now()
        stmt = select(ReviewGrant).order_by(ReviewGrant.granted_at.desc()).limit(1000)
        if officer:
            stmt = stmt.where(ReviewGrant.officer == officer)
        with self.db.session() as s:
            found = tuple(Grant.of(r, now) for r in s.execute(stmt).scalars())
        self.audit.record(
            self.db,
            who(actor),
            "review.grants",
            "review_grants",
            details={"officer": officer, "grant_ids": [g.id for g in found]},
        )
        return found


def _item(s: Session, media_id: str) -> MediaItem:
    item = s.get(MediaItem, media_id) if "\x00" not in media_id else None
    if item is None:
        raise NotFound(f"media {media_id[:40]!r} does not exist")
    return item
