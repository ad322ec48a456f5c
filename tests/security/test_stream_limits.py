"""Live streams one user may hold open at once (docs/design/live-view.md, "Streams per
user"): each MJPEG stream holds a server thread for as long as it lasts, so one
signed-in viewer opening them in a loop used to take every thread of the web process
(and, forwarded, of the media node) and the dispatchers' own requests waited. The WHEP
side (sockets per offer) is proven in ``tests/web/test_whep.py``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from recorder.engine import get as get_recorder
from tests.conftest import LiveServer
from tests.security.test_session_revocation import bearer
from tests.security.test_session_revocation import camera as camera  # the fixtures
from tests.security.test_session_revocation import clock as clock
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry
from vms.services import Services


@contextlib.contextmanager
def mjpeg(http: httpx.Client, url: str, token: str) -> Iterator[httpx.Response]:
    """An MJPEG stream, open until the block ends (its first frame read when it is
    served)."""
    with http.stream("GET", url, headers=bearer(token)) as response:
        if response.status_code == 200:
            received = b""
            chunks = response.iter_bytes()
            while b"--vmsframe" not in received:
                received += next(chunks)
        else:
            response.read()
        yield response


@pytest.mark.timeout(180)
def test_one_user_holds_at_most_max_mjpeg_streams_per_user_ACC_1(
    live_server: LiveServer, services: Services, actors: dict[str, Actor], camera: str
) -> None:
    """One more MJPEG stream than ``[web] max_mjpeg_streams_per_user`` is 429 naming the
    limit, audited as a refused view; another user still watches, and a stream the
    viewer closes gives its slot back."""
    get_recorder(services).live_views.mjpeg_per_user = 2
    token = services.users.issue_token(actors["dispatcher"]).token
    admin = services.users.issue_token(actors["admin"]).token
    url = f"{live_server.url}/api/v1/cameras/{camera}/live.mjpeg?fps=5"
    with httpx.Client(timeout=httpx.Timeout(20.0)) as http, contextlib.ExitStack() as held:
        first = held.enter_context(mjpeg(http, url, token))
        second = held.enter_context(mjpeg(http, url, token))
        assert (first.status_code, second.status_code) == (200, 200)
        with mjpeg(http, url, token) as third:
            assert third.status_code == 429, third.status_code
            error: dict[str, Any] = third.json()["error"]
        assert error["kind"] == "rate_limited"
        assert "[web] max_mjpeg_streams_per_user = 2" in error["message"]
        assert "2 MJPEG" in error["message"]
        with mjpeg(http, url, admin) as other:  # the limit is per user
            assert other.status_code == 200
        held.close()  # the dispatcher closes both streams
        deadline = time.monotonic() + 15
        while True:  # the server sees a closed stream at its next frame
            with mjpeg(http, url, token) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the closed streams kept their slots"
            time.sleep(0.2)
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "live.view", AuditEntry.outcome == "denied"
            )
        ).scalars()
        reasons = [(e.actor, e.details["kind"], e.details["reason"]) for e in denied]
    assert reasons[0][:2] == ("dispatcher", "mjpeg")
    assert "max_mjpeg_streams_per_user" in reasons[0][2]


@pytest.mark.timeout(120)
def test_one_user_holds_at_most_max_sockets_per_user_socketio_connections(
    live_server: LiveServer, services: Services, actors: dict[str, Actor]
) -> None:
    """Each Socket.IO connection holds a server thread while it lasts (a WebSocket for
    good): one user connecting in a loop used to hold as many as they opened. One more
    than ``[web] max_sockets_per_user`` is refused at connect with the limit named;
    another user still connects, and a closed connection gives its place back."""
    import dataclasses

    import socketio

    web = dataclasses.replace(services.config.web, max_sockets_per_user=2)
    services.config = dataclasses.replace(services.config, web=web)
    token = services.users.issue_token(actors["dispatcher"]).token
    admin = services.users.issue_token(actors["admin"]).token
    clients: list[socketio.Client] = []

    def connect(value: str) -> socketio.Client:
        sio = socketio.Client(reconnection=False)
        refusals: list[Any] = []
        sio.on("connect_error", refusals.append)
        clients.append(sio)
        try:
            sio.connect(live_server.url, headers=bearer(value), wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            sio.refusal = refusals  # type: ignore[attr-defined]
        return sio

    try:
        held = [connect(token), connect(token)]
        assert all(c.connected for c in held)
        third = connect(token)
        assert not third.connected
        (refusal,) = third.refusal  # type: ignore[attr-defined]
        assert refusal["data"] == {"kind": "rate_limited", "open_connections": 2, "limit": 2}
        assert "[web] max_sockets_per_user = 2" in refusal["message"]
        assert connect(admin).connected  # per user
        held[0].disconnect()
        deadline = time.monotonic() + 10
        while not connect(token).connected:  # the server sees the disconnect
            assert time.monotonic() < deadline, "a closed connection kept its place"
            time.sleep(0.2)
    finally:
        for c in clients:
            c.disconnect()
