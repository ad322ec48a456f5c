"""The refusal after a check decided again in a writing transaction refused
(docs/design/authorisation.md, item 6).

A service checks an item as read before its transaction, then decides again on the row
the transaction holds (ACC-7: a restriction committed in between; ACC-11: a privacy
flag). No longer allowed there, the transaction rolls back; the refusal cannot be
audited inside it (SQLite has one writer), so :func:`refuse_as_now` reads the item again
outside it and checks as the first check did: a 403 audited as that check audits one,
a 404 if the item is gone, or, allowed again meanwhile, a 409 (try again).
"""

from __future__ import annotations

from typing import NoReturn

from vms.auth.authoriser import Authoriser
from vms.auth.permissions import Action, Actor, facts_of
from vms.db.engine import Database
from vms.db.models import MediaItem
from vms.errors import Conflict, NotFound


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
    ACC-6, INV-4), on item ``media_id`` read again. Gone: :class:`NotFound` with
    ``gone`` (``field="media_id"``); allowed again: :class:`Conflict` with ``changed``
    (and ``field=changed_field`` when given). Called in the ``except`` that caught the
    transaction's refusal; the exceptions raised here do not chain it."""
    with db.session() as s:
        item = s.get(MediaItem, media_id)
        if item is None:
            raise NotFound(gone, field="media_id") from None
        facts = facts_of(item)
    authoriser.require(actor, action, target, facts)
    fields = {} if changed_field is None else {"field": changed_field}
    raise Conflict(changed, **fields) from None
