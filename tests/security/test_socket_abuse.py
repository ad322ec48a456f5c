"""Socket.IO connections abused by a signed-in user or a page on another origin
(docs/design/live-view.md; ACC-1): event floods, malformed events, cross-site
connections riding the victim's cookie."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import socketio

from tests.conftest import LiveServer
from tests.security.test_session_revocation import bearer
from vms.auth.permissions import Actor
from vms.services import Services

pytestmark = pytest.mark.timeout(120)


def _peak_threads(stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], threading.active_count())
        time.sleep(0.002)


def test_an_event_flood_does_not_start_a_thread_per_event_ACC_1(
    live_server: LiveServer, services: Services, actors: dict[str, Actor]
) -> None:
    """python-socketio ran every event of a connection on a thread of its own: one
    signed-in user emitting events in a loop had the web process start thousands of
    threads at once (each holding a database connection or waiting for one), and the
    dispatchers' requests waited behind them. A connection's events are handled one
    after the other now: the flood costs the process one thread, whatever its size."""
    token = services.users.issue_token(actors["officer"]).token
    sio = socketio.Client(reconnection=False)
    sio.connect(live_server.url, headers=bearer(token), transports=["websocket"], wait_timeout=10)
    before = threading.active_count()
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=_peak_threads, args=(stop, peak), daemon=True)
    watcher.start()
    done = threading.Event()
    answers: list[Any] = []
    flood = 400

    def answered(*args: Any) -> None:
        answers.append(args)
        if len(answers) == flood:
            done.set()

    try:
        for _ in range(flood):
            sio.emit("ptz.status", {"camera_id": "CAM-1"}, callback=answered)
        assert done.wait(90), f"{len(answers)} of {flood} answered"
    finally:
        stop.set()
        watcher.join()
        sio.disconnect()
    assert answers[0][0]["error"]["kind"] == "permission_denied"
    assert peak[0] - before < 20, f"{peak[0] - before} threads started for one connection"


@pytest.mark.parametrize("event", ["ptz.command", "ptz.status"])
def test_an_event_without_its_body_or_with_two_is_answered_with_a_refusal(
    live_server: LiveServer, services: Services, actors: dict[str, Actor], event: str
) -> None:
    """An event sent without an argument, or with more than one, raised a TypeError in
    the handler: no answer at all (the page's joystick waited for its acknowledgement
    until its own timeout) and a traceback in the log. It is refused like any other
    malformed event now, naming what it got."""
    token = services.users.issue_token(actors["dispatcher"]).token
    sio = socketio.Client(reconnection=False)
    sio.connect(live_server.url, headers=bearer(token), transports=["websocket"], wait_timeout=10)
    try:
        none = sio.call(event, timeout=10)
        two = sio.call(event, ({"camera_id": "CAM-1"}, {"camera_id": "CAM-2"}), timeout=10)
    finally:
        sio.disconnect()
    assert none["error"]["kind"] == "invalid_argument"
    assert "0 arguments" in none["error"]["message"]
    assert two["error"]["kind"] == "invalid_argument"
    assert "2 arguments" in two["error"]["message"]


def recv_text(ws: Any) -> str:
    """The next Engine.IO packet of a raw WebSocket, as text."""
    packet = ws.recv()
    return packet if isinstance(packet, str) else bytes(packet).decode()


def raw_event(url: str, token: str, frame: str) -> Any:
    """Send one Socket.IO event frame as it is (``421[...]``: event with ack id 1) over
    a raw WebSocket, the way a hostile client need not go through a Socket.IO client;
    the acknowledgement's body, or None when none came within 10 s."""
    import json

    import websocket

    ws = websocket.create_connection(
        url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
        header=[f"Authorization: Bearer {token}"],
        timeout=10,
    )
    try:
        assert recv_text(ws).startswith("0")  # Engine.IO open
        ws.send("40")
        assert recv_text(ws).startswith("40")  # namespace connected
        ws.send(frame)
        while True:
            try:
                packet = recv_text(ws)
            except websocket.WebSocketTimeoutException:
                return None
            if packet == "2":  # Engine.IO ping
                ws.send("3")
            elif packet.startswith("431"):
                return json.loads(packet[3:])[0]
    finally:
        ws.close()


@pytest.mark.parametrize("event", ["ptz.command", "ptz.status"])
def test_an_event_with_a_lone_surrogate_or_nested_too_deep_is_refused(
    live_server: LiveServer, services: Services, actors: dict[str, Actor], event: str
) -> None:
    """JSON may escape half a UTF-16 pair (``"\\ud800"``), which no UTF-8 text can hold:
    the refusal's audit entry could not be written (UnicodeEncodeError in the hash
    chain), so the event got no answer and the attempt went unaudited. A body nested
    hundreds of levels deep went on to the audit too. Both are refused at the door now,
    as the REST API refuses them (``[web] max_json_depth``)."""
    token = services.users.issue_token(actors["dispatcher"]).token
    body = '{"camera_id": "CAM-\\ud800", "session_id": "s", "op": "stop"}'
    answer = raw_event(live_server.url, token, f'421["{event}", {body}]')
    assert answer is not None, "no answer to a lone surrogate"
    assert answer["error"]["kind"] == "invalid_argument"
    assert "surrogate" in answer["error"]["message"]
    deep = "[" * 500 + "]" * 500
    body = f'{{"camera_id": "CAM-1", "session_id": "s", "op": "stop", "pan": {deep}}}'
    answer = raw_event(live_server.url, token, f'421["{event}", {body}]')
    assert answer is not None, "no answer to a deep body"
    assert answer["error"]["kind"] == "invalid_argument"
    assert "nested deeper than 32 levels" in answer["error"]["message"]


