"""Sign-in: tokens, browser sessions with CSRF, rate limiting; all audited."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from vms.audit.log import Who
from vms.db.models import ApiToken, AuditEntry, User, WebSession
from vms.services import Services


def test_token_for_username_and_password(client: FlaskClient, services: Services) -> None:
    r = client.post("/api/v1/auth/token", json={"username": "auditor", "password": PASSWORD})
    assert r.status_code == 201
    token = r.get_json()["token"]
    assert r.get_json()["expires_at"].endswith("Z")
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.get_json()["role"] == "auditor"
    r = client.post("/api/v1/auth/token", json={"username": "auditor", "password": "wrong!"})
    assert r.status_code == 401
    assert PASSWORD not in r.get_data(as_text=True)
    with services.db.session() as s:
        outcomes = (
            s.execute(
                select(AuditEntry.outcome).where(
                    AuditEntry.action == "auth.login", AuditEntry.actor == "auditor"
                )
            )
            .scalars()
            .all()
        )
    assert outcomes == ["ok", "denied"]


def test_login_is_rate_limited(client: FlaskClient, services: Services) -> None:
    # A back-off longer than this test takes on a slow machine (the real clock runs).
    throttle = services.users.throttle
    throttle.settings = dataclasses.replace(throttle.settings, first_delay=dt.timedelta(minutes=1))
    for _ in range(5):
        r = client.post("/api/v1/auth/token", json={"username": "officer", "password": "nope"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/token", json={"username": "officer", "password": PASSWORD})
    assert r.status_code == 429
    assert "too many failed sign-ins" in r.get_json()["error"]["message"]
    assert r.headers["Retry-After"] == "60"


def _login(client: FlaskClient, username: str) -> str:
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf.group(1)}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    page = client.get("/catalog").get_data(as_text=True)
    meta = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert meta
    return meta.group(1)


def test_session_requests_need_the_csrf_token(client: FlaskClient) -> None:
    csrf = _login(client, "investigator")
    body = {
        "filename": "a.mp4",
        "size": 10,
        "sha256": "0" * 64,
        "source": "bwc",
        "device_id": "BWC-1",
    }
    r = client.post("/api/v1/uploads", json=body)
    assert r.status_code == 403
    assert "CSRF" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/uploads", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = client.post("/api/v1/uploads", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert client.get("/api/v1/media").status_code == 200  # safe methods need none


def test_login_form_without_csrf_is_refused(client: FlaskClient) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403


def test_pages_redirect_to_login_when_signed_out(client: FlaskClient) -> None:
    r = client.get("/catalog")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_logout_ends_the_session(client: FlaskClient) -> None:
    csrf = _login(client, "admin")
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 302
    assert client.get("/api/v1/media").status_code == 401


def test_a_malformed_sign_in_is_a_400_naming_the_field(client: FlaskClient) -> None:
    cases = [
        ({"username": "auditor"}, "password is required"),
        ({"username": 5, "password": PASSWORD}, "username: 5 is not valid"),
        ({"username": "auditor", "password": PASSWORD, "otp": "1"}, "otp is not a field"),
        ({"username": "a\x00b", "password": PASSWORD}, "username: 'a\\x00b' is not valid"),
    ]
    for body, message in cases:
        r = client.post("/api/v1/auth/token", json=body)
        assert r.status_code == 400, body
        assert message in r.get_json()["error"]["message"], body
    r = client.post("/api/v1/auth/token", json=["auditor", PASSWORD])
    assert r.status_code == 400 and "JSON object" in r.get_json()["error"]["message"]


def test_me_and_logout_answer_as_before(client: FlaskClient, tokens: dict[str, str]) -> None:
    r = client.post("/api/v1/auth/token", json={"username": "sergeant", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {r.get_json()['token']}"}
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    assert me == {"username": "sergeant", "role": "supervisor", "badge": "S1", "supervises": ["B1"]}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    assert client.post("/api/v1/users/a%00b/revoke", headers=admin).status_code == 404
    assert client.post("/api/v1/auth/logout", headers=headers).get_json() == {"revoked": "token"}


@pytest.mark.parametrize("change", ["password", "disable"])
@pytest.mark.parametrize("route", ["page", "token"])
def test_a_reset_or_disable_just_after_the_password_check_leaves_no_credential_ACC_1(
    client: FlaskClient, services: Services, route: str, change: str
) -> None:
    """An administrator resets an officer's password (or disables the officer) at the
    moment a sign-in with the old password has been checked and audited, before its
    session or token is written. The reset revokes every credential of the user, so the
    sign-in must not leave one alive that the old password opened (ACC-1): the sign-in
    and its credential are one transaction, the user's row locked, so the reset either
    comes first (the sign-in is refused) or revokes the new credential too."""
    users = services.users
    users.add_user("racer", "officer", PASSWORD, by=Who("admin", "admin"))
    done: list[str] = []

    def flushed(session: Session, context: Any) -> None:
        if any(
            isinstance(o, AuditEntry) and o.action == "auth.login" and o.outcome == "ok"
            for o in session.new
        ):
            session.info["signed_in"] = True

    def committed(session: Session) -> None:
        if session.info.pop("signed_in", False) and not done:
            done.append(change)  # the admin's change, between the check and what follows
            if change == "password":
                users.set_password("racer", "a new password 42", by=Who("admin", "admin"))
            else:
                users.set_active("racer", False, by=Who("admin", "admin"))

    event.listen(Session, "after_flush", flushed)
    event.listen(Session, "after_commit", committed)
    try:
        if route == "page":
            page = client.get("/login").get_data(as_text=True)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert csrf
            r = client.post(
                "/login",
                data={"username": "racer", "password": PASSWORD, "csrf_token": csrf.group(1)},
            )
        else:
            r = client.post("/api/v1/auth/token", json={"username": "racer", "password": PASSWORD})
    finally:
        event.remove(Session, "after_flush", flushed)
        event.remove(Session, "after_commit", committed)
    assert done == [change]
    assert r.status_code in (201, 302, 401), r.get_data(as_text=True)
    with services.db.session() as s:
        user_id = s.execute(select(User.id).where(User.username == "racer")).scalar_one()
        live = [
            *s.execute(
                select(WebSession.id_hash).where(
                    WebSession.user_id == user_id, WebSession.revoked_at.is_(None)
                )
            ).scalars(),
            *s.execute(
                select(ApiToken.id).where(
                    ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)
                )
            ).scalars(),
        ]
    assert live == [], (
        f"{route}: a credential opened by the old password is alive after the {change}"
    )
