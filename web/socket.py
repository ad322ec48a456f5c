"""Socket.IO: live catalog announcements for signed-in browsers.

Events from the service layer (``media.new``, ...) are forwarded to connected,
authenticated browsers, each only to those allowed to know of it: a browser joins the
rooms of what its user may search (``media:all``, or ``media:badge:<badge>`` for officers
and supervisors, ACC-2, ACC-8), and its user's own room (``user:<name>``), where the
progress of that user's exports goes (``export.progress``). Each process re-checks its
connections' sessions and tokens and drops the revoked ones (:class:`ConnectionWatch`).

Several processes (issue 13, item 3): with ``redis_url`` set the event bus
(:mod:`vms.events`) hands every event to every process, each web process (every gunicorn
worker) included, so the forwarders here :func:`deliver` it to this process's own
connections only. Socket.IO's message queue (``[web] message_queue``, else
``redis_url``) carries what is emitted through Socket.IO itself (``socketio.emit`` from
any process, a disconnect of a connection another process holds) to every web process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, request
from flask_socketio import ConnectionRefusedError as SocketRefused
from flask_socketio import SocketIO, disconnect, join_room

from vms.auth.permissions import Action, Actor, Scope, decide, scope_of
from vms.auth.sessions import Credential
from vms.errors import RateLimited, VMSError
from vms.metrics import SOCKET_CONNECTIONS
from vms.outage_log import OutageLog
from vms.services import Services
from web import security
from web.bus import deliver
from web.ptz_socket import ptz_rooms, register_ptz

log = logging.getLogger(__name__)

ROOM = "signed-in"
MEDIA_ALL = "media:all"
# Who may read alarms hears them as they happen (issue 12.3).
ALARMS_ROOM = "alarms"
ALARM_TOPICS = frozenset({"alarm.raised", "alarm.changed", "alarm.cleared", "alarm.acknowledged"})
# How long a revoked connection's client may take to close its WebSocket itself.
TRANSPORT_GRACE_SECONDS = 2.0


def media_rooms(actor: Actor) -> list[str]:
    """The rooms whose media announcements ``actor`` may receive."""
    scope = scope_of(actor.role, Action.MEDIA_SEARCH)
    if scope is Scope.NONE:
        return []
    if scope in (Scope.OWN, Scope.SUPERVISED):
        return [f"media:badge:{badge}" for badge in sorted(actor.reachable_badges)]
    return [MEDIA_ALL]


def user_room(username: str) -> str:
    """The room of one user's connections (their exports' progress, issue 15.4)."""
    return f"user:{username}"


def media_targets(payload: dict[str, Any]) -> list[str]:
    """The rooms a ``media.new`` announcement goes to."""
    rooms = [MEDIA_ALL]
    if payload.get("officer_badge"):
        rooms.append(f"media:badge:{payload['officer_badge']}")
    return rooms


class ConnectionWatch:
    """Re-checks the credential of every connection of this process every ``[web]
    stream_recheck_seconds`` and disconnects those whose session or token was revoked
    or whose user was disabled (ACC-1). Its background task runs only while there are
    connections."""

    def __init__(self, socketio: SocketIO, services: Services) -> None:
        self.socketio = socketio
        self.services = services
        self._lock = threading.Lock()
        self._connections: dict[str, Credential | None] = {}
        self._users: dict[str, str] = {}  # sid -> username
        self._running = False
        self._stopped = False

    def add(
        self, sid: str, credential: Credential | None, username: str, per_user: int = 0
    ) -> None:
        """Watch connection ``sid`` of ``username``. RateLimited when that user holds
        ``per_user`` connections of this process already (0: no limit): each holds a
        server thread while it lasts (a WebSocket for good, long-polling a request at a
        time), the threads every other request shares."""
        with self._lock:
            held = sum(1 for name in self._users.values() if name == username)
            if per_user > 0 and held >= per_user:
                raise RateLimited(
                    f"{username} already has {held} Socket.IO connections open to this "
                    f"server, the most one user may hold at once ([web] "
                    f"max_sockets_per_user = {per_user}); close a tab first",
                    open_connections=held,
                    limit=per_user,
                )
            self._connections[sid] = credential
            self._users[sid] = username
            SOCKET_CONNECTIONS.set(len(self._connections))
            start, self._running = not self._running, True
        if start and not self._stopped:
            self.socketio.start_background_task(self._run)

    def remove(self, sid: str) -> None:
        with self._lock:
            self._connections.pop(sid, None)
            self._users.pop(sid, None)
            SOCKET_CONNECTIONS.set(len(self._connections))

    def stop(self) -> None:
        """The services are closing: forget the connections; the task ends at its next
        round instead of re-checking them against a database that is gone."""
        with self._lock:
            self._stopped = True
            self._connections.clear()
            self._users.clear()

    def _run(self) -> None:
        rechecks = OutageLog(log)  # the database away: logged once per outage, not per connection
        while True:
            self.socketio.sleep(self.services.config.web.stream_recheck_seconds)
            with self._lock:
                if self._stopped or not self._connections:
                    self._running = False
                    return
                connections = list(self._connections.items())
            for sid, credential in connections:
                try:
                    valid = credential is not None and self.services.users.still_valid(credential)
                except Exception:  # the database away: keep watching, check again next round
                    rechecks.failed("socket %s: credential re-check failed", sid)
                    continue
                rechecks.works("socket %s: credential re-checks work again", sid)
                if not valid:
                    log.info("socket %s: credential revoked or user disabled: disconnecting", sid)
                    self.remove(sid)
                    server = self.socketio.server
                    eio_sid = server.manager.eio_sid_from_sid(sid, "/")
                    server.disconnect(sid, namespace="/")
                    if eio_sid is not None:
                        self.socketio.start_background_task(self._close_transport, eio_sid)

    def _close_transport(self, eio_sid: str) -> None:
        """Close the Engine.IO connection under a revoked one if its client has not
        after the namespace's disconnect (a browser does at once): one ignoring it kept
        the WebSocket, and its server thread, while it answered pings."""
        self.socketio.sleep(TRANSPORT_GRACE_SECONDS)
        eio = self.socketio.server.eio
        if eio_sid in eio.sockets:
            log.info("Engine.IO %s: still open after its revocation: closing", eio_sid)
            eio.disconnect(eio_sid)


class Handshakes:
    """This process's Engine.IO connections per user, counted when they open: one that
    never joins the namespace holds a server thread all the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, str] = {}  # Engine.IO sid -> username

    def add(self, eio_sid: str, username: str, allowed: int) -> None:
        """RateLimited when ``username`` holds ``allowed`` already (0: no limit)."""
        with self._lock:
            held = sum(1 for name in self._users.values() if name == username)
            if allowed > 0 and held >= allowed:
                raise RateLimited(
                    f"{username} already has {held} connections open to this server, the "
                    f"most one user may hold at once ([web] max_sockets_per_user = "
                    f"{allowed - 1}, and one more to be told so); close a tab first",
                    open_connections=held,
                    limit=allowed - 1,
                )
            self._users[eio_sid] = username

    def remove(self, eio_sid: str) -> None:
        with self._lock:
            self._users.pop(eio_sid, None)


