"""Signing in against odd input and against a concurrent password reset, and refused
revocations (ACC-1, ACC-6).

Each case failed before its fix: a NUL in the login form's username was a 500 on
PostgreSQL; a sign-in whose slow password check overlapped an administrator's
password reset still got a session with the old password; a refused token
revocation left no audit entry."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import PASSWORD, sign_in
from vms.audit.log import SYSTEM_ROLE, Who
from vms.auth import users as users_module
from vms.db.models import ApiToken, AuditEntry, WebSession
from vms.errors import Unauthenticated
from vms.services import Services

RESETTER = Who("security-test", SYSTEM_ROLE)


def login_form_csrf(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_nul_in_the_login_form_username_is_a_4xx_not_a_500_ACC_1(client: FlaskClient) -> None:
    """PostgreSQL cannot hold a NUL: the throttle key and the audit entry of the try
    made the sign-in form answer 500 (the API's schema already refused it)."""
    csrf = login_form_csrf(client)
    r = client.post(
        "/login", data={"username": "ad\x00min", "password": PASSWORD, "csrf_token": csrf}
    )
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert "NUL" in r.get_data(as_text=True)
    # The form still works afterwards.
    r = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 302


def test_password_reset_during_a_sign_in_refuses_the_old_password_ACC_1(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An administrator resets a stolen password while the thief's sign-in with the old
    one is in its slow argon2 check: the reset revoked every session, then the thief
    got a fresh one (the check had read the old hash; only ``active`` was read again)."""
    real_verify = users_module.verify_password

    def verify_then_reset(stored: str | None, password: str) -> bool:
        ok = real_verify(stored, password)
        services.users.set_password("investigator", "the new password", RESETTER)
        return ok

    monkeypatch.setattr(users_module, "verify_password", verify_then_reset)
    with pytest.raises(Unauthenticated):
        services.users.authenticate("investigator", PASSWORD, "192.0.2.7")
    monkeypatch.setattr(users_module, "verify_password", real_verify)
    actor: Any = services.users.authenticate("investigator", "the new password", "192.0.2.8")
    assert actor.username == "investigator"


def test_a_refused_token_revocation_is_audited_ACC_6(
    client: FlaskClient, services: Services, actors: dict[str, Any]
) -> None:
    """An officer trying to revoke an investigator's token (to cut them off a stream)
    got 404, and the audit log had no entry of the attempt (INV-4: denials too). The
    answer stays the same for an unknown token: no token oracle."""
    target = services.users.issue_token(actors["investigator"]).token
    officer = services.users.issue_token(actors["officer"]).token
    for token in (target, "vms_not-a-token"):
        r = client.post(
            "/api/v1/auth/tokens/revoke",
            json={"token": token},
            headers={"Authorization": f"Bearer {officer}"},
        )
        assert r.status_code == 404
    with services.db.session() as s:
        refused = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "auth.token.revoke")
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
    assert [(e.actor, e.outcome, e.target) for e in refused] == [
        ("officer", "denied", "user:investigator"),
        ("officer", "denied", "token:unknown"),
    ]
    assert all(target not in str(e.details) for e in refused)  # never the secret
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {target}"})
    assert r.status_code == 200


def test_a_user_disabled_between_the_password_check_and_the_new_credential_gets_none_ACC_1(
    services: Services,
) -> None:
    """Sign-in checks the password, then issues the token or session in a transaction
    of its own. A `vms user disable` committed in between revoked nothing (there was
    nothing yet), then the token was issued to the disabled user, and enabling them
    again revived it ("enabling does not revive what disabling revoked")."""
    actor = services.users.authenticate("investigator", PASSWORD, "192.0.2.9")
    services.users.set_active("investigator", False, RESETTER)  # lands in between
    with pytest.raises(Unauthenticated):
        services.users.issue_token(actor)
    with pytest.raises(Unauthenticated):
        services.users.start_session(actor, "192.0.2.9")
    services.users.set_active("investigator", True, RESETTER)
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(ApiToken)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0


def test_a_non_ascii_csrf_token_is_refused_with_403_not_a_500_ACC_1(
    client: FlaskClient, services: Services
) -> None:
    """``hmac.compare_digest`` raises TypeError for a ``str`` that is not ASCII: a
    session post with ``X-CSRF-Token: é`` (or such a form field, the sign-in form's
    included) answered 500 instead of the CSRF refusal."""
    csrf = login_form_csrf(client)
    r = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "é"})
    assert r.status_code == 403, r.get_data(as_text=True)[:300]
    r = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 302
    r = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "é"})
    assert r.status_code == 403, r.get_data(as_text=True)[:300]
    assert "CSRF" in r.get_json()["error"]["message"]
    r = client.post("/logout", data={"csrf_token": "é中"})
    assert r.status_code == 403
    refused = [e for e in _entries(services, "csrf.check") if e.actor == "admin"]
    assert {(e.outcome, e.target) for e in refused} == {
        ("denied", "http:/api/v1/auth/logout"),
        ("denied", "http:/logout"),
    }
    assert client.get("/api/v1/auth/me").status_code == 200  # still signed in


def _entries(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).scalars()
        )


def test_a_csrf_refusal_of_a_page_post_is_audited_once_ACC_6(
    client: FlaskClient, services: Services
) -> None:
    """A page's refused post rendered the error page, whose template resolved the user
    again and checked the CSRF token again: every refusal of a page post was written
    twice into the audit log (the monthly figures count them)."""
    sign_in(client, "admin")
    for path in ("/logout", "/cases", "/alarms/1/ack", "/api/v1/auth/logout"):
        assert client.post(path, data={"csrf_token": "wrong"}).status_code == 403
    targets = [e.target for e in _entries(services, "csrf.check")]
    assert targets == [
        "http:/logout",
        "http:/cases",
        "http:/alarms/1/ack",
        "http:/api/v1/auth/logout",
    ]


def test_sign_in_from_a_page_returns_to_it_with_its_query_ACC_1(client: FlaskClient) -> None:
    """A page opened without a session (or after it expired) sends the user to sign in
    and back to that page as it was asked for: a filtered audit log comes back filtered,
    not as the whole log (the query used to be dropped from ``next``)."""
    r = client.get("/audit?action=media.view&actor=officer")
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("/login?next=")
    csrf = login_form_csrf(client)
    r = client.post(
        location, data={"username": "auditor", "password": PASSWORD, "csrf_token": csrf}
    )
    assert r.status_code == 302
    assert r.headers["Location"] == "/audit?action=media.view&actor=officer"
    # A page without a query still comes back to its bare path.
    with client.session_transaction() as sess:
        signed_in_csrf = sess["csrf"]
    assert client.post("/logout", data={"csrf_token": signed_in_csrf}).status_code == 302
    assert client.get("/live").headers["Location"] == "/login?next=/live"
