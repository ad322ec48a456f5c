"""An outsider with no account, from another machine, tries every route of the app.

The routes are read from the app's own URL map, so a route added later is tried without
touching this file, and a route that forgets its role check is caught here, not by a
reader. Every route refuses the caller before it looks anything up: the ids in the paths
are ones that do not exist, and the answer is still "sign in" (401, or the login page),
never a 404 that would tell an outsider which ids do. Only the routes listed in PUBLIC
answer otherwise, each with what it shows (ACC-1).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

OUTSIDER = {"REMOTE_ADDR": "203.0.113.7"}  # not loopback: /metrics is for local clients

# (method, rule) -> the status an outsider gets, and why that is no leak.
PUBLIC = {
    ("GET", "/login"): 200,  # the sign-in form
    ("POST", "/login"): 403,  # no CSRF token: refused before any password is checked
    ("POST", "/logout"): 403,  # the same
    ("GET", "/healthz"): 200,  # liveness: up or not
    ("GET", "/readyz"): 200,  # readiness: names of failed checks only (vms.health)
    ("GET", "/metrics"): 403,  # local clients or the metrics token only
    ("GET", "/api/v1/openapi.json"): 200,  # the API's description
    ("POST", "/api/v1/auth/token"): 400,  # sign-in: the empty body is refused
    # Share links (issue 16): a wrong token gets the same 404 as a revoked or used-up
    # one (tests/security/test_share_links.py).
    ("GET", "/s/<token>"): 404,
    ("GET", "/s/<token>/package"): 404,
    ("GET", "/s/<token>/package/<int:position>"): 404,
    ("GET", "/static/<path:filename>"): 404,  # the page assets; no such file
}


def concrete(rule: str) -> str:
    """The rule's path with every variable an id that does not exist."""
    return re.sub(
        r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>",
        lambda m: "424242" if m.group(1) == "int" else "no-such-id",
        rule,
    )


def tried(app: Flask, headers: dict[str, str]) -> list[tuple[str, str, Any]]:
    client = app.test_client()
    out = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            r = client.open(
                concrete(rule.rule), method=method, headers=headers, environ_base=OUTSIDER
            )
            out.append((method, rule.rule, r))
    return out


def refused(method: str, rule: str, r: Any) -> bool:
    """Told to sign in: the API's 401 ``unauthenticated``, a page's way to the login
    form, or (a form posted) the CSRF refusal that comes before anything else."""
    if rule.startswith("/api/"):
        return r.status_code == 401 and r.json["error"]["kind"] == "unauthenticated"
    if r.status_code == 302:
        return r.headers["Location"].startswith("/login")
    return r.status_code == 401 or (method != "GET" and r.status_code == 403)


def test_every_route_tells_an_outsider_to_sign_in_and_nothing_more_ACC_1(app: Flask) -> None:
    answers = tried(app, {})
    assert len(answers) > 100  # the URL map was read (149 routes and methods, session 24)
    wrong = [
        f"{method} {rule}: {r.status_code}"
        for method, rule, r in answers
        if (
            r.status_code != PUBLIC[(method, rule)]
            if (method, rule) in PUBLIC
            else not refused(method, rule, r)
        )
    ]
    assert not wrong, wrong
    # Each public route is still in the app (a stale list would hide a change).
    assert set(PUBLIC) <= {(method, rule) for method, rule, _ in answers}


def test_a_forged_or_malformed_credential_opens_no_route_ACC_1(app: Flask) -> None:
    for credential in ("Bearer vms_forged", "Bearer ", "Basic YWRtaW46YWRtaW4=", "vms_x"):
        wrong = [
            f"{method} {rule}: {r.status_code}"
            for method, rule, r in tried(app, {"Authorization": credential})
            if (method, rule) not in PUBLIC and not refused(method, rule, r)
        ]
        assert not wrong, (credential, wrong)
