"""A media node's internal API (issue 13.2; docs/design/internal-api.md): the listener of
a process that runs the media role without the web app (``vms serve --role media``).

It serves ``/healthz``, ``/readyz`` and ``/metrics`` as every role does, and the camera
live routes a web process forwards (:data:`web.nodes.FORWARDED`: snapshots, MJPEG, WHEP,
PTZ) under the same paths as the public API, run by the same handlers. Nothing else: any
other path is 404. Each forwarded request must carry

- the cluster's internal token (``Authorization: Bearer``, compared in constant time):
  otherwise 403 with :data:`web.nodes.REFUSED_HEADER`, logged, so the web process
  answers 503 naming a misconfigured node rather than signing the user out;
- the caller's credential digest (``X-VMS-Credential``): the user is authenticated again
  here from the shared database; revoked, expired or disabled gives 401. The handlers
  then see the same actor and credential as in the web process, so role checks, PTZ
  arbitration, audit and stream guards are the in-process ones (INV-6, ACC-1, ACC-6).

A path value with a NUL character is 404 naming it, as on the public app
(:func:`web.hardening.refuse_nul_in_path`). A camera this node does not hold (handed
over a moment ago) gives 503: a forwarded request is never forwarded again. The
listener is werkzeug's threaded server with the web role's quiet request handler: its
clients are the deployment's web processes.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import socket
import threading

from flask import Flask, Response, g, jsonify, request
from werkzeug.serving import make_server

from recorder.engine import Recorder
from vms.errors import NotFound, Unauthenticated, Unavailable
from vms.leases import camera_owner
from vms.services import Services
from web import limits, ops
from web.api import live as live_api
from web.api import ptz as ptz_api
from web.app import install_error_handlers
from web.hardening import QuietRequestHandler, refuse_nul_in_path
from web.nodes import CREDENTIAL_HEADER, FORWARDED, REFUSED_HEADER, REMOTE_HEADER, internal_token
from web.vms_app import VmsApp

log = logging.getLogger(__name__)


def create_internal_app(services: Services) -> Flask:
    app = VmsApp(__name__, services)
    app.config.update(TESTING=False, JSON_SORT_KEYS=False)
    limits.install(app, services.config.web)
    app.register_blueprint(live_api.bp, url_prefix="/api/v1")
    app.register_blueprint(ptz_api.bp, url_prefix="/api/v1")
    app.register_blueprint(ops.bp)
    install_error_handlers(app)
    token = internal_token(services).encode()
    recorder = services.ports.find(Recorder)

    @app.before_request
    def _internal_caller() -> Response | None:
        if request.blueprint == ops.bp.name:  # health and metrics: as on every role
            return None
        if request.endpoint not in FORWARDED:
            raise NotFound(
                f"a media node serves /healthz, /readyz, /metrics and the internal API's "
                f"camera routes, not {request.method} {request.path}"
            )
        sent = request.headers.get("Authorization", "")
        bearer = sent[7:].strip().encode() if sent.lower().startswith("bearer ") else b""
        if not hmac.compare_digest(bearer, token):
            log.warning(
                "internal API: %s %s from %s without the internal token",
                request.method,
                request.path,
                request.remote_addr,
            )
            refused = jsonify(
                {
                    "error": {
                        "kind": "permission_denied",
                        "message": "the internal API needs the cluster's internal token",
                    }
                }
            )
            refused.status_code = 403
            refused.headers[REFUSED_HEADER] = "token"
            return refused
        kind, _, digest = request.headers.get(CREDENTIAL_HEADER, "").partition(":")
        found = services.users.authenticate_credential(kind, digest) if digest else None
        if found is None:
            raise Unauthenticated("the session or token is unknown, revoked or expired")
        g.actor, g.credential, g.auth_kind = found.actor, found.credential, kind
        remote = request.headers.get(REMOTE_HEADER, "")
        with contextlib.suppress(ValueError):  # not an address: the web process's stays
            request.environ["REMOTE_ADDR"] = str(ipaddress.ip_address(remote))
        # As on the public app: a path value with a NUL is a 404 naming it before any
        # look-up (PostgreSQL holds no NUL in a text value; ACC-6's audit neither).
        refuse_nul_in_path()
        camera_id = str((request.view_args or {}).get("camera_id", ""))
        if recorder is None or not recorder.running:
            raise Unavailable("no media engine runs in this process")
        ownership = recorder.ownership
        if ownership is not None and (
            camera_id not in ownership.tokens
            # The lease row too: this node learns of a takeover only at its next round
            # (it stalled past its lease), and must not steer a camera it lost (INV-9).
            or camera_owner(services.db, services.clock, camera_id).node_id != ownership.node_id
        ):
            raise Unavailable(
                f"camera {camera_id!r} is not recorded on media node {ownership.node_id!r} "
                "now (handed over): try again"
            )
        return None

    return app


class NodeListener:
    """The node's HTTP listener: health, metrics and the internal API."""

    def __init__(self, services: Services, host: str, port: int) -> None:
        self.services = services
        self.app = create_internal_app(services)
        self.server = make_server(
            host, port, self.app, threaded=True, request_handler=QuietRequestHandler
        )
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        """Where web processes reach it: ``[cluster] internal_url``, or this listener's
        own address (the host name when it listens on every address)."""
        configured = self.services.config.cluster.internal_url
        if configured:
            return configured
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="node-listener", daemon=True
        )
        self._thread.start()
        recorder = self.services.ports.find(Recorder)
        if recorder is not None and recorder.ownership is not None:
            # Announced with the node's next heartbeat (recorder/ownership.py).
            recorder.ownership.internal_url = self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
