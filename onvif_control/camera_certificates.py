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
from urllib.parse import urlsplit

from onvif_control.adapter.parsers import onvif_endpoint
from onvif_control.camera_records import CameraDetail, camera_detail, camera_row
from onvif_control.cameras import target
from onvif_control.connections import Connections
from onvif_control.tls_pins import format_fingerprint, parse_fingerprint
from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import Camera
from vms.errors import Conflict, FailedPrecondition, InvalidArgument, VMSError
from vms.media.rtsps import RTSPS_DEFAULT_PORT, endpoint
from vms.urls import redact_credentials

log = logging.getLogger(__name__)

# The ports whose certificate is pinned: the ONVIF side's (https) and the rtsps stream's.
PORTS = ("onvif", "rtsp")


class CameraCertificates:
    """Replaces a camera's certificate pin (its ONVIF side's or its rtsps stream's), with
    the admin's check (ACC-6)."""

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

    def accept(
        self,
        actor: Actor | None,
        camera_id: str,
        fingerprint: str,
        port: str = "onvif",
        *,
        by: Who | None = None,
    ) -> CameraDetail:
        """Pin the certificate a camera now presents (``POST
        /api/v1/cameras/{id}/certificate``, admin) on ``port``: ``onvif``, its https
        ONVIF side, or ``rtsp``, the port of its ``rtsps`` main stream (a pin of its own,
        for a camera that presents another certificate there than on https): after a
        renewal, or a camera replaced, that was reported as "certificate changed".
        ``fingerprint`` is the one the admin was shown (and checked on the camera): the
        camera must present exactly it on that port now, or Conflict naming what it
        presents, nothing changed; an admin never pins a certificate unseen. Audited with
        the port, before and after (ACC-6), refusals too; the certificate already
        pinned there (the accept sent again) is answered with the camera, not audited
        again. ``actor`` None: the CLI's ``vms camera accept-certificate``, acting as
        ``by`` (the OS user who runs it, audited as such, as the CLI's other writes are)."""
        action, where = "camera.certificate.accept", target(camera_id)
        if actor is not None:
            decision = self.authoriser.decide(actor, Action.CAMERAS_MANAGE)
            if not decision.allowed:
                self.authoriser.refuse(actor, action, where, decision.reason)
            by = who(actor)
        assert by is not None, "accept needs an actor or, from the CLI, by"
        actor_who = by
        if port not in PORTS:
            raise InvalidArgument(f"port {port!r} is not one of {', '.join(PORTS)}", field="port")
        wanted = format_fingerprint(parse_fingerprint(fingerprint))
        with self.db.session() as s:
            camera = camera_row(s, camera_id)
            name, url, before = camera.name, _url(camera, port), _pin(camera, port)
            ca_pem = camera.tls_ca_pem

        def failed(message: str) -> None:
            self.audit.record(
                self.db,
                actor_who,
                action,
                where,
                outcome="failed",
                details={
                    "name": name,
                    "port": port,
                    "before": before,
                    "offered": wanted,
                    "error": message,
                },
            )

        try:
            host, tcp_port = _endpoint(name, port, url, ca_pem)
            seen = format_fingerprint(self.connections.run(self._presented(host, tcp_port)))
        except VMSError as exc:
            failed(exc.message)
            raise
        if seen != wanted:
            message = (
                f"camera {name} presents the certificate {seen} on its {port} port, not "
                f"{wanted}: check the camera's fingerprint again; nothing was changed"
            )
            failed(message)
            raise Conflict(message, presented=seen)
        try:
            with self.db.transaction() as s:
                camera = camera_row(s, camera_id, lock=True)
                if _url(camera, port) != url:
                    message = f"camera {name} got a new address meanwhile: read it again and retry"
                    raise Conflict(message)
                if _pin(camera, port) == wanted and (
                    port != "rtsp" or camera.rtsp_tls_endpoint == endpoint(host, tcp_port)
                ):
                    # Pinned already (the accept sent twice, a retry after a lost answer):
                    # answered with the camera; the change was made and audited once (ACC-6).
                    # A stream pin at another place is a move, accepted as such (design 9).
                    return camera_detail(camera)
                place: dict[str, str | None] = {}
                if port == "rtsp":
                    # The pin belongs to the host and port it was checked at (design 9).
                    place = {"before_endpoint": camera.rtsp_tls_endpoint}
                    camera.rtsp_tls_fingerprint = wanted
                    camera.rtsp_tls_endpoint = place["endpoint"] = endpoint(host, tcp_port)
                else:
                    camera.tls_fingerprint = wanted
                camera.updated_at = self.clock.now()
                self.audit.append(
                    s,
                    actor_who,
                    action,
                    where,
                    details={
                        "name": name,
                        "port": port,
                        "before": before,
                        "after": wanted,
                        **place,
                    },
                )
                out = camera_detail(camera)
        except VMSError as exc:
            # Refused after the certificate was read (the camera got another address or
            # was removed meanwhile): audited as the other refusals are (ACC-6), once
            # the transaction has let go of the camera's row.
            failed(exc.message)
            raise
        if port == "onvif":
            self.connections.forget(camera_id)  # the next use connects with the new pin
        # The recorder's next registry round restarts an rtsps stream with a new pin.
        log.info("camera %s: %s certificate pin %s -> %s", name, port, before, wanted)
        return out

    async def _presented(self, host: str, port: int) -> bytes:
        from onvif_control.adapter.faults import translate
        from onvif_control.adapter.tls import peer_fingerprint

        try:
            return await peer_fingerprint(host, port, self.timeout)
        except Exception as exc:
            raise translate(exc, host, "TLS handshake", self.timeout) from None


def _url(camera: Camera, port: str) -> str:
    """Where the certificate of ``port`` is presented: the ONVIF URL or the main stream's."""
    return (camera.main_stream_uri or "") if port == "rtsp" else camera.onvif_url


def _pin(camera: Camera, port: str) -> str | None:
    return camera.rtsp_tls_fingerprint if port == "rtsp" else camera.tls_fingerprint


def _endpoint(name: str, port: str, url: str, ca_pem: str | None) -> tuple[str, int]:
    """(host, port) whose certificate is pinned; FailedPrecondition when the camera has
    no pin to replace there (a CA bundle, http, a plain rtsp stream)."""
    if ca_pem is not None:
        raise FailedPrecondition(
            f"camera {name} is verified by its CA bundle: it has no pin to replace"
        )
    if port == "rtsp":
        try:
            parts = urlsplit(url)
            tcp_port = parts.port
        except ValueError as exc:  # a row stored before such answers were refused
            raise FailedPrecondition(
                f"camera {name}'s main stream {redact_credentials(url)[:200]!r} cannot be "
                f"connected to ({exc}): read the camera again (PATCH) to store its stream"
            ) from None
        if parts.scheme.lower() != "rtsps" or not parts.hostname:
            raise FailedPrecondition(
                f"camera {name}'s main stream is not rtsps: it has no certificate to pin on "
                "its rtsp port"
            )
        return parts.hostname, tcp_port or RTSPS_DEFAULT_PORT
    scheme, host, tcp_port = onvif_endpoint(url)
    if scheme != "https":
        raise FailedPrecondition(
            f"camera {name} is spoken to over http: it has no certificate to pin"
        )
    return host, tcp_port
