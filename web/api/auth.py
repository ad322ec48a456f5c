"""Sign-in, sign-out and revocation (ACC-1).

- ``POST /auth/token``: a username and password for a bearer token (throttled per
  address and per account; 429 with ``Retry-After``);
- ``POST /auth/logout``: revoke the credential of this request (the session or token);
- ``POST /auth/tokens/revoke`` ``{token}``: revoke one of one's own tokens (admins: any);
- ``POST /auth/password`` ``{current_password, new_password}``: change one's password;
  every other session and token of the user is revoked;
- ``POST /users/<username>/revoke``: revoke every session and token of a user (the user
  themselves, or an admin).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from vms.auth.authoriser import who
from vms.auth.permissions import Action
from vms.clock import isoformat
from vms.errors import InvalidArgument, RateLimited
from web.api import json_body
from web.security import current_credential, end_session, remote_addr, require_actor, services

bp = Blueprint("auth_api", __name__)


def _strings(body: dict[str, Any], *names: str) -> list[str]:
    values = [body.get(name) for name in names]
    if not all(isinstance(v, str) for v in values):
        raise InvalidArgument(f"{' and '.join(names)} (strings) are required")
    return [str(v) for v in values]


def rate_limited(exc: RateLimited) -> Response:
    """A 429 with ``Retry-After`` (seconds) when the throttle says how long."""
    response = jsonify(exc.to_json())
    response.status_code = exc.http_status
    if "retry_after_seconds" in exc.details:
        response.headers["Retry-After"] = str(exc.details["retry_after_seconds"])
    return response


@bp.post("/auth/token")
def token() -> Any:
    username, password = _strings(json_body(), "username", "password")
    try:
        actor = services().users.authenticate(username, password, remote_addr())
    except RateLimited as exc:
        return rate_limited(exc)
    issued = services().users.issue_token(actor)
    return jsonify({"token": issued.token, "expires_at": isoformat(issued.expires_at)}), 201


@bp.post("/auth/logout")
def logout() -> Any:
    require_actor()
    credential = current_credential()
    end_session()
    return jsonify({"revoked": credential.kind if credential is not None else None})


@bp.post("/auth/tokens/revoke")
def revoke_token() -> Any:
    actor = require_actor()
    (value,) = _strings(json_body(), "token")
    services().users.revoke_token(actor, value)
    return jsonify({"revoked": "token"})


@bp.post("/auth/password")
def change_password() -> Any:
    actor = require_actor()
    current, new = _strings(json_body(), "current_password", "new_password")
    credential = current_credential()
    assert credential is not None  # require_actor() found one
    revoked = services().users.change_own_password(actor, current, new, credential, remote_addr())
    return jsonify({"sessions_revoked": revoked.sessions, "tokens_revoked": revoked.tokens})


@bp.post("/users/<username>/revoke")
def revoke_user(username: str) -> Any:
    actor = require_actor()
    if username != actor.username:
        services().authoriser.require(actor, Action.USERS_MANAGE, f"user:{username}")
    revoked = services().users.revoke_credentials(username, who(actor), reason="api")
    return jsonify({"sessions_revoked": revoked.sessions, "tokens_revoked": revoked.tokens})


@bp.get("/auth/me")
def me() -> Any:
    actor = require_actor()
    return jsonify(
        {
            "username": actor.username,
            "role": actor.role.value,
            "badge": actor.badge,
            "supervises": sorted(actor.supervised_badges),
        }
    )
