"""Socket.IO for PTZ: the joystick (low latency) and live notifications.

Client events (acknowledged with the same body as the REST API, or ``{"error": ...}``):

- ``ptz.command`` ``{camera_id, session_id, op, ...}``: as ``POST /api/v1/cameras/{id}/ptz``
  (same guard, arbitration, rate limit and audit, INV-6), without an HTTP request per
  joystick movement;
- ``ptz.status`` ``{camera_id}``: as ``GET .../ptz/status``.

Server events: ``ptz.pose`` (throttled by ``[cameras] pose_publish_hz``), ``ptz.session``
(who controls a camera) and ``camera.health`` go to the ``ptz`` room (users who may view
or steer cameras), ``ptz.session`` without the session id, which goes in a copy to the
holder's own room only (``ptz.session`` and ``ptz.status`` carry the camera's
``session_seq``: docs/design/ptz-arbitration.md P6); ``ptz.displaced`` goes only to the
displaced operator's own room (``user:<username>``): "you lost control of camera X to Y".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import current_app
from flask_socketio import SocketIO

from onvif_control.plugin import get
from vms.auth.permissions import Action, Actor, decide
from vms.errors import InvalidArgument, Unauthenticated, VMSError
from vms.services import Services
from web import security
from web.api.ptz import command_from, status_json
from web.bus import deliver
from web.limits import check_json

PTZ_ROOM = "ptz"
TO_PTZ_ROOM = frozenset({"ptz.pose", "ptz.session", "camera.health"})


def user_room(username: str) -> str:
    return f"user:{username}"


def ptz_rooms(actor: Actor) -> list[str]:
    """The rooms a signed-in browser joins for PTZ notifications."""
    rooms = [user_room(actor.username)]
    if decide(actor, Action.PTZ_CONTROL).allowed or decide(actor, Action.LIVE_VIEW).allowed:
        rooms.append(PTZ_ROOM)
    return rooms


def _event_body(args: tuple[Any, ...], max_depth: int) -> dict[str, Any]:
    """The one argument of a client event, an object with ``camera_id``: a client may
    send none or several (a handler taking exactly one raised TypeError and answered
    nothing), and JSON the REST API refuses (nested deeper than ``[web]
    max_json_depth``, a lone surrogate the audit chain cannot write: web.limits)."""
    if len(args) != 1:
        raise InvalidArgument(
            f"the event takes one object with camera_id, not {len(args)} arguments",
            arguments=len(args),
        )
    data = args[0]
    check_json(data, max_depth, "the event body")
    if not isinstance(data, dict) or not isinstance(data.get("camera_id"), str):
        raise InvalidArgument("the event body must be an object with camera_id")
    return data


def register_ptz(socketio: SocketIO, services: Services) -> None:
    def actor() -> Actor:
        found = security.resolve_actor()
        if found is None:
            raise Unauthenticated("sign in first")
        return found

    def at_node(camera_id: str, method: str, leaf: str, body: Any) -> dict[str, Any] | None:
        """The answer of the camera's media node when another node serves it (issue
        13.2: the same route, role checks and audit there); None: served here."""
        router = getattr(current_app, "media_router", None)
        if router is None or not router.enabled:
            return None
        who = actor()
        target = router.target(who, camera_id)
        credential = security.current_credential()
        if target is None or credential is None:
            return None
        path = f"/api/v1/cameras/{quote(camera_id, safe='')}/{leaf}"
        return router.call_json(
            target,
            camera_id,
            method,
            path,
            body,
            credential=credential,
            remote=security.remote_addr(),
        )

    @socketio.on("ptz.command")
    def _command(*args: Any) -> dict[str, Any]:
        try:
            data = _event_body(args, services.config.web.max_json_depth)
            camera_id = str(data["camera_id"])
            body = {k: v for k, v in data.items() if k != "camera_id"}
            forwarded = at_node(camera_id, "POST", "ptz", body)
            if forwarded is not None:
                return forwarded
            return command_from(get(services).ptz, actor(), camera_id, body)
        except VMSError as exc:
            return exc.to_json()

    @socketio.on("ptz.status")
    def _status(*args: Any) -> dict[str, Any]:
        try:
            camera_id = str(_event_body(args, services.config.web.max_json_depth)["camera_id"])
            forwarded = at_node(camera_id, "GET", "ptz/status", None)
            if forwarded is not None:
                return forwarded
            return status_json(get(services).ptz, actor(), camera_id)
        except VMSError as exc:
            return exc.to_json()

    def forward(topic: str, payload: dict[str, Any]) -> None:
        controller = payload.get("controller")
        if topic == "ptz.session" and isinstance(controller, dict):
            # The session id to its holder's own room only (issue 10, item 13): the
            # holder's page tells its own session from one opened in another window.
            deliver(socketio, topic, payload, user_room(str(controller.get("username"))))
            shown = {k: v for k, v in controller.items() if k != "session_id"}
            deliver(socketio, topic, {**payload, "controller": shown}, PTZ_ROOM)
        elif topic in TO_PTZ_ROOM:
            deliver(socketio, topic, payload, PTZ_ROOM)
        elif topic == "ptz.displaced":
            deliver(socketio, topic, payload, user_room(str(payload.get("username"))))

    services.events.subscribe(forward)
