"""Sessions that end when they should (issue 10 item 8, ACC-1): server-side browser
sessions, logout and revocation APIs, password changes revoking the other credentials,
the ``vms user disable|enable|passwd|revoke-tokens`` CLI (audited), and long streams
(MJPEG, Socket.IO) cut within ``[web] stream_recheck_seconds`` of a revocation."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from tests.conftest import PASSWORD, LiveServer, make_config
from tests.statements import captured
from tests.vms.test_crash_safety import run_cli
from tests.web.test_api_auth import _login as form_login
from vms.auth.sessions import TOKEN, Credential
from vms.auth.sessions import digest as token_digest
from vms.clock import Clock, ManualClock, SystemClock
from vms.config import Config
from vms.db.models import ApiToken, AuditEntry, User, WebSession
from vms.services import Services


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie("vms_session")
    assert cookie is not None
    return cookie.value


def with_cookie(app: Any, value: str) -> FlaskClient:
    """A second browser holding a copy of the cookie (stolen, or an old tab)."""
    other: FlaskClient = app.test_client()
    other.set_cookie("vms_session", value)
    return other


def actions(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).scalars()
        )


def test_a_copied_cookie_is_dead_after_logout_ACC_1(app: Any, client: FlaskClient) -> None:
    """Flask's signed-cookie session kept working for 12 h after logout."""
    csrf = form_login(client, "investigator")
    copy = cookie_of(client)
    assert with_cookie(app, copy).get("/api/v1/auth/me").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert with_cookie(app, copy).get("/api/v1/auth/me").status_code == 401
    assert with_cookie(app, copy).get("/catalog").status_code == 302  # to the sign-in page


def test_expired_sessions_are_refused_and_swept_ACC_1(
    app: Any, client: FlaskClient, services: Services
) -> None:
    clock = ManualClock(services.clock.now())
    services.users.clock = clock
    form_login(client, "auditor")
    assert client.get("/api/v1/auth/me").status_code == 200
    clock.advance(dt.timedelta(hours=12, seconds=1))  # [web] session_hours
    assert client.get("/api/v1/auth/me").status_code == 401
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(WebSession)).scalar_one() == 1
    clock.advance(dt.timedelta(days=1))
    services.users.sweep_throttle()
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0


def test_expired_api_tokens_are_swept_and_live_ones_kept_ACC_1(
    app: Any, client: FlaskClient, services: Services, actors: dict[str, Any]
) -> None:
    clock = ManualClock(services.clock.now())
    services.users.clock = clock
    old = services.users.issue_token(actors["auditor"])
    clock.advance(services.users.token_lifetime + dt.timedelta(days=1, seconds=1))
    fresh = services.users.issue_token(actors["auditor"])
    assert client.get("/api/v1/auth/me", headers=bearer(old.token)).status_code == 401
    services.users.sweep_throttle()
    with services.db.session() as s:
        left = set(s.execute(select(ApiToken.token_hash)).scalars())
    assert left == {token_digest(fresh.token)}
    assert client.get("/api/v1/auth/me", headers=bearer(fresh.token)).status_code == 200


def test_api_logout_revokes_the_session_or_the_token_ACC_1(
    app: Any, client: FlaskClient, tokens: dict[str, str], services: Services
) -> None:
    token = tokens["auditor"]
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    r = client.post("/api/v1/auth/logout", headers=bearer(token))
    assert r.status_code == 200 and r.get_json() == {"revoked": "token"}
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401

    csrf = form_login(client, "auditor")
    copy = cookie_of(client)
    assert client.post("/api/v1/auth/logout").status_code == 403  # CSRF still applies
    r = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.get_json() == {"revoked": "session"}
    assert with_cookie(app, copy).get("/api/v1/auth/me").status_code == 401
    assert [e.details["credential"] for e in actions(services, "auth.logout")] == [
        "token",
        "session",
    ]


def test_a_credential_and_its_user_are_one_read_and_still_refused_at_once_ACC_1(
    services: Services, actors: dict[str, Any]
) -> None:
    """Every request reads its token or session with its user in one statement (a media
    player asks for every range it fetches: bench/bench_content.py; before, the user was
    a second read), and that read is made per request, nothing kept between them: a
    revoked credential, or a user made inactive without its credentials being revoked,
    is refused on the next one (ACC-1)."""
    users = services.users
    token = users.issue_token(actors["auditor"]).token
    _, raw = users.sign_in_session("sergeant", PASSWORD, "127.0.0.1")
    for kind, authenticate, credential in (
        ("api_tokens", users.authenticate_token, token),
        ("web_sessions", users.authenticate_session, raw),
    ):
        with captured(services.db.engine) as sql:
            assert authenticate(credential) is not None
        reads = sql.matching(f"FROM {kind}")
        assert len(reads) == 1 and "JOIN users" in reads[0][0], sql.statements
        assert not sql.matching("FROM users WHERE users.id"), sql.statements

    with services.db.transaction() as s:
        s.execute(update(User).where(User.username == "sergeant").values(active=False))
    assert users.authenticate_session(raw) is None
    users.revoke_token(actors["auditor"], token)
    assert users.authenticate_token(token) is None


