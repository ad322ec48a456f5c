"""Who is calling: browser sessions with CSRF tokens, and API bearer tokens (ACC-1).

Unsafe methods (POST, PUT, PATCH, DELETE) authenticated by the session cookie must carry
the session's CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field); bearer
tokens are not sent by browsers on their own, so they need none.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from flask import current_app, g, request, session

from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.auth.sessions import Credential
from vms.auth.users import Authenticated
from vms.errors import PermissionDenied, Unauthenticated
from vms.services import Services
from web.vms_app import services_of

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def services() -> Services:
    return services_of(current_app._get_current_object())  # type: ignore[attr-defined]


def remote_addr() -> str:
    return request.remote_addr or "unknown"


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def start_session(raw: str) -> None:
    """The cookie of a new server-side session (``UserService.sign_in_session``): it
    carries only the session's id."""
    session.clear()
    session["sid"] = raw
    session.permanent = True
    csrf_token()


def end_session() -> None:
    """Revoke the calling credential (session or token) and clear the cookie."""
    actor = resolve_actor()
    credential = current_credential()
    if actor is not None and credential is not None:
        services().users.logout(actor, credential)
    session.clear()


def _session_auth() -> Authenticated | None:
    raw = session.get("sid")
    if not raw:
        return None
    found = services().users.authenticate_session(str(raw))
    if found is None:
        session.pop("sid", None)  # revoked or expired: the cookie is worthless now
    return found


def _session_actor() -> Actor | None:
    found = _session_auth()
    return found.actor if found is not None else None


def resolve_actor() -> Actor | None:
    """The caller, from a bearer token or the session; enforces CSRF for sessions."""
    if "actor" in g:
        value: Actor | None = g.actor
        return value
    found: Authenticated | None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        found = services().users.authenticate_token(header[7:].strip())
        if found is None:
            raise Unauthenticated("the bearer token is unknown, revoked or expired")
        g.auth_kind = "token"
    else:
        found = _session_auth()
        g.auth_kind = "session"
        if found is not None and request.method in UNSAFE_METHODS:
            check_csrf(found.actor)
    g.actor = found.actor if found is not None else None
    g.credential = found.credential if found is not None else None
    return g.actor


def current_credential() -> Credential | None:
    """The session or token the current request was authenticated with."""
    resolve_actor()
    value: Credential | None = g.get("credential")
    return value


class StreamGuard:
    """Re-checks the credential a long response or connection was opened with, at most
    every ``[web] stream_recheck_seconds``: a revoked session or token, or a disabled
    user, ends the stream (ACC-1)."""

    def __init__(self, svc: Services, credential: Credential | None) -> None:
        self.svc = svc
        self.credential = credential
        # Timed on the monotonic reading: a wall clock stepped back (NTP) must not
        # postpone the next check (INV-7, docs/design/time.md).
        self.interval = float(svc.config.web.stream_recheck_seconds)
        self.next_check = svc.clock.monotonic() + self.interval

    def due(self) -> bool:
        return self.svc.clock.monotonic() >= self.next_check

    def still_valid(self) -> bool:
        """False once the credential is gone; checks the database only when due."""
        if not self.due():
            return True
        self.next_check = self.svc.clock.monotonic() + self.interval
        return self.credential is not None and self.svc.users.still_valid(self.credential)


def check_csrf(actor: Actor | None = None) -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    # Compared as UTF-8 bytes: compare_digest raises TypeError for non-ASCII text,
    # which made a token such as "é" a 500 instead of this refusal.
    if not expected or not hmac.compare_digest(
        str(sent).encode("utf-8", "surrogatepass"), str(expected).encode("utf-8")
    ):
        # Audited once per request: the error page resolves the user again (ACC-6).
        if not g.get("csrf_refused"):
            g.csrf_refused = True
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
        # A NUL as it was sent (%00): PostgreSQL holds none in a text value.
        f"http:{request.path.replace(chr(0), '%00')}"[:200],
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
