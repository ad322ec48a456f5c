"""Login throttling (issue 10 item 7, ACC-1): per address and per account, atomic across
threads and processes, never a lock-out of the real user, refusals audited in aggregate
(docs/design/security.md, "Login throttling")."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import PASSWORD, LiveServer, make_config
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import AuditEntry
from vms.services import Services

TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture
def manual(clock: ManualClock, config: Config) -> Iterator[Services]:
    """Services on the test database with a clock that only moves when told to."""
    svc = Services.open(config, clock=clock)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def web(manual: Services) -> FlaskClient:
    from web.app import create_app

    app, _ = create_app(manual, testing=True)
    return app.test_client()


def sign_in(client: FlaskClient, username: str, password: str, addr: str) -> Any:
    return client.post(
        TOKEN_URL,
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": addr},
    )


def audit_count(services: Services, action: str, outcome: str = "denied") -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == action, AuditEntry.outcome == outcome)
            ).scalar_one()
        )


def test_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    from vms.auth.throttle import ThrottleSettings, backoff

    settings = ThrottleSettings(free_failures=3, max_delay=dt.timedelta(seconds=10))
    waits = [backoff(n, settings) for n in range(1, 10)]
    assert waits[:2] == [None, None]
    assert [w.total_seconds() for w in waits[2:] if w is not None] == [1, 2, 4, 8, 10, 10, 10]
    assert backoff(10_000, settings) == dt.timedelta(seconds=10)


def test_spraying_25_usernames_from_one_address_is_throttled_ACC_1(
    web: FlaskClient, manual: Services, clock: ManualClock
) -> None:
    """Per-username limits let one address try every name; the address has a budget."""
    names = ["admin", "officer", "auditor"] + [f"user{i}" for i in range(22)]
    codes = [sign_in(web, name, "Spring2026!", "203.0.113.7").status_code for name in names]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 20
    refused = sign_in(web, "sergeant", PASSWORD, "203.0.113.7")  # even a right password
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "from this address" in refused.get_json()["error"]["message"]
    # The sign-in form is the same door.
    page = web.get("/login", environ_base={"REMOTE_ADDR": "203.0.113.7"}).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    form = web.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf.group(1)},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert form.status_code == 429 and form.headers["Retry-After"] == "1"
    assert "Too many failed sign-ins" in form.get_data(as_text=True)

    # Back-off, not lock-out: after the wait one more check, then a doubled wait.
    clock.advance(dt.timedelta(seconds=1))
    assert sign_in(web, "user1", "guess", "203.0.113.7").status_code == 401
    again = sign_in(web, "user2", "guess", "203.0.113.7")
    assert again.status_code == 429 and again.headers["Retry-After"] == "2"
    # Failures are forgotten after the window without failures.
    clock.advance(dt.timedelta(seconds=301))
    ok = sign_in(web, "sergeant", PASSWORD, "203.0.113.7")
    assert ok.status_code == 201, ok.get_json()


def test_real_admin_signs_in_from_a_clean_address_while_their_name_is_attacked_ACC_1(
    web: FlaskClient, manual: Services, clock: ManualClock
) -> None:
    """Per-username lock-out let anyone lock out the admin for 300 s."""
    # Ten addresses, three guesses each at "admin": the account backs off.
    for i in range(10):
        for _ in range(3):
            code = sign_in(web, "admin", "letmein", f"198.51.100.{i}").status_code
            assert code in (401, 429)
    # An attacking address (it failed before) is held by the account's back-off, even
    # with a fresh guess.
    held = sign_in(web, "admin", "letmein2", "198.51.100.3")
    assert held.status_code == 429
    assert "for this account" in held.get_json()["error"]["message"]
    # The real admin, at an address that has not failed, signs in at once.
    ok = sign_in(web, "admin", PASSWORD, "192.0.2.10")
    assert ok.status_code == 201, ok.get_json()
    # Checked guesses stayed far below the 30 tries sent.
    assert audit_count(manual, "auth.login") < 30


def test_concurrent_tries_never_check_more_than_the_limit_ACC_1(
    database: tuple[str, Any],
) -> None:
    """Counting after the slow password check let 18 of 20 simultaneous tries through."""
    url, data_dir = database
    config = make_config(data_dir, url, VMS_WEB_LOGIN_DELAY_SECONDS="60")
    services = Services.open(config)
    try:
        _concurrent_tries(services)
    finally:
        services.close()


def _concurrent_tries(services: Services) -> None:
    from werkzeug.serving import make_server

    from web.app import create_app

    app, _ = create_app(services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live = LiveServer(f"http://127.0.0.1:{server.server_port}", services)
    try:
        start = threading.Barrier(20)
        codes: list[int] = []
        lock = threading.Lock()

        def attempt() -> None:
            with httpx.Client(base_url=live.url, timeout=60) as http:
                start.wait()
                r = http.post(TOKEN_URL, json={"username": "officer", "password": "wrong-guess"})
            with lock:
                codes.append(r.status_code)

        workers = [threading.Thread(target=attempt) for _ in range(20)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert len(codes) == 20 and set(codes) <= {401, 429}
        assert codes.count(401) == 5, codes  # [web] login_max_failures
        assert audit_count(services, "auth.login") == 5
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_refused_tries_are_audited_in_aggregate_ACC_6(
    web: FlaskClient, manual: Services, clock: ManualClock
) -> None:
    """One audit entry per refused try let an attacker write 75 entries a second with
    names of their choosing; now one entry per key per window, with the count."""
    for i in range(200):
        sign_in(web, f"spray-{i}", "guess", "203.0.113.50")
    assert audit_count(manual, "auth.login") == 5  # the checked tries
    assert audit_count(manual, "auth.throttle") == 1  # the first refusal, at once
    clock.advance(dt.timedelta(seconds=100))
    for i in range(50):
        sign_in(web, f"more-{i}", "guess", "203.0.113.50")
    # The 1 s back-off had passed: one more check, then a 2 s wait refused the rest.
    assert audit_count(manual, "auth.login") == 6
    assert audit_count(manual, "auth.throttle") == 1  # still within the window
    # The jobs role's sweep writes the count of the refusals since.
    clock.advance(dt.timedelta(seconds=300))
    manual.users.sweep_throttle()
    with manual.db.session() as s:
        entries = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "auth.throttle")
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
    assert [e.target for e in entries] == ["addr:203.0.113.50"] * 2
    assert entries[0].details["refused"] == 1
    assert entries[1].details["refused"] == 194 + 49
    assert manual.audit.verify(manual.db) is None
    # Idle keys are forgotten after the window, so attacker-chosen names do not pile up.
    clock.advance(dt.timedelta(seconds=301))
    assert manual.users.sweep_throttle() >= 1


def test_a_back_off_set_by_a_clock_that_ran_ahead_ends_when_it_is_set_back_ACC_1_INV_7(
    web: FlaskClient, manual: Services, clock: ManualClock
) -> None:
    """An officer mistyped their password eight times while the server's clock ran a
    year ahead: the back-off (at most ``max_delay``, 60 s) was stamped a year ahead too.
    Before, once the clock was set right, their address stayed refused for that year,
    and its failures were never forgotten. A back-off ending later than ``max_delay``
    from now, or a failure stamped in the future, is one a clock set back left behind."""
    addr = "198.51.100.7"
    right = clock.now()
    clock.set(right + dt.timedelta(days=365))
    for _ in range(8):
        sign_in(web, "officer", "wrong", addr)
    assert sign_in(web, "officer", PASSWORD, addr).status_code == 429
    clock.set(right)  # set right: a year back
    clock.advance(dt.timedelta(minutes=2))  # past any back-off (max_delay 60 s)
    r = sign_in(web, "officer", PASSWORD, addr)
    assert r.status_code == 201, r.get_data(as_text=True)[:300]
