"""Opening a camera's live picture for a user (snapshot or MJPEG): the ``live.view`` role
check (ACC-1, refusals audited) and the audit entry of every view (ACC-6).

The pictures themselves are the engine's masked :class:`~recorder.live.LivePreview`
(INV-5); the web layer only streams what :meth:`LiveViews.open` hands it.
"""

from __future__ import annotations

from collections.abc import Callable

from recorder.live import LivePreview
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.db.engine import Database


class LiveViews:
    """Live views of the cameras whose previews ``preview`` finds (the engine's)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        authoriser: Authoriser,
        preview: Callable[[str], LivePreview],
    ) -> None:
        self.db = db
        self.audit = audit
        self.authoriser = authoriser
        self._preview = preview

    def open(self, actor: Actor, camera_id: str, kind: str, remote_addr: str) -> LivePreview:
        """The camera's preview for ``actor``, after the role check; the view is audited
        in a transaction of its own (``live.view``, details ``kind`` and
        ``remote_addr``). NotFound for a camera this engine does not record, before
        anything is audited as viewed."""
        target = f"camera:{camera_id}"
        self.authoriser.require(actor, Action.LIVE_VIEW, target)
        preview = self._preview(camera_id)  # 404 before auditing a view of nothing
        self.audit.record(
            self.db,
            who(actor),
            "live.view",
            target,
            details={"kind": kind, "remote_addr": remote_addr},
        )
        return preview
