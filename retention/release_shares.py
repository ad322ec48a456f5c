"""Share links of release requests (issue 16, item 8; docs/design/releases.md): made
and revoked here by the records unit (``releases.manage``), for an approved or released
request only, with what the approval checked checked again (:mod:`retention.releases`).
A link is a random 256-bit token, only its SHA-256 stored; what an outsider holding one
may see and download is :mod:`retention.share_links`.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from retention.expiry import lock_rows
from retention.release_checks import (
    SHAREABLE,
    restricted_since_approval,
    sensitive_items,
    token_hash,
)
from retention.release_values import NewShare, SharedLink, ShareRecord
from retention.releases import ReleaseService
from vms import ids
from vms.auth.authoriser import who
from vms.auth.decided_again import UserChanged, hold_user
from vms.auth.permissions import Action, Actor
from vms.clock import ensure_utc
from vms.db.models import MediaItem, ReleaseItem, ReleaseRequest, ShareLink
from vms.errors import Conflict, InvalidArgument, NotFound


class _ChangedSinceCheck(Exception):
    """A served item was flagged privacy-sensitive or restricted between the share's
    check and its transaction (ReleaseShares.share)."""


class ReleaseShares:
    """Makes and revokes the share links of ``releases``' requests, with its checks."""

    def __init__(self, releases: ReleaseService) -> None:
        self.releases = releases
        self.db = releases.db
        self.audit = releases.audit
        self.clock = releases.clock
        self.authoriser = releases.authoriser
        self.config = releases.config

    def share(self, actor: Actor, release_id: str, command: NewShare) -> SharedLink:
        target = f"release:{release_id}"
        self.authoriser.require(actor, Action.RELEASES_MANAGE, target)
        now = self.clock.now()
        expires = ensure_utc(command.expires_at)
        if expires <= now:
            raise InvalidArgument("expires_at must be in the future", field="expires_at")
        if expires > now + dt.timedelta(days=self.config.share_max_days):
            raise InvalidArgument(
                f"expires_at: at most {self.config.share_max_days} days from now "
                "([releases] share_max_days)",
                field="expires_at",
            )
        if not 1 <= command.max_downloads <= self.config.share_max_downloads:
            raise InvalidArgument(
                f"max_downloads must be 1..{self.config.share_max_downloads}, not "
                f"{command.max_downloads}",
                field="max_downloads",
            )
        with self.db.session() as s:
            row = s.get(ReleaseRequest, release_id)
            if row is None:
                raise NotFound(f"release request {release_id!r} does not exist")
            state, number = row.state, row.request_number
        if state not in SHAREABLE:
            self.releases.refuse_state(actor, "release.share", target, number, state)
        self.releases.still_releasable(actor, "release.share", release_id)
        try:
            return self._share(actor, release_id, command, expires, now)
        except IntegrityError:
            # The same form's key posted twice at once: the other post made the link
            # (its primary key) while this one waited; else not ours to answer.
            if command.link_id is None:
                raise
            with self.db.session() as s:
                made = s.get(ShareLink, command.link_id)
                if made is None:
                    raise
                raise _sent_again(made, actor, release_id, command) from None
        except (_ChangedSinceCheck, UserChanged) as exc:
            # Flagged or restricted since the check above, or the user changed (ACC-1):
            # refused as the checks refuse it now, audited.
            self.releases.releasable_as_now(actor, "release.share", release_id, exc)
            raise Conflict(
                f"release request {number!r}: its items changed while the link was made; try again"
            ) from None

    def _share(
        self,
        actor: Actor,
        release_id: str,
        command: NewShare,
        expires: dt.datetime,
        now: dt.datetime,
    ) -> SharedLink:
        target = f"release:{release_id}"
        token = secrets.token_urlsafe(32)  # 256 bits
        link_id = command.link_id or ids.new_id()
        with self.db.transaction() as s:
            made = s.get(ShareLink, link_id) if command.link_id else None
            if made is not None:  # sent again: nothing made, nothing audited
                raise _sent_again(made, actor, release_id, command)
            # The check before this transaction again, the items held FOR SHARE in id
            # order (as the release holds them): a flag or restriction committed in
            # between is seen, one after waits for the link (REL-3, ACC-7).
            row = s.get_one(ReleaseRequest, release_id)
            media_ids = list(
                s.execute(
                    select(ReleaseItem.media_id).where(ReleaseItem.release_id == release_id)
                ).scalars()
            )
            held = select(MediaItem.id).where(MediaItem.id.in_(media_ids))
            if lock_rows(s):
                held = held.order_by(MediaItem.id).with_for_update(read=True)
            s.execute(held)
            if (
                row.kind != "court_order" and sensitive_items(s, media_ids)
            ) or restricted_since_approval(s, release_id):
                raise _ChangedSinceCheck
            hold_user(s, actor)  # ACC-1, ACC-5: the user decided again, held until commit
            link = ShareLink(
                id=link_id,
                release_id=release_id,
                token_sha256=token_hash(token),
                created_at=now,
                created_by=actor.username,
                expires_at=expires,
                max_downloads=command.max_downloads,
                downloads=0,
            )
            s.add(link)
            s.flush()  # a link made under the same id meanwhile: IntegrityError, here
            self.audit.append(
                s,
                who(actor),
                "release.share",
                target,
                details={
                    "link_id": link_id,
                    "expires_at": expires.isoformat(),
                    "max_downloads": command.max_downloads,
                },
            )
            s.flush()
            return SharedLink(ShareRecord.of(link), token)

    def revoke(self, actor: Actor, release_id: str, link_id: str) -> ShareRecord:
        target = f"release:{release_id}"
        self.authoriser.require(actor, Action.RELEASES_MANAGE, target)
        now = self.clock.now()
        with self.db.transaction() as s:
            # Locked: of two revocations at once one revokes and is audited; the other
            # finds it revoked (ACC-6).
            link = s.get(ShareLink, link_id, with_for_update=lock_rows(s))
            if link is None or link.release_id != release_id:
                raise NotFound(f"share link {link_id!r} of release {release_id!r} does not exist")
            if link.revoked_at is None:
                link.revoked_at = now
                link.revoked_by = actor.username
                self.audit.append(
                    s, who(actor), "release.share.revoke", target, details={"link_id": link_id}
                )
            s.flush()
            return ShareRecord.of(link)


def _sent_again(made: ShareLink, actor: Actor, release_id: str, command: NewShare) -> Conflict:
    """The share asked again with the id that made ``made`` (the page's form key, or an
    API client's ``link_id``): its address was in the first answer only (only its hash is
    stored), which may have been lost; the user is told, to revoke it if nobody received
    it (REL-1). An id another user or release made is only said to be taken."""
    if made.release_id != release_id or made.created_by != actor.username:
        return Conflict(f"share link id {made.id!r} is taken: choose another")
    first = "this form was already submitted: it made" if command.from_form else "already made:"
    where = (
        "below" if command.from_form else f"(DELETE /api/v1/releases/{release_id}/share/{made.id})"
    )
    return Conflict(
        f"{first} share link {made.id} at {made.created_at.isoformat()} by "
        f"{made.created_by}; its address was shown once, in the answer to the first "
        f"request. If nobody received it, revoke that link {where} and create another."
    )
