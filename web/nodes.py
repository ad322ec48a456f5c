"""The web role's side of the internal API (issue 13.2; docs/design/internal-api.md):
which media node serves a camera, and forwarding a live-video or PTZ request to it.

With ``[cluster] camera_ownership`` on, each camera is recorded, polled and steered by
the one media node that holds its lease (``recorder/ownership.py``). A web process
answers the camera's live routes (:data:`FORWARDED`) itself only when it runs that node
(``--role all``); otherwise it authenticates the caller (session with CSRF, or bearer
token), then passes the request as it came to the node's internal API with

- ``Authorization: Bearer`` the cluster's internal token (``secrets/internal-api.key``,
  the same file on every node), which proves the request comes from a web process;
- ``X-VMS-Credential: <session|token>:<digest>``, the stored digest of the caller's
  session or token: the node authenticates the user again from the shared database, so
  it runs the same role checks, arbitration and audit as an in-process call (INV-6,
  ACC-1, ACC-6), and a revoked credential ends a stream on the node too;
- ``X-VMS-Remote-Addr``, the caller's address for the audit.

A node that is not reachable, too slow (``[cluster] internal_timeout_seconds``) or
refuses the internal token gives **503 naming the node and why**, never a hang. With
ownership off, the one media process serves every camera and nothing is forwarded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from flask import Flask, Response, request

from recorder.engine import Recorder
from vms.auth.permissions import Action, Actor
from vms.auth.sessions import Credential
from vms.errors import NotFound, Unavailable
from vms.leases import camera_owner
from vms.secrets import load_or_create_key
from vms.services import Services
from web import security

log = logging.getLogger(__name__)

TOKEN_FILE = "internal-api.key"  # noqa: S105 (a file name, not a secret)
CREDENTIAL_HEADER = "X-VMS-Credential"
REMOTE_HEADER = "X-VMS-Remote-Addr"
# Set by a node on its answer when it refused the internal token (not the user's).
REFUSED_HEADER = "X-VMS-Internal-Refused"
NODE_HEADER = "X-VMS-Media-Node"  # which node answered a forwarded request

# The routes of a camera that need its media node: live pictures, WHEP and PTZ.
FORWARDED = frozenset(
    {
        "live_api.snapshot",
        "live_api.live_mjpeg",
        "live_api.whep_offer",
        "live_api.whep_end",
        "ptz_api.open_session",
        "ptz_api.current_session",
        "ptz_api.close_session",
        "ptz_api.command",
        "ptz_api.status",
    }
)
STREAMED = frozenset({"live_api.live_mjpeg"})
# What of the client's request and of the node's answer passes through.
REQUEST_HEADERS = ("Content-Type", "Accept")
ANSWER_HEADERS = ("Content-Type", "Location", "Cache-Control", "Retry-After")


def internal_token(services: Services) -> str:
    """The cluster's internal token (hex), created in the secrets folder if absent.
    Every node and web process of a deployment must read the same file."""
    return load_or_create_key(services.config.secrets_dir, TOKEN_FILE).hex()


@dataclass(frozen=True)
class NodeTarget:
    node_id: str
    url: str


class MediaRouter:
    """Finds a camera's media node and forwards requests to it (one per web app)."""

    def __init__(self, services: Services, recorder: Recorder | None) -> None:
        self.services = services
        self.recorder = recorder
        cluster = services.config.cluster
        self.enabled = cluster.camera_ownership
        self.timeout = cluster.internal_timeout_seconds
        self._token: str | None = None
        self._client: httpx.Client | None = None

    # -- where -------------------------------------------------------------------------

    def local_node(self) -> str | None:
        """This process's media node id, when it runs the media role with ownership."""
        rec = self.recorder
        if rec is None or not rec.running or rec.ownership is None:
            return None
        return rec.ownership.node_id

    def target(self, actor: Actor, camera_id: str) -> NodeTarget | None:
        """The node to forward ``camera_id``'s live routes to; None: serve them here.
        Without a live holder: the caller's right to watch cameras is checked first
        (audited when refused: nothing about the camera is told to someone who may not
        watch it), then 404 for a camera not registered, 503 for one between nodes."""
        if not self.enabled:
            return None
        owner = camera_owner(self.services.db, self.services.clock, camera_id)
        if owner.node_id is not None and owner.node_id == self.local_node():
            return None
        if owner.node_id is None or not owner.internal_url:
            self.services.authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
            if not owner.registered:
                raise NotFound(f"camera {camera_id!r} is not registered")
            if owner.node_id is None:
                raise Unavailable(
                    f"camera {camera_id!r} has no live media node now (its lease is free "
                    "or expired: the camera is moving to another node, or none is running); "
                    "try again in a few seconds"
                )
            raise Unavailable(
                f"media node {owner.node_id!r}, which records camera {camera_id!r}, has not "
                "announced its internal URL yet ([cluster] internal_url)"
            )
        return NodeTarget(owner.node_id, owner.internal_url.rstrip("/"))

    # -- how ---------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment between our own nodes
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=20),
            )
        return self._client

    def headers(self, credential: Credential, remote: str) -> dict[str, str]:
        if self._token is None:
            self._token = internal_token(self.services)
        return {
            "Authorization": f"Bearer {self._token}",
            CREDENTIAL_HEADER: f"{credential.kind}:{credential.digest}",
            REMOTE_HEADER: remote,
        }

    def send(
        self,
        target: NodeTarget,
        camera_id: str,
        method: str,
        path: str,
        *,
        credential: Credential,
        remote: str,
        content: bytes = b"",
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request to the node; the answer read unless ``stream``. Every
        failure to get an answer is :class:`Unavailable` naming the node."""
        sent = {**(headers or {}), **self.headers(credential, remote)}
        req = self.client.build_request(method, target.url + path, content=content, headers=sent)
        try:
            answer = self.client.send(req, stream=stream)
        except httpx.TimeoutException:
            raise self._down(target, camera_id, f"no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            log.warning("media node %s at %s: %s", target.node_id, target.url, exc)
            raise self._down(target, camera_id, _reason(exc)) from None
        if answer.headers.get(REFUSED_HEADER):
            answer.close()
            log.error(
                "media node %s at %s refused this process's internal token: is "
                "secrets/%s the same file on every node?",
                target.node_id,
                target.url,
                TOKEN_FILE,
            )
            raise self._down(target, camera_id, "it refused this web process's internal token")
        return answer

    @staticmethod
    def _down(target: NodeTarget, camera_id: str, why: str) -> Unavailable:
        return Unavailable(f"media node {target.node_id!r} of camera {camera_id!r}: {why}")

    def forward(self, target: NodeTarget, camera_id: str, credential: Credential) -> Response:
        """The current Flask request, passed to ``target``; its answer as a response
        (streamed for MJPEG: the node's stream guard ends it when the credential goes)."""
        stream = request.endpoint in STREAMED
        path = request.full_path if request.query_string else request.path
        answer = self.send(
            target,
            camera_id,
            request.method,
            path,
            credential=credential,
            remote=request.remote_addr or "unknown",
            content=request.get_data(cache=True) if request.method != "GET" else b"",
            headers={k: request.headers[k] for k in REQUEST_HEADERS if k in request.headers},
            stream=stream,
        )
        kept = {k: answer.headers[k] for k in ANSWER_HEADERS if k in answer.headers}
        kept[NODE_HEADER] = target.node_id
        if not stream:
            return Response(answer.content, status=answer.status_code, headers=kept)

        def relay() -> Iterator[bytes]:
            try:
                yield from answer.iter_raw()
            except httpx.HTTPError as exc:  # the node died mid-stream: the stream ends
                log.info("camera %s: stream from %s ended: %s", camera_id, target.node_id, exc)
            finally:
                answer.close()

        response = Response(relay(), status=answer.status_code, headers=kept)
        response.call_on_close(answer.close)
        return response

    def call_json(
        self,
        target: NodeTarget,
        camera_id: str,
        method: str,
        path: str,
        body: Any,
        *,
        credential: Credential,
        remote: str,
    ) -> dict[str, Any]:
        """A JSON call for the Socket.IO PTZ events: the node's JSON answer, an error's
        ``{"error": ...}`` included, as the REST API would give it."""
        import json

        answer = self.send(
            target,
            camera_id,
            method,
            path,
            credential=credential,
            remote=remote,
            content=json.dumps(body).encode() if body is not None else b"",
            headers={"Content-Type": "application/json"} if body is not None else None,
        )
        try:
            parsed = answer.json()
        except ValueError:
            raise self._down(target, camera_id, "its answer was not JSON") from None
        if not isinstance(parsed, dict):
            raise self._down(target, camera_id, "its answer was not a JSON object")
        return parsed

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "it does not accept connections (down or unreachable)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "it closed the connection without an answer"
    return f"the request failed ({type(exc).__name__})"


def install(app: Flask, services: Services) -> MediaRouter:
    """Forward the camera live routes of ``app`` whose camera another node serves."""
    router = MediaRouter(services, services.ports.find(Recorder))

    @app.before_request
    def _to_media_node() -> Response | None:
        if not router.enabled or request.endpoint not in FORWARDED:
            return None  # one media node: nothing is ever forwarded
        camera_id = str((request.view_args or {}).get("camera_id", ""))
        # Authentication (and CSRF for a session) here, before anything leaves the
        # process: a node only ever serves a caller a web process has authenticated.
        actor = security.require_actor()
        target = router.target(actor, camera_id)
        if target is None:
            return None
        credential = security.current_credential()
        if credential is None:  # require_actor found one: cannot happen
            raise Unavailable("the request's credential is gone")
        return router.forward(target, camera_id, credential)

    return router
