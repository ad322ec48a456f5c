"""Socket.IO: live catalog announcements for signed-in browsers.

Events from the service layer (``media.new``, ...) are forwarded to connected,
authenticated browsers, each only to those allowed to know of it: a browser joins the
rooms of what its user may search (``media:all``, or ``media:badge:<badge>`` for officers
and supervisors, ACC-2, ACC-8). With ``[web] message_queue`` set, Socket.IO fans out
through Redis so several web processes reach all browsers.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_socketio import SocketIO, disconnect, join_room

from vms.auth.permissions import Action, Actor, Scope, scope_of
from vms.errors import VMSError
from vms.services import Services
from web import security
from web.ptz_socket import ptz_rooms, register_ptz

log = logging.getLogger(__name__)

ROOM = "signed-in"
MEDIA_ALL = "media:all"


def media_rooms(actor: Actor) -> list[str]:
    """The rooms whose media announcements ``actor`` may receive."""
    scope = scope_of(actor.role, Action.MEDIA_SEARCH)
    if scope is Scope.NONE:
        return []
    if scope in (Scope.OWN, Scope.SUPERVISED):
        return [f"media:badge:{badge}" for badge in sorted(actor.reachable_badges)]
    return [MEDIA_ALL]


def media_targets(payload: dict[str, Any]) -> list[str]:
    """The rooms a ``media.new`` announcement goes to."""
    rooms = [MEDIA_ALL]
    if payload.get("officer_badge"):
        rooms.append(f"media:badge:{payload['officer_badge']}")
    return rooms


def init_socketio(app: Flask, services: Services) -> SocketIO:
    socketio = SocketIO(
        app,
        async_mode="threading",
        message_queue=services.config.web.message_queue or None,
        logger=False,
        engineio_logger=False,
    )

    @socketio.on("connect")
    def _connect(auth: Any = None) -> bool:
        try:
            actor = security.resolve_actor()
        except VMSError:  # a bad token or CSRF: refuse the connection
            actor = None
        if actor is None:
            disconnect()
            return False
        join_room(ROOM)
        for room in media_rooms(actor) + ptz_rooms(actor):
            join_room(room)
        return True

    def forward(topic: str, payload: dict[str, Any]) -> None:
        if topic == "media.new":
            socketio.emit(topic, payload, to=media_targets(payload))

    services.events.subscribe(forward)
    register_ptz(socketio, services)  # joystick events and PTZ notifications
    return socketio
