"""A NUL character in a path value, on every route of the app and on both databases.

PostgreSQL cannot hold a NUL in a text value: a look-up of ``/api/v1/cases/a%00b`` (or
the audit entry of its refusal, ACC-6) failed inside the driver, a 500 on 34 routes as an
admin (more as a role that is refused, whose denial is audited under the path's id). The
route fuzz (tests/security/test_fuzz_routes.py) runs on SQLite only, which stores a NUL.
No id or name the VMS makes or accepts holds one, so the answer is a 404 naming the path
parameter and the value, before anything is looked up.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import sign_in
from tests.security.test_fuzz_routes import build_path, routes

NUL = "a\x00b"


def nul_paths(app: Flask, *, api: bool) -> list[tuple[str, str, str, list[str]]]:
    """(method, rule, path with a NUL in every argument, arguments) of each route."""
    out = []
    for rule, method, arguments, _ in routes(app, prefix="/"):
        if not arguments or rule.startswith("/api/") != api or "<int" in rule:
            continue
        out.append((method, rule, build_path(rule, dict.fromkeys(arguments, NUL)), arguments))
    return out


@pytest.mark.parametrize("role", ["admin", "officer"])
def test_a_nul_in_a_path_value_is_a_404_naming_it_on_every_api_route(
    app: Flask, client: FlaskClient, tokens: dict[str, str], role: str
) -> None:
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    tried = nul_paths(app, api=True)
    assert len(tried) >= 40  # the URL map was really walked
    wrong = []
    for method, rule, path, arguments in tried:
        r = client.open(path, method=method, headers=headers, json={})
        error = r.get_json(silent=True) or {}
        message = error.get("error", {}).get("message", "")
        if r.status_code != 404 or repr(NUL) not in message:
            wrong.append(f"{method} {rule}: {r.status_code} {message[:120]!r}")
    # The token still works: no route was given a NUL where it revokes or signs out.
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("csrf", ["the session's", "wrong"])
def test_a_nul_in_a_path_value_is_a_404_on_every_page(
    app: Flask, client: FlaskClient, csrf: str
) -> None:
    """Also with a wrong CSRF token: its refusal is audited under the path (ACC-6),
    which held the NUL."""
    token = sign_in(client, "admin")
    if csrf == "wrong":
        token = "wrong"
    tried = nul_paths(app, api=False)
    assert len(tried) >= 10
    wrong = []
    for method, rule, path, _ in tried:
        r = client.open(path, method=method, data={"csrf_token": token})
        if r.status_code != 404:
            wrong.append(f"{method} {rule}: {r.status_code}")
    assert not wrong, "\n".join(wrong)
