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
from recorder.stream_limits import Release, StreamLimit
from recorder.webrtc import WhepAnswer, WhepGateway
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.auth.sessions import Credential
from vms.db.engine import Database
from vms.errors import RateLimited


class LiveViews:
    """Live views of the cameras whose previews ``preview`` finds (the engine's)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        authoriser: Authoriser,
        preview: Callable[[str], LivePreview],
        webrtc: WhepGateway,
        mjpeg_per_user: int = 0,
    ) -> None:
        self.db = db
        self.audit = audit
        self.authoriser = authoriser
        self._preview = preview
        self.webrtc = webrtc
        # Each MJPEG stream holds a server thread while it lasts (docs/design/live-view.md).
        self.mjpeg_per_user = mjpeg_per_user
        self.mjpeg = StreamLimit("MJPEG live streams", "[web] max_mjpeg_streams_per_user")

    def open(
        self, actor: Actor, camera_id: str, kind: str, remote_addr: str, *, viewed: bool = True
    ) -> LivePreview:
        """The camera's preview for ``actor``, after the role check; the view is audited
        in a transaction of its own (``live.view``, details ``kind`` and
        ``remote_addr``). NotFound for a camera this engine does not record, before
        anything is audited as viewed. ``viewed=False``: nobody will see the picture (a
        HEAD), so no view is recorded (ACC-6); a refusal still is (INV-4)."""
        target = f"camera:{camera_id}"
        self.authoriser.require(actor, Action.LIVE_VIEW, target)
        preview = self._preview(camera_id)  # 404 before auditing a view of nothing
        if viewed:
            self._audit_view(actor, camera_id, kind, remote_addr)
        return preview

    def open_mjpeg(
        self, actor: Actor, camera_id: str, remote_addr: str
    ) -> tuple[LivePreview, Release]:
        """:meth:`open` for an MJPEG stream, which also takes one of ``actor``'s
        ``[web] max_mjpeg_streams_per_user`` stream slots until the returned function is
        called (when the stream ends). RateLimited (429), audited as a refused view,
        when the actor holds them all."""
        target = f"camera:{camera_id}"
        self.authoriser.require(actor, Action.LIVE_VIEW, target)
        preview = self._preview(camera_id)
        try:
            release = self.mjpeg.acquire(actor.username, self.mjpeg_per_user)
        except RateLimited as exc:
            self._audit_view(actor, camera_id, "mjpeg", remote_addr, refused=exc.message)
            raise
        try:
            self._audit_view(actor, camera_id, "mjpeg", remote_addr)
        except BaseException:
            release()
            raise
        return preview, release

    def _audit_view(
        self,
        actor: Actor,
        camera_id: str,
        kind: str,
        remote_addr: str,
        refused: str | None = None,
        **extra: str,
    ) -> None:
        """The ``live.view`` entry of a view, or of a view refused for ``refused``
        (outcome ``denied``, the reason in the details)."""
        details = {"kind": kind, "remote_addr": remote_addr, **extra}
        if refused is not None:
            details["reason"] = refused
        self.audit.record(
            self.db,
            who(actor),
            "live.view",
            f"camera:{camera_id}",
            outcome="ok" if refused is None else "denied",
            details=details,
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
        (``live.view``, kind ``webrtc``, with the session id). RateLimited (429),
        audited as a refused view, when the actor holds ``[webrtc]
        max_sessions_per_user`` sessions already."""
        self.authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
        try:
            answer = self.webrtc.offer(actor, camera_id, offer_sdp, credential)
        except RateLimited as exc:
            self._audit_view(actor, camera_id, "webrtc", remote_addr, refused=exc.message)
            raise
        self._audit_view(actor, camera_id, "webrtc", remote_addr, session=answer.session_id)
        return answer
