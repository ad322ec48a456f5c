"""Bus events to this process's Socket.IO connections (issue 13, item 3).

With ``redis_url`` set, the event bus (:mod:`vms.events`) hands every event to every
process, each web process included; the web role's forwarders (``web.socket``,
``web.ptz_socket``, ``web.pages.retention``) therefore send it to their own process's
connections only, never through Socket.IO's message queue as well.
"""

from __future__ import annotations

from typing import Any

from flask_socketio import SocketIO


def deliver(socketio: SocketIO, topic: str, payload: dict[str, Any], to: str | list[str]) -> None:
    """Send a bus event to the connections of this process in rooms ``to``. Not through
    the message queue: every web process hears every bus event itself, so queueing it
    too would deliver it once per web process."""
    socketio.server.emit(topic, payload, to=to, namespace="/", ignore_queue=True)