def require_credential_at_handshake(app: Flask, socketio: SocketIO, services: Services) -> None:
    """Refuse (401) an Engine.IO connection without a valid session or token when it is
    opened, before a WebSocket is upgraded (ACC-1), and one more than ``[web]
    max_sockets_per_user`` + 1 of one user (the one beyond the limit still opens, so that
    its namespace join is refused with the limit named). The namespace's ``connect``
    checks both again; without this, a client that never joined the namespace held a
    WebSocket, and its server thread, for as long as it answered pings: with no
    account, or beyond the limit."""
    eio = socketio.server.eio
    joined, left = eio.handlers["connect"], eio.handlers["disconnect"]  # python-socketio's
    handshakes = Handshakes()

    def _handshake(eio_sid: str, environ: dict[str, Any], *rest: Any) -> Any:
        with app.request_context(environ):
            try:
                actor = security.resolve_actor()
            except VMSError:  # a bad token
                actor = None
        if actor is None:
            return False
        limit = services.config.web.max_sockets_per_user
        try:
            handshakes.add(eio_sid, actor.username, limit + 1 if limit > 0 else 0)
        except RateLimited as exc:
            log.warning("Engine.IO connection refused: %s", exc.message)
            return {"message": exc.message, "data": {"kind": exc.kind, **exc.details}}
        accepted = joined(eio_sid, environ, *rest)
        if accepted is False:
            handshakes.remove(eio_sid)
        return accepted

    def _closed(eio_sid: str, *rest: Any) -> Any:
        handshakes.remove(eio_sid)
        return left(eio_sid, *rest)

    eio.on("connect", _handshake)
    eio.on("disconnect", _closed)


def init_socketio(app: Flask, services: Services) -> SocketIO:
    socketio = SocketIO(
        app,
        async_mode="threading",
        message_queue=services.config.socketio_queue or None,
        channel=f"{services.config.redis_prefix}:socketio",
        # A connection's events are handled one after the other, on the thread that
        # reads them: python-socketio's default started a thread per event, so one
        # client emitting in a loop had this process start thousands at once (ACC-1,
        # tests/security/test_socket_abuse.py). It also keeps a joystick's stop behind
        # its move.
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )

    watch = ConnectionWatch(socketio, services)
    services.closers.append(watch.stop)
    require_credential_at_handshake(app, socketio, services)

    @socketio.on("connect")
    def _connect(auth: Any = None) -> bool:
        try:
            actor = security.resolve_actor()
        except VMSError:  # a bad token or CSRF: refuse the connection
            actor = None
        if actor is None:
            disconnect()
            return False
        try:
            watch.add(
                request.sid,  # type: ignore[attr-defined]
                security.current_credential(),
                actor.username,
                services.config.web.max_sockets_per_user,
            )
        except RateLimited as exc:
            log.warning("socket refused: %s", exc.message)
            # The browser's connect_error: {message, data: {kind, open_connections, limit}}.
            raise SocketRefused(exc.message, {"kind": exc.kind, **exc.details}) from None
        join_room(ROOM)
        join_room(user_room(actor.username))
        for room in media_rooms(actor) + ptz_rooms(actor):
            join_room(room)
        if decide(actor, Action.ALARMS_READ).allowed:
            join_room(ALARMS_ROOM)
        return True

    @socketio.on("disconnect")
    def _disconnect(*_reason: Any) -> None:
        watch.remove(request.sid)  # type: ignore[attr-defined]

    def forward(topic: str, payload: dict[str, Any]) -> None:
        if topic == "media.new":
            deliver(socketio, topic, payload, media_targets(payload))
        elif topic in ALARM_TOPICS:
            deliver(socketio, topic, payload, ALARMS_ROOM)
        elif topic in ("export.progress", "redaction.progress") and payload.get("created_by"):
            # Only the job's creator hears of it (ACC-1): id, state, progress.
            deliver(socketio, topic, payload, user_room(str(payload["created_by"])))

    services.events.subscribe(forward)
    register_ptz(socketio, services)  # joystick events and PTZ notifications
    return socketio
