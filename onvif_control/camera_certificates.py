"""Accepting a camera's new certificate (docs/design/security.md, "Camera certificates",
design 4): after a renewal, or a camera replaced, that the health check reported as
"certificate changed", an admin pins the certificate the camera presents now, and only if
it is the one they were shown (``POST /api/v1/cameras/{id}/certificate``). The pin itself
is taken at onboarding (:mod:`onvif_control.cameras`), written and read as
:mod:`onvif_control.tls_pins` says and checked on every connection
(:mod:`onvif_control.adapter.tls`).
"""

from __future__ import annotations

import logging

from onvif_control.adapter.parsers import onvif_endpoint
from onvif_control.camera_records import CameraDetail, camera_detail, camera_row
from onvif_control.cameras import target
from onvif_control.connections import Connections
from onvif_control.tls_pins import format_fingerprint, parse_fingerprint
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.clock import Clock
from vms.db.engine import Database
from vms.errors import Conflict, FailedPrecondition, VMSError

log = logging.getLogger(__name__)


class CameraCertificates:
    """Replaces an https camera's certificate pin, with the admin's check (ACC-6)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        connections: Connections,
        timeout: float,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.connections = connections
        self.timeout = timeout

    def accept(self, actor: Actor, camera_id: str, fingerprint: str) -> CameraDetail:
        """Pin the certificate an https camera now presents (``POST
        /api/v1/cameras/{id}/certificate``, admin): after a renewal, or a camera
        replaced, that the health check reported as "certificate changed". ``fingerprint``
        is the one the admin was shown (and checked on the camera): the camera must
        present exactly it now, or Conflict naming what it presents, nothing changed;
        an admin never pins a certificate unseen. Audited with before and after (ACC-6),
        refusals too."""
        action, where = "camera.certificate.accept", target(camera_id)
        decision = self.authoriser.decide(actor, Action.CAMERAS_MANAGE)
        if not decision.allowed:
            self.authoriser.refuse(actor, action, where, decision.reason)
        wanted = format_fingerprint(parse_fingerprint(fingerprint))
        with self.db.session() as s:
            camera = camera_row(s, camera_id)
            name, url, before = camera.name, camera.onvif_url, camera.tls_fingerprint
            ca_pem = camera.tls_ca_pem
        scheme, host, port = onvif_endpoint(url)

        def failed(message: str) -> None:
            self.audit.record(
                self.db,
                who(actor),
                action,
                where,
                outcome="failed",
                details={"name": name, "before": before, "offered": wanted, "error": message},
            )

        if scheme != "https" or ca_pem is not None:
            message = (
                f"camera {name} is verified by its CA bundle: it has no pin to replace"
                if ca_pem is not None
                else f"camera {name} is spoken to over http: it has no certificate to pin"
            )
            failed(message)
            raise FailedPrecondition(message)
        try:
            seen = format_fingerprint(self.connections.run(self._presented(host, port)))
        except VMSError as exc:
            failed(exc.message)
            raise
        if seen != wanted:
            message = (
                f"camera {name} presents the certificate {seen}, not {wanted}: check the "
                "camera's fingerprint again; nothing was changed"
            )
            failed(message)
            raise Conflict(message, presented=seen)
        with self.db.transaction() as s:
            camera = camera_row(s, camera_id, lock=True)
            if camera.onvif_url != url:
                message = f"camera {name} got a new address meanwhile: read it again and retry"
                raise Conflict(message)
            camera.tls_fingerprint = wanted
            camera.updated_at = self.clock.now()
            self.audit.append(
                s,
                who(actor),
                action,
                where,
                details={"name": name, "before": before, "after": wanted},
            )
            out = camera_detail(camera)
        self.connections.forget(camera_id)  # the next use connects with the new pin
        log.info("camera %s: certificate pin %s -> %s", name, before, wanted)
        return out

    async def _presented(self, host: str, port: int) -> bytes:
        from onvif_control.adapter.faults import translate
        from onvif_control.adapter.tls import peer_fingerprint

        try:
            return await peer_fingerprint(host, port, self.timeout)
        except Exception as exc:
            raise translate(exc, host, "TLS handshake", self.timeout) from None