def test_password_change_revokes_the_other_sessions_and_tokens_ACC_1(
    app: Any, client: FlaskClient, services: Services, actors: dict[str, Any]
) -> None:
    current = services.users.issue_token(actors["officer"]).token
    other = services.users.issue_token(actors["officer"]).token
    colleague = services.users.issue_token(actors["other_officer"]).token
    form_login(client, "officer")
    cookie = cookie_of(client)

    wrong = client.post(
        "/api/v1/auth/password",
        json={"current_password": "not it", "new_password": "new password 1"},
        headers=bearer(current),
    )
    assert wrong.status_code == 403
    assert client.get("/api/v1/auth/me", headers=bearer(other)).status_code == 200

    r = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "new password 1"},
        headers=bearer(current),
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"sessions_revoked": 1, "tokens_revoked": 1}
    assert client.get("/api/v1/auth/me", headers=bearer(current)).status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(other)).status_code == 401
    assert with_cookie(app, cookie).get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(colleague)).status_code == 200
    old = client.post("/api/v1/auth/token", json={"username": "officer", "password": PASSWORD})
    assert old.status_code == 401
    assert [e.outcome for e in actions(services, "user.password")] == ["ok"]


def test_tokens_are_revoked_by_their_owner_or_an_admin_only_ACC_1(
    client: FlaskClient, services: Services, actors: dict[str, Any]
) -> None:
    first = services.users.issue_token(actors["investigator"]).token
    second = services.users.issue_token(actors["investigator"]).token
    officer = services.users.issue_token(actors["officer"]).token
    admin = services.users.issue_token(actors["admin"]).token

    # Another user's token: refused without saying whether it exists.
    r = client.post("/api/v1/auth/tokens/revoke", json={"token": second}, headers=bearer(officer))
    assert r.status_code == 404
    r = client.post("/api/v1/auth/tokens/revoke", json={"token": second}, headers=bearer(first))
    assert r.status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(second)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(first)).status_code == 200

    r = client.post("/api/v1/users/investigator/revoke", headers=bearer(officer))
    assert r.status_code == 403
    r = client.post("/api/v1/users/investigator/revoke", headers=bearer(admin))
    assert r.status_code == 200 and r.get_json()["tokens_revoked"] == 1
    assert client.get("/api/v1/auth/me", headers=bearer(first)).status_code == 401
    assert client.post("/api/v1/users/nobody/revoke", headers=bearer(admin)).status_code == 404
    # Oneself: allowed without users.manage.
    r = client.post("/api/v1/users/officer/revoke", headers=bearer(officer))
    assert r.status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(officer)).status_code == 401
    revokes = actions(services, "user.revoke")
    assert [(e.actor, e.target) for e in revokes] == [
        ("admin", "user:investigator"),
        ("officer", "user:officer"),
    ]
    assert [e.outcome for e in actions(services, "users.manage")] == ["denied"]