@pytest.mark.parametrize("credential", [None, "Bearer not-a-token"], ids=["anonymous", "bad"])
def test_an_engine_io_connection_needs_a_credential_before_it_holds_a_thread_ACC_1(
    live_server: LiveServer, credential: str | None
) -> None:
    """Sign-in was checked when a client joined the Socket.IO namespace, not when it
    opened the Engine.IO connection underneath: a client without an account could open
    WebSockets and never join, each holding a server thread (of gunicorn's ``[web]
    threads``) for as long as it answered pings, outside ``[web]
    max_sockets_per_user``; a hundred of them left the dispatchers none. The handshake
    itself is refused (401) now, on either transport."""
    import httpx
    import websocket

    headers = {"Authorization": credential} if credential else {}
    base = live_server.url.replace("http://", "ws://")
    try:
        ws = websocket.create_connection(
            f"{base}/socket.io/?EIO=4&transport=websocket",
            header=[f"{k}: {v}" for k, v in headers.items()],
            timeout=10,
        )
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 401
    else:
        opened = recv_text(ws)
        ws.close()
        pytest.fail(f"an unauthenticated WebSocket was opened: {opened[:60]!r}")
    polled = httpx.get(
        f"{live_server.url}/socket.io/?EIO=4&transport=polling", headers=headers, timeout=10
    )
    assert polled.status_code == 401, polled.text[:200]


def test_engine_io_connections_that_never_join_count_against_max_sockets_per_user_ACC_1(
    live_server: LiveServer, services: Services, actors: dict[str, Actor]
) -> None:
    """``[web] max_sockets_per_user`` was counted when a connection joined the
    namespace: a signed-in user opening WebSockets that never joined held as many
    server threads as they opened. Now the handshake counts too: one more than the
    limit may open (its join is then refused with the limit named), none beyond."""
    import dataclasses

    import httpx
    import websocket

    web = dataclasses.replace(services.config.web, max_sockets_per_user=2)
    services.config = dataclasses.replace(services.config, web=web)
    token = services.users.issue_token(actors["dispatcher"]).token
    other = services.users.issue_token(actors["admin"]).token
    url = live_server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"

    def handshake(value: str) -> Any:
        try:
            ws = websocket.create_connection(
                url, header=[f"Authorization: Bearer {value}"], timeout=10
            )
        except websocket.WebSocketBadStatusException as exc:
            return exc.status_code
        assert recv_text(ws).startswith("0")
        return ws

    held = [handshake(token) for _ in range(3)]
    try:
        assert all(not isinstance(ws, int) for ws in held)
        assert handshake(token) == 401  # Engine.IO answers every refused handshake so
        polled = httpx.get(
            f"{live_server.url}/socket.io/?EIO=4&transport=polling",
            headers=bearer(token),
            timeout=10,
        )
        assert polled.status_code == 401
        assert "[web] max_sockets_per_user = 2" in polled.json()["message"]
        assert polled.json()["data"] == {"kind": "rate_limited", "open_connections": 3, "limit": 2}
        admin = handshake(other)  # per user
        assert not isinstance(admin, int)
        admin.close()
        held.pop().close()
        deadline = time.monotonic() + 10
        while isinstance(again := handshake(token), int):  # a closed one frees its place
            assert time.monotonic() < deadline, "a closed connection kept its place"
            time.sleep(0.2)
        held.append(again)
    finally:
        for ws in held:
            if not isinstance(ws, int):
                ws.close()


def test_a_revoked_connection_loses_its_websocket_not_only_the_namespace_ACC_1(
    live_server: LiveServer, services: Services, actors: dict[str, Actor]
) -> None:
    """The re-check of a revoked token sent the client a namespace disconnect and left
    the Engine.IO WebSocket open: a client that ignored it kept the connection, and its
    server thread, for as long as it answered pings. The WebSocket is closed too."""
    import dataclasses

    import websocket

    from vms.audit.log import SYSTEM_ROLE, Who

    web = dataclasses.replace(services.config.web, stream_recheck_seconds=0.5)
    services.config = dataclasses.replace(services.config, web=web)
    token = services.users.issue_token(actors["dispatcher"]).token
    ws = websocket.create_connection(
        live_server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
        header=[f"Authorization: Bearer {token}"],
        timeout=1,
    )
    raw = ws.sock  # websocket-client drops it unclosed when the server closes first
    try:
        assert recv_text(ws).startswith("0")
        ws.send("40")
        assert recv_text(ws).startswith("40")
        services.users.revoke_credentials("dispatcher", by=Who("security-test", SYSTEM_ROLE))
        told, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                packet = recv_text(ws)
            except websocket.WebSocketTimeoutException:
                continue
            except websocket.WebSocketConnectionClosedException:
                break
            if packet == "2":
                ws.send("3")
            told.append(packet)
            if not packet and not ws.connected:
                break
        else:
            pytest.fail(f"the WebSocket stayed open after the revocation (told {told})")
        assert "41" in told  # the namespace was told first
    finally:
        ws.close()
        if raw is not None:
            raw.close()
