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

from flask import Response, jsonify

from vms.auth.authoriser import who
from vms.auth.permissions import Action
from vms.auth.sessions import Revoked
from vms.auth.users import IssuedToken
from vms.errors import RateLimited
from web.contract import ApiBlueprint
from web.schemas.auth import (
    LogoutOut,
    MeOut,
    PasswordChangeIn,
    RevokedOut,
    RevokeTokenIn,
    TokenIn,
    TokenOut,
    TokenRevokedOut,
)
from web.security import current_credential, end_session, remote_addr, require_actor, services

bp = ApiBlueprint("auth_api", __name__, tag="auth")


def rate_limited(exc: RateLimited) -> Response:
    """A 429 with ``Retry-After`` (seconds) when the throttle says how long."""
    response = jsonify(exc.to_json())
    response.status_code = exc.http_status
    if "retry_after_seconds" in exc.details:
        response.headers["Retry-After"] = str(exc.details["retry_after_seconds"])
    return response


def revoked_out(revoked: Revoked) -> RevokedOut:
    return RevokedOut(sessions_revoked=revoked.sessions, tokens_revoked=revoked.tokens)


@bp.operation("POST", "/auth/token", body=TokenIn, response=TokenOut, status=201, public=True)
def token(body: TokenIn) -> IssuedToken | Response:
    """Sign in with a username and password for a bearer token.

    Throttled per address and per account: 429 with ``Retry-After`` (seconds)."""
    try:
        return services().users.sign_in_token(body.username, body.password, remote_addr())
    except RateLimited as exc:
        return rate_limited(exc)


@bp.operation("POST", "/auth/logout", response=LogoutOut)
def logout() -> LogoutOut:
    """Revoke the credential of this request (the session or the token)."""
    require_actor()
    credential = current_credential()
    end_session()
    return LogoutOut(revoked=credential.kind if credential is not None else None)


@bp.operation("POST", "/auth/tokens/revoke", body=RevokeTokenIn, response=TokenRevokedOut)
def revoke_token(body: RevokeTokenIn) -> TokenRevokedOut:
    """Revoke one of one's own tokens (admins: any)."""
    services().users.revoke_token(require_actor(), body.token)
    return TokenRevokedOut(revoked="token")


@bp.operation("POST", "/auth/password", body=PasswordChangeIn, response=RevokedOut)
def change_password(body: PasswordChangeIn) -> RevokedOut:
    """Change one's own password.

    The current password is checked like a sign-in; every other session and token of
    the user is revoked."""
    actor = require_actor()
    credential = current_credential()
    assert credential is not None  # require_actor() found one
    revoked = services().users.change_own_password(
        actor, body.current_password, body.new_password, credential, remote_addr()
    )
    return revoked_out(revoked)


@bp.operation("POST", "/users/<username>/revoke", response=RevokedOut)
def revoke_user(username: str) -> RevokedOut:
    """Revoke every session and token of a user (the user themselves, or an admin)."""
    actor = require_actor()
    if username != actor.username:
        services().authoriser.require(actor, Action.USERS_MANAGE, f"user:{username}")
    return revoked_out(services().users.revoke_credentials(username, who(actor), reason="api"))


@bp.operation("GET", "/auth/me", response=MeOut)
def me() -> MeOut:
    """Who is signed in: username, role, badge and the officers supervised (ACC-8)."""
    actor = require_actor()
    return MeOut(
        username=actor.username,
        role=actor.role.value,
        badge=actor.badge,
        supervises=sorted(actor.supervised_badges),
    )
