"""Release requests (issue 16, items 5, 6, 8; docs/design/releases.md).

A release request is logged by the records unit (``releases.manage``: records commanders,
admins) with its kind, requester, legal basis, document and items; the chief or a
designee (``releases.approve``: the ``release_approver`` role, admins) approves or
denies it with a reason (ACC-5); the records unit then releases it and shares it with
outsiders through links that need no account (``/s/<token>``).

States: ``received -> in_review -> approved | denied``, ``approved -> released``.
Rules checked here, each a clear error (refusals audited):

- ``agency`` needs the written request document, ``court_order`` the order (ACC-9):
  ``document_media_id`` naming a catalogued item;
- ``foia`` always has a due date (given, or ``received_at + [releases] foia_due_days``,
  REL-1); lists show open requests first, overdue first, then by due date;
- an item flagged ``privacy_sensitive`` (ACC-11) is released only as a redacted
  derivative (source ``redacted``), unless the request is a court order: the override
  is recorded in the audit entries and custody events (REL-3);
- approving a request one logged oneself is refused unless ``[releases]
  allow_self_approval`` (403, audited);
- releasing or sharing before approval is refused (409, audited); after it, what the
  approval checked is checked again (each item within the actor's reach, ACC-7; none
  flagged privacy-sensitive unless a court order, REL-3; none restricted since the
  approval, ACC-7): 403, audited;
- ``internal_affairs``: the release is recorded as a secondary copy (REL-4): a flag on
  the request and a ``secondary_copy`` custody event on every item.

Share links are made and revoked by :mod:`retention.release_shares`, with the checks
again of :meth:`ReleaseService.still_releasable`; what an outsider holding one may see and
download is :mod:`retention.share_links`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.expiry import lock_rows
from retention.release_checks import (
    APPROVED,
    DENIED,
    IN_REVIEW,
    KINDS,
    MAX_ITEMS,
    NEEDS_DOCUMENT,
    RECEIVED,
    RELEASED,
    required_text,
    resolve_item,
    restricted_since_approval,
    restricted_since_reason,
    sensitive_items,
)
from retention.release_checks import MAX_LOG_OFFSET as MAX_LOG_OFFSET
from retention.release_checks import NO_LINK as NO_LINK
from retention.release_checks import OPEN_STATES as OPEN_STATES
from retention.release_log import ReleaseLog
from retention.release_values import Decision as Decision
from retention.release_values import NewRelease as NewRelease
from retention.release_values import NewShare as NewShare
from retention.release_values import PrivacyFlag as PrivacyFlag
from retention.release_values import ReleasedItem as ReleasedItem
from retention.release_values import ReleaseKind as ReleaseKind
from retention.release_values import ReleaseListing as ReleaseListing
from retention.release_values import ReleaseRecord as ReleaseRecord
from retention.release_values import SetPrivacy as SetPrivacy
from retention.release_values import SharedLink as SharedLink
from retention.release_values import ShareRecord as ShareRecord
from vms import ids
from vms.auth.authoriser import who
from vms.auth.decided_again import (
    UserChanged,
    actor_as_now,
    hold_user,
    refused_as_now_if_changed,
)
from vms.auth.permissions import Action, Actor, facts_of
from vms.bounded import shown
from vms.clock import ensure_utc
from vms.db.models import (
    CustodyEvent,
    MediaItem,
    ReleaseItem,
    ReleaseRequest,
)
from vms.errors import Conflict, InvalidArgument, NotFound
from vms.lineage import copies_of, lock_with_copies
from vms.repeats import find_repeat, made_under_key, with_form_key

log = logging.getLogger(__name__)


class _ChangedSinceCheck(Exception):
    """A served item was flagged privacy-sensitive or restricted between the release's
    check and its transaction (ReleaseService.release)."""


# -- the service ------------------------------------------------------------------------


class ReleaseService(ReleaseLog):
    """The workflow of release requests: log, decide, release (the reads:
    :class:`~retention.release_log.ReleaseLog`; the share links:
    :class:`~retention.release_shares.ReleaseShares`)."""

    # -- requests -----------------------------------------------------------------------

    def create(self, actor: Actor, command: NewRelease) -> ReleaseRecord:
        """Log a request; checked whole before anything is written."""
        self.authoriser.require(actor, Action.RELEASES_MANAGE, "releases")
        if command.kind not in KINDS:
            raise InvalidArgument(
                f"kind must be one of {', '.join(KINDS)}, not {shown(command.kind)}",
                field="kind",
            )
        number = required_text("request_number", command.request_number, 64)
        basis = required_text("legal_basis", command.legal_basis, 4000)
        name = required_text("requester.name", command.requester.name, 200)
        received = ensure_utc(command.received_at)
        now = self.clock.now()
        if received > now + dt.timedelta(minutes=5):
            raise InvalidArgument(
                f"received_at {received.isoformat()} is in the future", field="received_at"
            )
        due = ensure_utc(command.due_at) if command.due_at else None
        if due is not None and due < received:
            raise InvalidArgument("due_at must not be before received_at", field="due_at")
        if due is None and command.kind == "foia":
            due = received + dt.timedelta(days=self.config.foia_due_days)  # REL-1
        refs = list(dict.fromkeys(command.items))
        if not refs:
            raise InvalidArgument("items must name at least one export or media id", field="items")
        if len(refs) > MAX_ITEMS:
            raise InvalidArgument(f"items: at most {MAX_ITEMS} per request", field="items")
        doc = (command.document_media_id or "").strip() or None
        if doc is None and command.kind in NEEDS_DOCUMENT:
            raise InvalidArgument(NEEDS_DOCUMENT[command.kind], field="document_media_id")
        resolved = self._checked(actor, command.kind, number, refs, doc)
        release_id = ids.new_id()
        logged = ReleaseRequest(
            id=release_id,
            kind=command.kind,
            request_number=number,
            requester_name=name,
            requester_organization=command.requester.organization,
            requester_contact=command.requester.contact,
            received_at=received,
            legal_basis=basis,
            document_media_id=doc,
            due_at=due,
            state=RECEIVED,
            created_at=now,
            created_by=actor.username,
            secondary_copy=False,
        )
        try:
            return self._create(actor, logged, resolved, now)
        except (_ChangedSinceCheck, UserChanged) as exc:
            # Restricted, flagged or purged since the check above, or the user disabled
            # or given another role (ACC-1): refused as the check refuses it now, by the
            # user as now, the refusal audited now that the transaction is rolled back;
            # else a 409.
            actor = actor_as_now(
                self.db, self.authoriser, actor, Action.RELEASES_MANAGE, "releases"
            )
            self.authoriser.require(actor, Action.RELEASES_MANAGE, "releases")
            self._checked(actor, command.kind, number, refs, doc)
            raise Conflict(
                str(exc)
                if isinstance(exc, UserChanged)
                else f"release request {number!r}: its items changed while it was logged; try again"
            ) from None

    def _checked(
        self, actor: Actor, kind: str, number: str, refs: list[str], doc: str | None
    ) -> list[tuple[str | None, str]]:
        """The (export id, media id) of each of ``refs``, once ``actor`` may put them in a
        request (ACC-7) of ``kind`` (REL-3); refusals audited."""
        with self.db.session() as s:
            if doc is not None and s.get(MediaItem, doc) is None:
                raise InvalidArgument(
                    f"document_media_id: no media item {shown(doc)}", field="document_media_id"
                )
            resolved = [resolve_item(s, ref) for ref in refs]
            sensitive = sensitive_items(s, [m for _, m in resolved])
            served = [(m, facts_of(s.get_one(MediaItem, m))) for _, m in resolved]
        for media_id, item_facts in served:  # ACC-7: a restricted item, administration only
            self.authoriser.require(actor, Action.RELEASES_MANAGE, f"media:{media_id}", item_facts)
        if sensitive and kind != "court_order":  # audited, outside any transaction
            self._refuse_sensitive(actor, "release.create", f"release:{number}", sensitive)
        return resolved

    def _create(
        self,
        actor: Actor,
        logged: ReleaseRequest,
        resolved: list[tuple[str | None, str]],
        now: dt.datetime,
    ) -> ReleaseRecord:
        """File ``logged`` with its ``resolved`` items, checked again on the items held."""
        release_id, due = logged.id, logged.due_at
        media_ids = [m for _, m in resolved]
        # The request's document too (ACC-9): one purged since it was looked up is not
        # filed as the request's written form (RET-13).
        wanted = {*media_ids, *filter(None, [logged.document_media_id])}
        with self.db.transaction() as s:
            # The check before this transaction again, the items held FOR SHARE in id
            # order (as a release holds them, before the user's row and the audit chain):
            # a restriction, flag or purge committed in between is seen, one after waits
            # for the request (ACC-7, REL-3).
            held = select(MediaItem.id).where(MediaItem.id.in_(wanted))
            if lock_rows(s):
                held = held.order_by(MediaItem.id).with_for_update(read=True)
            if set(s.execute(held).scalars()) != wanted or not all(
                self.authoriser.decide(
                    actor, Action.RELEASES_MANAGE, facts_of(s.get_one(MediaItem, m))
                ).allowed
                for m in media_ids
            ):
                raise _ChangedSinceCheck
            sensitive = sensitive_items(s, media_ids)
            if sensitive and logged.kind != "court_order":
                raise _ChangedSinceCheck
            repeat = self._repeat(s, actor, logged, [m for _, m in resolved], now)
            if repeat is not None:
                return repeat
            s.add(logged)
            s.flush()
            for n, (export_id, media_id) in enumerate(resolved, start=1):
                s.add(
                    ReleaseItem(
                        release_id=release_id, position=n, export_id=export_id, media_id=media_id
                    )
                )
            details: dict[str, object] = {
                "id": release_id,
                "kind": logged.kind,
                "media_ids": [m for _, m in resolved],
                "due_at": due.isoformat() if due else None,
            }
            if sensitive:
                details["privacy_override"] = sensitive  # court order (REL-3)
            self.audit.append(
                s, who(actor), "release.create", f"release:{release_id}", details=details
            )
            s.flush()
            return self._record(s, s.get_one(ReleaseRequest, release_id), now)

    def _repeat(
        self,
        s: Session,
        actor: Actor,
        logged: ReleaseRequest,
        media_ids: list[str],
        now: dt.datetime,
    ) -> ReleaseRecord | None:
        """The request ``actor`` logged less than ``REPEAT_WINDOW`` ago with everything
        ``logged`` says and the same items, still ``received``: the log's form sent twice
        (a double-click, a retry), answered with it instead of a second request under
        the same number (ACC-6: logged and audited once). Under a lock of the user's row,
        so two at once find each other (:func:`vms.repeats.find_repeat`)."""
        fields = (
            "kind",
            "request_number",
            "requester_name",
            "requester_organization",
            "requester_contact",
            "received_at",
            "legal_basis",
            "document_media_id",
            "due_at",
        )

        def same(row: ReleaseRequest) -> bool:
            if any(getattr(row, f) != getattr(logged, f) for f in fields):
                return False
            items = s.execute(
                select(ReleaseItem.media_id)
                .where(ReleaseItem.release_id == row.id)
                .order_by(ReleaseItem.position)
            ).scalars()
            return list(items) == media_ids

        row = find_repeat(
            s,
            actor,
            ReleaseRequest,
            ReleaseRequest.request_number == logged.request_number,
            ReleaseRequest.state == RECEIVED,
            now=now,
            same=same,
        )
        return self._record(s, row, now) if row is not None else None

    def _refuse_sensitive(self, actor: Actor, action: str, target: str, items: list[str]) -> None:
        self.authoriser.refuse(
            actor,
            action,
            target,
            f"items {', '.join(items)} are privacy-sensitive: released only as a redacted "
            "derivative (source redacted) unless a court order requires them (REL-3, ACC-11)",
        )

    def review(self, actor: Actor, release_id: str, form_key: str | None = None) -> ReleaseRecord:
        """``received -> in_review``: the records unit has started on it. ``form_key``
        (each step's): the same request sent again is answered as the first was
        (:meth:`_sent_again`, ACC-6), another attempt refused (409)."""
        target = f"release:{release_id}"
        self.authoriser.require(actor, Action.RELEASES_MANAGE, target)
        with refused_as_now_if_changed(
            self.db, self.authoriser, actor, Action.RELEASES_MANAGE, target
        ):
            return self._move(
                actor, release_id, (RECEIVED,), IN_REVIEW, "release.review", None, form_key
            )

    def approve(self, actor: Actor, release_id: str, command: Decision) -> ReleaseRecord:
        return self._decide(actor, release_id, command, APPROVED)

    def deny(self, actor: Actor, release_id: str, command: Decision) -> ReleaseRecord:
        return self._decide(actor, release_id, command, DENIED)

    def _decide(
        self, actor: Actor, release_id: str, command: Decision, state: str
    ) -> ReleaseRecord:
        action = "release.approve" if state == APPROVED else "release.deny"
        target = f"release:{release_id}"
        self.authoriser.require(actor, Action.RELEASES_APPROVE, target)
        reason = required_text("reason", command.reason, 4000)
        with self.db.session() as s:
            row = s.get(ReleaseRequest, release_id)
            if row is None:
                raise NotFound(f"release request {release_id!r} does not exist")
            if self._sent_again(s, actor, row, state, action, reason, command.form_key):
                return self._record(s, row, self.clock.now())
            creator = row.created_by
            media_ids = list(
                s.execute(
                    select(ReleaseItem.media_id).where(ReleaseItem.release_id == release_id)
                ).scalars()
            )
            sensitive = sensitive_items(s, media_ids) if row.kind != "court_order" else []
        if creator == actor.username and not self.config.allow_self_approval:
            self.authoriser.refuse(
                actor,
                action,
                target,
                "you logged this request: another approver must decide it "
                "([releases] allow_self_approval = false, ACC-5)",
            )
        if sensitive and state == APPROVED:
            self._refuse_sensitive(actor, action, target, sensitive)
        with refused_as_now_if_changed(
            self.db, self.authoriser, actor, Action.RELEASES_APPROVE, target
        ):
            return self._move(
                actor,
                release_id,
                (RECEIVED, IN_REVIEW),
                state,
                action,
                reason,
                command.form_key,
            )

    def _sent_again(
        self,
        s: Session,
        actor: Actor,
        row: ReleaseRequest,
        state: str,
        action: str,
        reason: str | None,
        form_key: str | None,
    ) -> bool:
        """Whether ``row`` is ``state`` by ``actor``'s ``action`` made under ``form_key``
        (the page form's one-time key, the API's ``request_id``) with the same reason: the
        same request sent again (a double-click, a retry after a lost answer), to be
        answered with the first answer (ACC-6) while another attempt gets its 409."""
        return (
            row.state == state
            and (reason is None or row.decision_reason == reason)
            and made_under_key(s, actor, action, f"release:{row.id}", form_key)
        )

    def _move(
        self,
        actor: Actor,
        release_id: str,
        sources: tuple[str, ...],
        state: str,
        action: str,
        reason: str | None,
        form_key: str | None,
    ) -> ReleaseRecord:
        now = self.clock.now()
        with self.db.transaction() as s:
            # Locked before its state is read: an approval and a denial (or a retried
            # POST) at once would both see it undecided, and both commit and be audited.
            row = s.get(ReleaseRequest, release_id, with_for_update=lock_rows(s))
            if row is None:
                raise NotFound(f"release request {release_id!r} does not exist")
            if row.state not in sources:
                if self._sent_again(s, actor, row, state, action, reason, form_key):
                    return self._record(s, row, now)  # the other post, committed meanwhile
                raise Conflict(
                    f"release request {row.request_number!r} is {row.state}: "
                    f"it cannot become {state}"
                )
            # The user decided again, held until this commits (ACC-1, ACC-5): disabled
            # or given another role since the check, nothing is decided.
            hold_user(s, actor)
            row.state = state
            if state == APPROVED:  # ACC-7: what the approval covers
                for item in s.execute(
                    select(ReleaseItem).where(ReleaseItem.release_id == release_id)
                ).scalars():
                    served = s.get(MediaItem, item.media_id)
                    item.restricted_at_approval = served is not None and served.restricted
            if reason is not None:
                row.decided_at = now
                row.decided_by = actor.username
                row.decision_reason = reason
            self.audit.append(
                s,
                who(actor),
                action,
                f"release:{release_id}",
                details=with_form_key(
                    {"from": list(sources), "to": state, "reason": reason}, form_key
                ),
            )
            s.flush()
            return self._record(s, row, now)

    def release(self, actor: Actor, release_id: str, form_key: str | None = None) -> ReleaseRecord:
        """``approved -> released``: records the release on every item's custody events;
        an internal-affairs release is recorded as a secondary copy (REL-4). Before
        approval: 409, audited (ACC-5); the same request sent again (``form_key``) is
        answered as the first was (ACC-6)."""
        target = f"release:{release_id}"
        self.authoriser.require(actor, Action.RELEASES_MANAGE, target)
        now = self.clock.now()
        with self.db.session() as s:
            row = s.get(ReleaseRequest, release_id)
            if row is None:
                raise NotFound(f"release request {release_id!r} does not exist")
            if self._sent_again(s, actor, row, RELEASED, "release.release", None, form_key):
                return self._record(s, row, now)
            state, number = row.state, row.request_number
        if state != APPROVED:
            self.refuse_state(actor, "release.release", target, number, state)
        self.still_releasable(actor, "release.release", release_id)
        try:
            return self._release(actor, release_id, number, now, form_key)
        except (_ChangedSinceCheck, UserChanged) as exc:
            # Flagged or restricted since the check above, or the user disabled or given
            # another role (ACC-1): refused as the checks refuse it now, by the user as
            # now, the refusal audited now that the release's transaction is rolled back.
            self.releasable_as_now(actor, "release.release", release_id, exc)
            raise Conflict(
                f"release request {number!r}: its items changed while it was released; try again"
            ) from None

    def _release(
        self,
        actor: Actor,
        release_id: str,
        number: str,
        now: dt.datetime,
        form_key: str | None,
    ) -> ReleaseRecord:
        target = f"release:{release_id}"
        with self.db.transaction() as s:
            # Locked, so two releases at once (a retried POST) are one: the second waits
            # and finds it released (ACC-6: one custody event per item, one audit entry).
            row = s.get_one(ReleaseRequest, release_id, with_for_update=lock_rows(s))
            if row.state != APPROVED:  # raced with another release
                if self._sent_again(s, actor, row, RELEASED, "release.release", None, form_key):
                    return self._record(s, row, now)
                raise Conflict(f"release request {number!r} is {row.state}")
            items = s.execute(
                select(ReleaseItem)
                .where(ReleaseItem.release_id == release_id)
                .order_by(ReleaseItem.position)
            ).scalars()
            media_ids = [i.media_id for i in items]
            # The items still there, held until this commits (in id order, as the purge
            # locks them): an item the purge deleted after a plain read failed the
            # custody event's foreign key (a 500) and the whole release. Held FOR SHARE,
            # so a privacy flag or a restriction waits for the release, and one already
            # committed is seen by the check below (REL-3, ACC-7): the check before this
            # transaction could miss a flag set in between.
            present = select(MediaItem.id).where(MediaItem.id.in_(media_ids))
            if lock_rows(s):
                present = present.order_by(MediaItem.id).with_for_update(read=True)
            there = set(s.execute(present).scalars())
            if (
                row.kind != "court_order" and sensitive_items(s, media_ids)
            ) or restricted_since_approval(s, release_id):
                raise _ChangedSinceCheck
            hold_user(s, actor)  # ACC-1, ACC-5: the user decided again, held until commit
            override = sensitive_items(s, media_ids) if row.kind == "court_order" else []
            ia = row.kind == "internal_affairs"
            row.state = RELEASED
            row.released_at = now
            row.released_by = actor.username
            row.secondary_copy = ia
            for media_id in media_ids:
                if media_id not in there:
                    continue  # purged since; the request keeps its id as history
                details: dict[str, object] = {
                    "release_id": release_id,
                    "request_number": number,
                    "kind": row.kind,
                }
                if media_id in override:
                    details["privacy_override"] = "court order (REL-3)"
                s.add(
                    CustodyEvent(
                        media_id=media_id,
                        at=now,
                        actor=actor.username,
                        action="secondary_copy" if ia else "released",
                        details=details,
                    )
                )
            self.audit.append(
                s,
                who(actor),
                "release.release",
                target,
                details=with_form_key(
                    {"media_ids": media_ids, "secondary_copy": ia, "privacy_override": override},
                    form_key,
                ),
            )
            s.flush()
            return self._record(s, row, now)

    def still_releasable(self, actor: Actor, action: str, release_id: str) -> None:
        """What the approval checked, checked again before a release or a new link (the
        items may have changed since): each served item within the actor's reach (ACC-7:
        a restricted item is administration's, who could otherwise open it through the
        link they made), none flagged privacy-sensitive since unless a court ordered it
        (REL-3, ACC-11), none restricted since (ACC-7). Refusals are 403s, audited."""
        target = f"release:{release_id}"
        with self.db.session() as s:
            row = s.get_one(ReleaseRequest, release_id)
            media_ids = list(
                s.execute(
                    select(ReleaseItem.media_id).where(ReleaseItem.release_id == release_id)
                ).scalars()
            )
            served = [
                (item.id, facts_of(item))
                for item in (s.get(MediaItem, m) for m in media_ids)
                if item is not None  # purged since; the request keeps its id as history
            ]
            sensitive = sensitive_items(s, media_ids) if row.kind != "court_order" else []
            restricted = restricted_since_approval(s, release_id)
        for media_id, item_facts in served:
            self.authoriser.require(actor, Action.RELEASES_MANAGE, f"media:{media_id}", item_facts)
        if sensitive:
            self._refuse_sensitive(actor, action, target, sensitive)
        if restricted:
            self.authoriser.refuse(actor, action, target, restricted_since_reason(restricted))

    def releasable_as_now(self, actor: Actor, action: str, release_id: str, exc: Exception) -> None:
        """The checks of a release or a new link made again after its transaction rolled
        back (refusals are 403s, audited): by the user as now when it was the user that
        changed (:class:`UserChanged`, ACC-1); the caller answers 409 if all pass."""
        if isinstance(exc, UserChanged):
            target = f"release:{release_id}"
            actor = actor_as_now(self.db, self.authoriser, actor, Action.RELEASES_MANAGE, target)
            self.authoriser.require(actor, Action.RELEASES_MANAGE, target)
        self.still_releasable(actor, action, release_id)
        if isinstance(exc, UserChanged):
            raise Conflict(str(exc)) from None

    def refuse_state(self, actor: Actor, action: str, target: str, number: str, state: str) -> None:
        """Refuse ``action`` on request ``number`` in ``state`` (not approved, or no
        longer releasable): Conflict, audited as denied."""
        message = (
            f"release request {number!r} is {state}: it must be approved first (ACC-5)"
            if state in (RECEIVED, IN_REVIEW, DENIED)
            else f"release request {number!r} is {state}"
        )
        self.audit.record(
            self.db, who(actor), action, target, outcome="denied", details={"reason": message}
        )
        raise Conflict(message)

    # -- the privacy flag ----------------------------------------------------------------

    def set_privacy(self, actor: Actor, media_id: str, command: SetPrivacy) -> PrivacyFlag:
        """Flag an item privacy-sensitive (whoever may edit it: ``media.edit`` on the
        item) or clear the flag (``releases.approve``: the chief or designee, since it
        lifts a protection). Audited ``media.privacy`` with a custody event."""
        target = f"media:{media_id}"
        reason = required_text("reason", command.reason, 4000)
        with self.db.session() as s:
            item = s.get(MediaItem, media_id)
            if item is None:
                raise NotFound(f"media item {media_id!r} does not exist")
            item_facts = facts_of(item)
        if command.sensitive:
            self.authoriser.require(actor, Action.MEDIA_EDIT, target, item_facts)
        else:
            self.authoriser.require(actor, Action.RELEASES_APPROVE, target)
        with refused_as_now_if_changed(
            self.db, self.authoriser, actor, Action.RELEASES_APPROVE, target
        ):
            return self._set_privacy(actor, media_id, command, reason)

    def _set_privacy(
        self, actor: Actor, media_id: str, command: SetPrivacy, reason: str
    ) -> PrivacyFlag:
        now = self.clock.now()
        with self.db.transaction() as s:
            # Locked before its flag is read: two flags at once (a retried PUT) are one
            # change, one custody event and one audit entry (ACC-6). With its copies, in
            # id order, before the audit chain: a release holds them in that order.
            if command.sensitive:
                lock_with_copies(s, media_id, through_redacted=False)
            item = s.get(MediaItem, media_id, with_for_update=lock_rows(s))
            if item is None:  # purged since the check above (RET-13)
                raise NotFound(f"media item {media_id!r} does not exist")
            if not command.sensitive:
                # Clearing lifts a protection (REL-3): the user decided again, held until
                # this commits (ACC-1). Setting is not (docs/design/authorisation.md).
                hold_user(s, actor)
            details = {"privacy_sensitive": command.sensitive, "reason": reason}
            if item.privacy_sensitive != command.sensitive:
                self._flag(s, actor, item, command.sensitive, details, now)
            if command.sensitive:
                # ACC-11: its copies (exports) show the same pictures and are flagged with
                # it; a redacted derivative is what REL-3 asks for and stays as it is.
                # Clearing leaves the copies flagged: each is cleared on its own.
                for copy in copies_of(s, media_id, through_redacted=False):
                    if not copy.privacy_sensitive:
                        carried = {**details, "carried_from": media_id}
                        self._flag(s, actor, copy, True, carried, now)
            return PrivacyFlag(media_id, command.sensitive)

    def _flag(
        self,
        s: Session,
        actor: Actor,
        item: MediaItem,
        sensitive: bool,
        details: dict[str, Any],
        now: dt.datetime,
    ) -> None:
        """Set ``item``'s privacy flag, with its custody event and audit entry."""
        item.privacy_sensitive = sensitive
        s.add(
            CustodyEvent(
                media_id=item.id,
                at=now,
                actor=actor.username,
                action="privacy_flag",
                details=details,
            )
        )
        self.audit.append(s, who(actor), "media.privacy", f"media:{item.id}", details=details)
