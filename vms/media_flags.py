"""An item's restricted mark (ACC-7) and critical-incident flag (ACC-2): set or
cleared by who may, with the reason, audited with a custody event (ACC-6). Part of the
catalog (:class:`vms.catalog.Catalog` answers them through :class:`MediaFlags`), kept
in its own module for size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from vms.access import CriticalIncidentChange, review_facts
from vms.auth.decided_again import UserChanged, actor_as_now, hold_user, refuse_as_now
from vms.auth.permissions import Action, Actor, facts_of
from vms.catalog_values import MediaRecord, RestrictionChange
from vms.errors import Conflict, InvalidArgument
from vms.lineage import copies_of, lock_with_copies
from vms.names import load_names
from vms.repeats import made_under_key

if TYPE_CHECKING:
    from vms.catalog import Catalog


class EditNoLongerAllowed(Exception):
    """The item changed between a change's permission check (a tag change, a
    critical-incident flag) and its transaction so that the change is no longer allowed
    (restricted since, ACC-7)."""


class MediaFlags:
    """The restricted mark and the critical-incident flag of the catalog's items."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.db = catalog.db
        self.clock = catalog.clock
        self.authoriser = catalog.authoriser

    def set_restricted(self, actor: Actor, media_id: str, change: RestrictionChange) -> MediaRecord:
        """Mark an item restricted, or clear the mark (ACC-7: admins only; a restricted
        item is then viewed and exported by admins only). Audited with the reason, and a
        custody event on the item; setting what is already set is a 409, but to the same
        request sent again (``change.form_key``, the same reason): answered as the first
        was (ACC-6)."""
        reason = change.reason.strip()
        if not reason:
            raise InvalidArgument(
                "reason is required: say why the item is (un)restricted", field="reason"
            )
        with self.db.session() as s:
            item = self.catalog._load(s, media_id)
        target = f"media:{media_id}"
        self.authoriser.require(actor, Action.MEDIA_RESTRICT, target, facts_of(item))
        try:
            return self._set_restricted(actor, media_id, change, reason)
        except UserChanged as exc:
            # ACC-1: disabled or given another role since the check. Refused as the check
            # on this item refuses the user now (403, audited); still allowed, a 409.
            refuse_as_now(
                self.db,
                self.authoriser,
                actor,
                Action.MEDIA_RESTRICT,
                media_id,
                target=target,
                gone=f"media {media_id!r} does not exist",
                changed=str(exc),
            )

    def _set_restricted(
        self, actor: Actor, media_id: str, change: RestrictionChange, reason: str
    ) -> MediaRecord:
        action = "media.restrict" if change.restricted else "media.unrestrict"
        now = self.clock.now()
        with self.db.transaction() as s:
            if change.restricted:  # with its copies, in id order, as a release holds them
                lock_with_copies(s, media_id)
            item = self.catalog._load(s, media_id, lock=True)
            if not change.restricted:
                # Clearing lifts ACC-7's protection (admins only): the user decided
                # again, after the item's row, held until commit (ACC-1). Setting only
                # adds one, as placing a hold does: not decided again.
                hold_user(s, actor)
            if self._sent_again(s, actor, action, media_id, reason, change.form_key):
                return MediaRecord.of(item, load_names(s, [item])[item.id])
            if item.restricted == change.restricted:
                state = "restricted" if item.restricted else "not restricted"
                raise Conflict(f"media {media_id} is already {state}", field="restricted")
            item.restricted = change.restricted
            s.flush()
            for hook in self.catalog.change_hooks:
                hook(s, item, now)
            custody = "restricted" if change.restricted else "unrestricted"
            details = {"restricted": change.restricted, "reason": reason}
            key = change.form_key
            self.catalog._witnessed(s, actor, media_id, custody, action, now, details, key)
            if change.restricted:
                # ACC-7: the copies made from it (exports, redactions) show the same
                # pictures and are locked with it. Clearing leaves them locked: each is
                # cleared on its own (fail closed).
                for copy in copies_of(s, media_id):
                    if not copy.restricted:
                        copy.restricted = True
                        s.flush()
                        for hook in self.catalog.change_hooks:
                            hook(s, copy, now)
                        carried = {**details, "carried_from": media_id}
                        self.catalog._witnessed(s, actor, copy.id, custody, action, now, carried)
            s.flush()
            return MediaRecord.of(item, load_names(s, [item])[item.id])

    def set_critical_incident(
        self, actor: Actor, media_id: str, change: CriticalIncidentChange
    ) -> MediaRecord:
        """Flag an item as recorded at an incident with death or serious bodily injury, or
        clear the flag (ACC-2: admins, investigators, the officer's supervisor; never the
        recording officer). While set, the officer's own review needs a recorded written
        approval. Audited with the reason and a custody event; 409 when already so, but to
        the same request sent again (``change.form_key``, the same reason): answered as
        the first was (ACC-6)."""
        reason = change.reason.strip()
        if not reason:
            raise InvalidArgument(
                "reason is required: say why the flag is set or cleared", field="reason"
            )
        target = f"media:{media_id}"
        with self.db.session() as s:
            item = self.catalog._load(s, media_id)
            item_facts = review_facts(s, actor, item, self.clock.now())
        self.authoriser.require(actor, Action.MEDIA_CRITICAL, target, item_facts)
        try:
            return self._set_critical(actor, media_id, change, reason)
        except (EditNoLongerAllowed, UserChanged) as exc:
            # Refused as the check refuses it now, by the user as now (ACC-1: disabled or
            # given another role since), audited outside the rolled-back transaction;
            # allowed again meanwhile: a 409.
            actor = actor_as_now(self.db, self.authoriser, actor, Action.MEDIA_CRITICAL, target)
            with self.db.session() as s:
                item_facts = review_facts(
                    s, actor, self.catalog._load(s, media_id), self.clock.now()
                )
            self.authoriser.require(actor, Action.MEDIA_CRITICAL, target, item_facts)
            changed = f"media {media_id} changed while it was flagged; try again"
            raise Conflict(str(exc) if isinstance(exc, UserChanged) else changed) from None

    def _set_critical(
        self, actor: Actor, media_id: str, change: CriticalIncidentChange, reason: str
    ) -> MediaRecord:
        now = self.clock.now()
        with self.db.transaction() as s:
            item = self.catalog._load(s, media_id, lock=True)
            # Allowed on the item as read before this transaction: decided again on the
            # locked row, so a restriction committed in between is not flagged past
            # (ACC-2, ACC-7, ACC-8).
            facts_now = review_facts(s, actor, item, now)
            if not self.authoriser.decide(actor, Action.MEDIA_CRITICAL, facts_now).allowed:
                raise EditNoLongerAllowed
            if not change.critical:
                # Clearing lifts ACC-2's protection (the officer's own review open again
                # without a written approval): the user decided again, not only the item
                # by the role the request was authorised with; held until commit (ACC-1).
                hold_user(s, actor)
            action = "media.critical_incident" if change.critical else "media.critical_cleared"
            if self._sent_again(s, actor, action, media_id, reason, change.form_key):
                return MediaRecord.of(item, load_names(s, [item])[item.id])
            if item.critical_incident == change.critical:
                state = "flagged" if change.critical else "not flagged"
                raise Conflict(
                    f"media {media_id} is already {state} as a critical incident",
                    field="critical_incident",
                )
            item.critical_incident = change.critical
            s.flush()
            custody = "critical_incident_set" if change.critical else "critical_incident_cleared"
            details = {"critical_incident": change.critical, "reason": reason}
            key = change.form_key
            self.catalog._witnessed(s, actor, media_id, custody, action, now, details, key)
            s.flush()
            return MediaRecord.of(item, load_names(s, [item])[item.id])

    def _sent_again(
        self,
        s: Session,
        actor: Actor,
        action: str,
        media_id: str,
        reason: str,
        form_key: str | None,
    ) -> bool:
        """Whether ``actor``'s ``action`` on the item was made under ``form_key`` (the
        page form's one-time key, the API's ``request_id``) with the same reason: the same
        request sent again (a double-click, a retry after a lost answer), answered with
        the item as it is now, nothing changed again (ACC-6); asked on the locked row, so
        two at once find each other. Another request finding the mark as it asks is
        still a 409: its reason would go unrecorded."""
        target = f"media:{media_id}"
        return made_under_key(s, actor, action, target, form_key, asked={"reason": reason})