def test_cli_disable_enable_passwd_revoke_tokens_are_audited_ACC_1(
    config: Config, services: Services, actors: dict[str, Any], client: FlaskClient
) -> None:
    def me(token: str) -> int:
        return int(client.get("/api/v1/auth/me", headers=bearer(token)).status_code)

    def sign_in(password: str) -> int:
        r = client.post("/api/v1/auth/token", json={"username": "sergeant", "password": password})
        return int(r.status_code)

    token = services.users.issue_token(actors["sergeant"]).token
    r = run_cli(config, "user", "disable", "sergeant")
    assert r.returncode == 0, r.stderr
    assert "1 tokens revoked" in r.stdout
    assert me(token) == 401
    assert sign_in(PASSWORD) == 401
    assert "disabled" in run_cli(config, "user", "list").stdout

    assert run_cli(config, "user", "enable", "sergeant").returncode == 0
    assert me(token) == 401  # enabling does not revive what disabling revoked
    assert sign_in(PASSWORD) == 201

    token = services.users.issue_token(actors["sergeant"]).token
    r = run_cli(config, "user", "passwd", "sergeant", "--password-stdin", stdin="a new password")
    assert r.returncode == 0, r.stderr
    assert me(token) == 401
    assert sign_in("a new password") == 201

    token = services.users.issue_token(actors["sergeant"]).token
    assert run_cli(config, "user", "revoke-tokens", "sergeant").returncode == 0
    assert me(token) == 401

    missing = run_cli(config, "user", "disable", "nobody")
    assert missing.returncode == 4 and "nobody" in missing.stderr
    short = run_cli(config, "user", "passwd", "sergeant", "--password-stdin", stdin="short")
    assert short.returncode == 2
    audited = [
        (e.action, e.target)
        for e in actions(services, "user.disable")
        + actions(services, "user.enable")
        + actions(services, "user.password")
        + actions(services, "user.revoke")
    ]
    assert sorted(audited) == [
        ("user.disable", "user:sergeant"),
        ("user.enable", "user:sergeant"),
        ("user.password", "user:sergeant"),
        ("user.revoke", "user:sergeant"),
    ]
    assert all(
        e.actor.startswith("cli:")
        for e in actions(services, "user.disable") + actions(services, "user.revoke")
    )


# -- long streams ----------------------------------------------------------------------

RECHECK = 1.0


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(
        data_dir,
        url,
        VMS_WEB_STREAM_RECHECK_SECONDS=str(RECHECK),
        VMS_RECORDER_SEGMENT_SECONDS="2",
        VMS_CAMERAS_POSE_FAST_HZ="10",
    )


def cut_off(services: Services, how: str) -> None:
    """Revoke the dispatcher's credentials, or only mark the user disabled."""
    if how == "revoke":
        services.users.revoke_credentials("dispatcher", by=_who())
        return
    with services.db.transaction() as s:  # disabled without touching tokens
        user = s.execute(select(User).where(User.username == "dispatcher")).scalar_one()
        user.active = False


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cut", ["revoke", "disable"])
def test_socketio_connection_is_dropped_when_revoked_or_disabled_ACC_1(
    live_server: LiveServer, services: Services, actors: dict[str, Any], cut: str
) -> None:
    token = services.users.issue_token(actors["dispatcher"]).token
    keeper = services.users.issue_token(actors["auditor"]).token
    gone = threading.Event()
    clients = []
    for value, event in ((token, gone), (keeper, threading.Event())):
        sio = socketio.Client(reconnection=False)
        sio.on("disconnect", lambda *_a, e=event: e.set())
        sio.connect(live_server.url, headers=bearer(value), wait_timeout=10)
        clients.append(sio)
    try:
        assert all(c.connected for c in clients)
        time.sleep(RECHECK * 2)  # checks that pass leave connections alone
        assert all(c.connected for c in clients)
        cut_off(services, cut)
        revoked_at = time.monotonic()
        assert gone.wait(RECHECK * 4 + 5), "the revoked connection stayed open"
        assert time.monotonic() - revoked_at < RECHECK * 4 + 5
        assert clients[1].connected  # someone else's connection stays
    finally:
        for c in clients:
            c.disconnect()


def _who() -> Any:
    from vms.audit.log import SYSTEM_ROLE, Who

    return Who("security-test", SYSTEM_ROLE)


@pytest.fixture
def clock(request: pytest.FixtureRequest, clock: ManualClock) -> Clock:
    """A test streaming from the real camera rig (``camera``) runs in real time: the
    simulator, the recorder and the pose tracker pass real seconds, and the stream guard
    re-checks every ``RECHECK`` of them, so its services take the system clock
    explicitly (docs/design/time.md); every other test keeps the fixed clock."""
    return SystemClock() if "camera" in request.fixturenames else clock


@pytest.fixture
def camera(services: Services) -> Iterator[str]:
    from onvif_control.simulator import SimulatedCamera
    from tests.recorder.conftest import PASSWORD as CAM_PASSWORD
    from tests.recorder.conftest import USERNAME, rigged

    sim = SimulatedCamera("cam1", size=(320, 180), fps=10, username=USERNAME, password=CAM_PASSWORD)
    sim.start()
    try:
        with rigged(services, sim) as rig:
            rig.recorder.start()
            rig.wait_streaming()
            yield rig.camera_id
    finally:
        sim.stop()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cut", ["revoke", "disable"])
