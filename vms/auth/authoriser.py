"""The one authoriser of the system: every permission check of every package goes here.

The decision itself is the pure table in :mod:`vms.auth.permissions` (no I/O). This
module adds what a refusal needs from the outside world: an audit entry of its own
(INV-4: denials are audited too; ACC-6), written in a transaction of its own because the
refused action did not happen and has no transaction to join. Item-scoped checks pass
the item's facts (:class:`~vms.auth.permissions.ItemFacts`), so the same call decides
"own recordings" (ACC-2), "restricted" (ACC-7) and "supervised officers" (ACC-8).

Services get an :class:`Authoriser` injected (``Services.authoriser``) and call
:meth:`Authoriser.require` before they act; web handlers call it for checks that guard a
page or a stream rather than a service method. See ``docs/design/authorisation.md``.
"""

from __future__ import annotations

from typing import NoReturn

from vms.audit.log import AuditLog, Who
from vms.auth.permissions import (
    DEFAULT_PRIVACY_ROLES,
    Action,
    Actor,
    Decision,
    ItemFacts,
    decide,
)
from vms.db.engine import Database
from vms.db.models import Role
from vms.errors import PermissionDenied


def who(actor: Actor) -> Who:
    """The audited actor of a signed-in user: name and role."""
    return Who(actor.username, actor.role.value)


class Authoriser:
    """Decides with the pure table and audits refusals (ACC-1, INV-4)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        privacy_roles: frozenset[Role] = DEFAULT_PRIVACY_ROLES,
    ) -> None:
        self.db = db
        self.audit = audit
        # ACC-11: who sees a privacy-sensitive item's content ([access] privacy_sensitive_roles).
        self.privacy_roles = privacy_roles

    def decide(self, actor: Actor, action: Action, item: ItemFacts | None = None) -> Decision:
        """The table's decision with this installation's settings (ACC-11's roles);
        nothing audited (see :meth:`allows`)."""
        return decide(actor, action, item, privacy_roles=self.privacy_roles)

    def allows(self, actor: Actor, action: Action, item: ItemFacts | None = None) -> bool:
        """May ``actor`` do ``action`` (to ``item``)? Asks only: nothing is audited, so
        use it to shape what is shown (a menu, a list), never to refuse an action."""
        return self.decide(actor, action, item).allowed

    def require(
        self, actor: Actor, action: Action, target: str, item: ItemFacts | None = None
    ) -> Decision:
        """The decision allowing ``actor`` to do ``action`` to ``target``; otherwise
        :class:`PermissionDenied` with the table's reason, after an audit entry
        ``(actor, action, target, outcome="denied", details={"reason": ...})`` (ACC-1,
        ACC-6, INV-4). ``item``: the facts of a media item, for the item-scoped rules
        (ACC-2, ACC-7, ACC-8); None checks the role alone."""
        decision = self.decide(actor, action, item)
        if not decision.allowed:
            self.refuse(actor, action.value, target, decision.reason)
        return decision

    def refuse(self, actor: Actor, action: str, target: str, reason: str) -> NoReturn:
        """Audit a refusal decided by the caller's own rule and raise
        :class:`PermissionDenied` with ``reason`` (INV-4): for checks the role table does
        not express (an upload belongs to its uploader, RET-3's "received by")."""
        self.audit.record(
            self.db, who(actor), action, target, outcome="denied", details={"reason": reason}
        )
        raise PermissionDenied(reason)
