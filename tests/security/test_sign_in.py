"""Signing in against odd input (ACC-1). Each case failed before its fix: a NUL in the
login form's username was a 500 on PostgreSQL."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.conftest import PASSWORD


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