def test_mjpeg_stream_is_cut_within_the_recheck_interval_ACC_1(
    live_server: LiveServer,
    services: Services,
    actors: dict[str, Any],
    camera: str,
    cut: str,
) -> None:
    """An MJPEG stream kept going after its token was revoked or its user disabled."""
    token = services.users.issue_token(actors["dispatcher"]).token
    url = f"{live_server.url}/api/v1/cameras/{camera}/live.mjpeg?fps=5"
    with (
        httpx.Client(timeout=httpx.Timeout(20.0)) as http,
        http.stream("GET", url, headers=bearer(token)) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_bytes()
        received = b""
        while received.count(b"--vmsframe") < 3:
            received += next(chunks)
        cut_off(services, cut)
        cut_at = time.monotonic()
        for _chunk in chunks:  # ends when the server closes the stream
            assert time.monotonic() - cut_at < RECHECK + 10, "the stream kept going"
        assert time.monotonic() - cut_at < RECHECK + 10


def test_a_wall_clock_stepped_back_does_not_postpone_the_stream_recheck_ACC_1(
    services: Services, actors: dict[str, Any]
) -> None:
    """StreamGuard times its re-checks on the monotonic reading (INV-7): with the wall
    clock stepped back an hour, a revoked token still ends the stream once
    ``stream_recheck_seconds`` have passed."""
    from web.security import StreamGuard

    clock = ManualClock(services.clock.now())
    services.clock = clock
    services.users.clock = clock
    actor = actors["auditor"]
    issued = services.users.issue_token(actor)
    guard = StreamGuard(services, Credential(TOKEN, token_digest(issued.token), actor.user_id))
    assert guard.still_valid()
    services.users.revoke_token(actor, issued.token)
    clock.set(clock.now() - dt.timedelta(hours=1))  # NTP steps the wall clock back
    assert guard.still_valid()  # not due yet: checked at most every interval
    clock.advance(services.config.web.stream_recheck_seconds + 0.1)
    assert not guard.still_valid()


def test_credentials_issued_by_a_clock_that_ran_ahead_end_when_it_is_set_back_ACC_1_INV_7(
    app: Any, client: FlaskClient, services: Services, actors: dict[str, Any]
) -> None:
    """A server whose clock ran a year ahead issued sessions and tokens expiring a year
    and 12 hours (a token: its lifetime) from the true time. Before, once the clock was
    set right, they stayed live for that year: a copied cookie or token outlived its
    lifetime by the step. A credential created later than the clock says now (beyond a
    few minutes of skew between nodes) is refused: its owner signs in again."""
    clock = ManualClock(services.clock.now())
    services.users.clock = clock
    right = clock.now()
    clock.set(right + dt.timedelta(days=365))
    form_login(client, "auditor")
    token = services.users.issue_token(actors["auditor"]).token
    assert client.get("/api/v1/auth/me").status_code == 200
    clock.set(right)  # set right: a year back
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    # A node whose clock is a minute ahead of this one: its credentials still work.
    clock.set(right + dt.timedelta(minutes=1))
    fresh = services.users.issue_token(actors["auditor"]).token
    clock.set(right)
    assert client.get("/api/v1/auth/me", headers=bearer(fresh)).status_code == 200


@pytest.mark.timeout(120)
def test_socketio_rechecks_failing_on_the_database_are_logged_once_per_outage_ACC_1(
    live_server: LiveServer,
    services: Services,
    actors: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the database is away every re-check fails: the watch logged a traceback
    for each connection every round (three connections, three rounds: nine). Now one
    for the outage, one line when the checks work again; and the watch still cuts a
    revoked connection afterwards."""
    from sqlalchemy.exc import OperationalError

    tokens = [services.users.issue_token(actors["dispatcher"]).token for _ in range(3)]
    real = services.users.still_valid
    failures = {"left": 9}

    def away_then_back(credential: Any) -> bool:
        # The fake is the database's answer only: what is examined is the watch.
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real(credential)

    clients, gone = [], threading.Event()
    for token in tokens:
        sio = socketio.Client(reconnection=False)
        sio.on("disconnect", lambda *_a: gone.set())
        sio.connect(live_server.url, headers=bearer(token), wait_timeout=10)
        clients.append(sio)
    try:
        with caplog.at_level(logging.INFO, logger="web.socket"):
            monkeypatch.setattr(services.users, "still_valid", away_then_back)
            deadline = time.monotonic() + RECHECK * 20
            while failures["left"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert failures["left"] == 0, "the watch stopped re-checking"
            cut_off(services, "revoke")
            assert gone.wait(RECHECK * 4 + 5), "the revoked connection stayed open"
        failed = [r for r in caplog.records if "re-check failed" in r.getMessage()]
        assert len(failed) == 1, f"{len(failed)} lines for 9 failed re-checks"
    finally:
        for c in clients:
            c.disconnect()
