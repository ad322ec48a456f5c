"""Opening a camera's live picture for a user (snapshot, MJPEG or WebRTC): the
``live.view`` role check (ACC-1, refusals audited) and the audit entry of every view
(ACC-6).

The pictures themselves are the engine's masked :class:`~recorder.live.LivePreview`
(INV-5) or its WebRTC sessions (:mod:`recorder.webrtc`, the same packets the recording
gets); the web layer only streams what :meth:`LiveViews.open` hands it.
"""

from __future__ import annotations

from collections.abc import Callable

from recorder.live import LivePreview
from recorder.webrtc import WhepAnswer, WhepGateway
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.auth.sessions import Credential
from vms.db.engine import Database


class LiveViews:
    """Live views of the cameras whose previews ``preview`` finds (the engine's)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        authoriser: Authoriser,
        preview: Callable[[str], LivePreview],
        webrtc: WhepGateway,
    ) -> None:
        self.db = db
        self.audit = audit
        self.authoriser = authoriser
        self._preview = preview
        self.webrtc = webrtc

    def open(self, actor: Actor, camera_id: str, kind: str, remote_addr: str) -> LivePreview:
        """The camera's preview for ``actor``, after the role check; the view is audited
        in a transaction of its own (``live.view``, details ``kind`` and
        ``remote_addr``). NotFound for a camera this engine does not record, before
        anything is audited as viewed."""
        target = f"camera:{camera_id}"
        self.authoriser.require(actor, Action.LIVE_VIEW, target)
        preview = self._preview(camera_id)  # 404 before auditing a view of nothing
        self._audit_view(actor, camera_id, kind, remote_addr)
        return preview

    def _audit_view(
        self, actor: Actor, camera_id: str, kind: str, remote_addr: str, **extra: str
    ) -> None:
        self.audit.record(
            self.db,
            who(actor),
            "live.view",
            f"camera:{camera_id}",
            details={"kind": kind, "remote_addr": remote_addr, **extra},
        )

    def open_webrtc(
        self,
        actor: Actor,
        camera_id: str,
        offer_sdp: str,
        credential: Credential | None,
        remote_addr: str,
    ) -> WhepAnswer:
        """A WebRTC (WHEP) session of the camera for ``actor``: the role check first
        (ACC-1, a refusal audited), then the offer (400 with the reason for one that is
        not usable, 404 for a camera not recorded here), then the view is audited
        (``live.view``, kind ``webrtc``, with the session id)."""
        self.authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
        answer = self.webrtc.offer(actor, camera_id, offer_sdp, credential)
        self._audit_view(actor, camera_id, "webrtc", remote_addr, session=answer.session_id)
        return answer
