"""The refusal after a check decided again in a writing transaction refused
(docs/design/authorisation.md, item 6).

A service checks an item as read before its transaction, then decides again on the row
the transaction holds (ACC-7: a restriction committed in between; ACC-11: a privacy
flag). No longer allowed there, the transaction rolls back; the refusal cannot be
audited inside it (SQLite has one writer), so :func:`refuse_as_now` reads the item again
outside it and checks as the first check did: a 403 audited as that check audits one,
a 404 if the item is gone, or, allowed again meanwhile, a 409 (try again).

The user is decided again too where the writing transaction holds the user's row
anyway (:func:`hold_user`: the repeat check and the pending limits) and in the writes
decided by role alone (a release request's review and decision): disabled, or given
another role, between the request's check and its write (ACC-1), the transaction rolls
back with :class:`UserChanged`, and :func:`actor_as_now` gives the actor the check
outside it is made with (:func:`refuse_user_as_now` for a check of no item).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from vms.auth.authoriser import Authoriser
from vms.auth.permissions import Action, Actor, facts_of
from vms.auth.users import actor_of
from vms.db.engine import Database
from vms.db.models import MediaItem, User
from vms.errors import Conflict, NotFound


class UserChanged(Exception):
    """The acting user was disabled or given another role between the request's check
    and its writing transaction (ACC-1); the message is the 409's, for a user allowed
    again as changed (enabled again, or a role that may do it)."""

    def __init__(self, username: str) -> None:
        super().__init__(f"the account {username!r} changed while the request was made; try again")


def hold_user(s: Session, actor: Actor) -> None:
    """Lock ``actor``'s user row until ``s``'s transaction ends (PostgreSQL; SQLite's
    write transaction serialises anyway; after the item rows, before the audit chain)
    and check that it is still the user the request was authorised as: enabled, with
    the same role. :class:`UserChanged` otherwise (ACC-1): a disable or a role change
    committed in between is seen, one after waits for this write. No row: the command
    line's actor (user id 0), authorised by whoever runs it."""
    row = s.execute(
        select(User.active, User.role).where(User.id == actor.user_id).with_for_update()
    ).first()
    if row is not None and (not row.active or row.role != actor.role.value):
        raise UserChanged(actor.username)


def actor_as_now(
    db: Database, authoriser: Authoriser, actor: Actor, action: Action, target: str
) -> Actor:
    """``actor`` as its user row says now, read outside a rolled-back transaction, for
    the check made again there: with the role (badge, supervised officers) stored now;
    disabled since, ``action`` on ``target`` refused (403, audited; ACC-1, INV-4). No
    row: ``actor`` (the command line's)."""
    with db.session() as s:
        user = s.get(User, actor.user_id)
        now = actor if user is None else actor_of(s, user) if user.active else None
    if now is None:
        authoriser.refuse(
            actor, action.value, target, f"user {actor.username!r} is disabled (ACC-1)"
        )
    return now


def refuse_as_now(
    db: Database,
    authoriser: Authoriser,
    actor: Actor,
    action: Action,
    media_id: str,
    *,
    target: str,
    gone: str,
    changed: str,
    changed_field: str | None = None,
) -> NoReturn:
    """Refuse ``action`` on ``target`` as the check refuses it now (403, audited;
    ACC-6, INV-4), by ``actor`` as its user is now (:func:`actor_as_now`), on item
    ``media_id`` read again. Gone: :class:`NotFound` with ``gone``
    (``field="media_id"``); allowed again: :class:`Conflict` with ``changed`` (and
    ``field=changed_field`` when given). Called in the ``except`` that caught the
    transaction's refusal; the exceptions raised here do not chain it."""
    actor = actor_as_now(db, authoriser, actor, action, target)
    with db.session() as s:
        item = s.get(MediaItem, media_id)
        if item is None:
            raise NotFound(gone, field="media_id") from None
        facts = facts_of(item)
    authoriser.require(actor, action, target, facts)
    fields = {} if changed_field is None else {"field": changed_field}
    raise Conflict(changed, **fields) from None


def refuse_user_as_now(
    db: Database,
    authoriser: Authoriser,
    actor: Actor,
    action: Action,
    target: str,
    changed: UserChanged,
) -> NoReturn:
    """After :class:`UserChanged` rolled a write back: ``action`` on ``target`` (a check
    of no item) refused as it is refused to the user now (403, audited; ACC-1, INV-4),
    else, still allowed as changed, :class:`Conflict` with ``changed``'s message (try
    again). Called in the ``except`` that caught it."""
    now = actor_as_now(db, authoriser, actor, action, target)
    authoriser.require(now, action, target)
    raise Conflict(str(changed)) from None


@contextmanager
def refused_as_now_if_changed(
    db: Database, authoriser: Authoriser, actor: Actor, action: Action, target: str
) -> Iterator[None]:
    """The block (a write holding the user's row, :func:`hold_user`) with its
    :class:`UserChanged` answered by :func:`refuse_user_as_now`: 403 audited, or 409."""
    try:
        yield
    except UserChanged as exc:  # ACC-1: disabled or given another role since the check
        refuse_user_as_now(db, authoriser, actor, action, target, exc)
