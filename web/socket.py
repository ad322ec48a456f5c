"""Socket.IO: live catalog announcements for signed-in browsers.

Events from the service layer (``media.new``, ...) are forwarded to every connected,
authenticated browser. With ``[web] message_queue`` set, Socket.IO fans out through Redis
so several web processes reach all browsers.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_socketio import SocketIO, disconnect, join_room

from vms.services import Services
from web import security

log = logging.getLogger(__name__)

FORWARDED_TOPICS = frozenset({"media.new"})
ROOM = "signed-in"


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
        except Exception:
            actor = None
        if actor is None:
            disconnect()
            return False
        join_room(ROOM)
        return True

    def forward(topic: str, payload: dict[str, Any]) -> None:
        if topic in FORWARDED_TOPICS:
            socketio.emit(topic, payload, to=ROOM)

    services.events.subscribe(forward)
    return socketio
