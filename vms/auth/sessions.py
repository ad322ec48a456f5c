"""Credentials and their revocation: browser sessions and API tokens (ACC-1).

A browser session is a row (``web_sessions``) keyed by the SHA-256 of a random id; the
cookie carries only the id (inside Flask's signed cookie), so a session ends on the
server: logout, a password change, ``vms user disable`` or ``revoke-tokens`` make every
copy of the cookie worthless at once. Bearer tokens are rows too (``api_tokens``).
:class:`Credential` names either, so long streams can re-check the one they were opened
with (docs/design/security.md, "Sessions and revocation").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Select, delete, select, update
from sqlalchemy.orm import Session

from vms.db.models import ApiToken, User, WebSession

SESSION = "session"
TOKEN = "token"  # noqa: S105 (a kind name, not a secret)
# How far ahead of this node's clock another node's may be and its credentials still
# count; one created later than that was issued by a clock that ran ahead and has been
# set back since, and its expiry is that much too late (INV-7).
CLOCK_SKEW = dt.timedelta(minutes=5)


def _live(row: WebSession | ApiToken | None, now: dt.datetime) -> bool:
    """Neither revoked nor expired, nor created in the future (``CLOCK_SKEW``): a clock
    set back must not lengthen a credential's lifetime by the step (ACC-1)."""
    return (
        row is not None
        and row.revoked_at is None
        and row.expires_at > now
        and row.created_at <= now + CLOCK_SKEW
    )


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Credential:
    """What authenticated a request: a session or a token, by its stored digest."""

    kind: str  # SESSION or TOKEN
    digest: str
    user_id: int


def new_session(
    s: Session, user_id: int, remote_addr: str, now: dt.datetime, lifetime: dt.timedelta
) -> str:
    """Add a session row; returns the random id for the cookie (never stored)."""
    raw = secrets.token_urlsafe(32)
    s.add(
        WebSession(
            id_hash=digest(raw),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            remote_addr=remote_addr[:64],
        )
    )
    return raw


def live_session(s: Session, raw: str, now: dt.datetime) -> tuple[WebSession, User] | None:
    """The session of cookie id ``raw`` and its user, if the session is neither revoked
    nor expired and the user active (:func:`_with_user`)."""
    return _with_user(
        s,
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id_hash == digest(raw)),
        now,
    )


def delete_expired(s: Session, before: dt.datetime) -> int:
    """Delete sessions and API tokens that expired before ``before`` (revoked or not:
    past expiry no cookie or bearer can use them any more); the number deleted."""
    gone = _changed(s.execute(delete(WebSession).where(WebSession.expires_at < before)))
    return gone + _changed(s.execute(delete(ApiToken).where(ApiToken.expires_at < before)))


def live_token(s: Session, token: str, now: dt.datetime) -> tuple[ApiToken, User] | None:
    """The bearer ``token``'s row and its user, if live and active (:func:`_with_user`)."""
    return _with_user(
        s,
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(token)),
        now,
    )


def _with_user(s: Session, stmt: Select[Any, User], now: dt.datetime) -> tuple[Any, User] | None:
    """The credential and its user read in one statement, on every request (a player
    asks for every range it fetches: bench/bench_content.py), never kept between
    requests: a revocation or a disabled user is refused on the next one (ACC-1)."""
    found = s.execute(stmt).one_or_none()
    if found is None or not _live(found[0], now) or not found[1].active:
        return None
    return found[0], found[1]


def still_valid(s: Session, credential: Credential, now: dt.datetime) -> bool:
    """Is ``credential`` unrevoked, unexpired, and its user still active?"""
    if credential.kind == SESSION:
        ok = _live(s.get(WebSession, credential.digest), now)
    else:
        token = s.execute(
            select(ApiToken).where(ApiToken.token_hash == credential.digest)
        ).scalar_one_or_none()
        ok = _live(token, now)
    if not ok:
        return False
    user = s.get(User, credential.user_id)
    return user is not None and user.active


def _changed(result: Result[Any]) -> int:
    """Rows an UPDATE changed."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def revoke(s: Session, credential: Credential, now: dt.datetime) -> bool:
    """Revoke one credential; False when it was already revoked or unknown."""
    if credential.kind == SESSION:
        result = s.execute(
            update(WebSession)
            .where(WebSession.id_hash == credential.digest, WebSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    else:
        result = s.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == credential.digest, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return _changed(result) > 0


@dataclass(frozen=True)
class Revoked:
    sessions: int
    tokens: int


def revoke_all(
    s: Session, user_id: int, now: dt.datetime, keep: Credential | None = None
) -> Revoked:
    """Revoke every live session and token of ``user_id`` but ``keep`` (the caller's own,
    when a user changes their password)."""
    sessions = update(WebSession).where(
        WebSession.user_id == user_id, WebSession.revoked_at.is_(None)
    )
    tokens = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep is not None and keep.kind == SESSION:
        sessions = sessions.where(WebSession.id_hash != keep.digest)
    if keep is not None and keep.kind == TOKEN:
        tokens = tokens.where(ApiToken.token_hash != keep.digest)
    n_sessions = _changed(s.execute(sessions.values(revoked_at=now)))
    n_tokens = _changed(s.execute(tokens.values(revoked_at=now)))
    return Revoked(n_sessions, n_tokens)
