"""Who is calling: browser sessions with CSRF tokens, and API bearer tokens (ACC-1).

Unsafe methods (POST, PUT, PATCH, DELETE) authenticated by the session cookie must carry
the session's CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field); bearer
tokens are not sent by browsers on their own, so they need none.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from typing import Any

from flask import current_app, g, request, session

from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.errors import PermissionDenied, Unauthenticated
from vms.services import Services

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def services() -> Services:
    value: Services = current_app.extensions["vms"]
    return value


def remote_addr() -> str:
    return request.remote_addr or "unknown"


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def start_session(actor: Actor) -> None:
    session.clear()
    session["uid"] = actor.user_id
    session["login_at"] = services().clock.now().timestamp()
    session.permanent = True
    csrf_token()


def _session_actor() -> Actor | None:
    uid = session.get("uid")
    if uid is None:
        return None
    login_at = float(session.get("login_at", 0))
    lifetime = dt.timedelta(hours=services().config.web.session_hours)
    if services().clock.now().timestamp() - login_at > lifetime.total_seconds():
        session.clear()
        return None
    return services().users.actor_by_id(int(uid))


def resolve_actor() -> Actor | None:
    """The caller, from a bearer token or the session; enforces CSRF for sessions."""
    if "actor" in g:
        value: Actor | None = g.actor
        return value
    actor: Actor | None = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        actor = services().users.actor_for_token(header[7:].strip())
        if actor is None:
            raise Unauthenticated("the bearer token is unknown, revoked or expired")
        g.auth_kind = "token"
    else:
        actor = _session_actor()
        g.auth_kind = "session"
        if actor is not None and request.method in UNSAFE_METHODS:
            check_csrf(actor)
    g.actor = actor
    return actor


def check_csrf(actor: Actor | None = None) -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        _audit_csrf_refusal(actor or _session_actor())
        raise PermissionDenied("missing or wrong CSRF token")


def _audit_csrf_refusal(actor: Actor | None) -> None:
    """A forged request riding a user's session is audited as that user's denial
    (ACC-6; issue 10, item 13). Without a signed-in user there is nobody to forge for
    (the sign-in form): logged only, so anonymous posts cannot flood the audit log."""
    details = {"reason": "missing or wrong CSRF token", "method": request.method}
    if actor is None:
        log.warning(
            "CSRF refusal without a session: %s %s from %s",
            request.method,
            request.path,
            remote_addr(),
        )
        return
    services().audit.record(
        services().db,
        Who(actor.username, actor.role.value),
        "csrf.check",
        f"http:{request.path}"[:200],
        outcome="denied",
        details={**details, "remote_addr": remote_addr()},
    )


def require_actor() -> Actor:
    actor = resolve_actor()
    if actor is None:
        raise Unauthenticated("sign in or send an API token (Authorization: Bearer ...)")
    return actor


def template_globals() -> dict[str, Any]:
    actor = None
    try:
        actor = resolve_actor()
    except (Unauthenticated, PermissionDenied):
        actor = None
    return {"actor": actor, "csrf_token": csrf_token}
