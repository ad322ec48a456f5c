"""User accounts, sign-in with rate limiting, API tokens (ACC-1)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vms.audit.log import AuditLog, Who
from vms.auth.passwords import hash_password, needs_rehash, verify_password
from vms.auth.permissions import Actor
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import ApiToken, LoginAttempt, Officer, Role, User
from vms.errors import Conflict, InvalidArgument, NotFound, RateLimited, Unauthenticated

TOKEN_PREFIX = "vms_"  # noqa: S105 (a prefix, not a secret)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidArgument(
            f"unknown role {value!r} (one of: {', '.join(r.value for r in Role)})"
        ) from None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime


class UserService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        *,
        max_failures: int = 5,
        window_seconds: int = 300,
        token_hours: float = 24.0,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.max_failures = max_failures
        self.window = dt.timedelta(seconds=window_seconds)
        self.token_lifetime = dt.timedelta(hours=token_hours)

    # -- accounts --------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        role: str,
        password: str,
        *,
        badge: str | None = None,
        supervisor: str | None = None,
        by: Who,
        exist_ok: bool = False,
    ) -> User:
        """Create a user (and their officer record when a badge is given)."""
        username = username.strip()
        if not username or len(username) > 64 or not username.isprintable():
            raise InvalidArgument(f"username {username!r} must be 1-64 printable characters")
        parsed_role = parse_role(role)
        password_hash = hash_password(password)
        now = self.clock.now()
        with self.db.transaction() as s:
            existing = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
            if existing is not None:
                if exist_ok:
                    return existing
                raise Conflict(f"user {username!r} already exists")
            supervisor_id = None
            if supervisor:
                sup = s.execute(
                    select(User).where(User.username == supervisor)
                ).scalar_one_or_none()
                if sup is None:
                    raise NotFound(f"supervisor {supervisor!r} does not exist")
                supervisor_id = sup.id
            if badge:
                ensure_officer(s, badge, now, name=username)
            user = User(
                username=username,
                password_hash=password_hash,
                role=parsed_role.value,
                badge=badge or None,
                supervisor_id=supervisor_id,
                active=True,
                created_at=now,
            )
            s.add(user)
            s.flush()
            self.audit.append(
                s,
                by,
                "user.create",
                f"user:{username}",
                details={"role": parsed_role.value, "badge": badge, "supervisor": supervisor},
            )
            return user

    def actor_for(self, session: Session, user: User) -> Actor:
        supervised = session.execute(
            select(User.badge).where(User.supervisor_id == user.id, User.badge.is_not(None))
        ).scalars()
        return Actor(
            user_id=user.id,
            username=user.username,
            role=Role(user.role),
            badge=user.badge,
            supervised_badges=frozenset(b for b in supervised if b),
        )

    def actor_by_id(self, user_id: int) -> Actor | None:
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None or not user.active:
                return None
            return self.actor_for(s, user)

    # -- sign-in ---------------------------------------------------------------------

    def authenticate(self, username: str, password: str, remote_addr: str) -> Actor:
        """Check a password; failures are counted, rate limited and audited."""
        now = self.clock.now()
        with self.db.transaction() as s:
            failures = s.execute(
                select(func.count())
                .select_from(LoginAttempt)
                .where(
                    LoginAttempt.username == username,
                    LoginAttempt.success.is_(False),
                    LoginAttempt.at >= now - self.window,
                )
            ).scalar_one()
            if failures >= self.max_failures:
                self.audit.append(
                    s,
                    Who(username[:64], "anonymous"),
                    "auth.login",
                    f"user:{username[:64]}",
                    outcome="denied",
                    details={"reason": "rate limited", "remote_addr": remote_addr},
                )
                rate_limited = True
            else:
                rate_limited = False
        if rate_limited:
            raise RateLimited(
                f"too many failed sign-ins for {username!r}: wait "
                f"{int(self.window.total_seconds())} s and try again"
            )

        with self.db.session() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
            stored = user.password_hash if user is not None and user.active else None
        ok = verify_password(stored, password)  # slow; outside any transaction

        with self.db.transaction() as s:
            s.add(
                LoginAttempt(
                    username=username[:64], remote_addr=remote_addr[:64], at=now, success=ok
                )
            )
            if not ok:
                self.audit.append(
                    s,
                    Who(username[:64], "anonymous"),
                    "auth.login",
                    f"user:{username[:64]}",
                    outcome="denied",
                    details={"reason": "wrong username or password", "remote_addr": remote_addr},
                )
            else:
                assert user is not None
                user = s.get(User, user.id)
                assert user is not None
                if needs_rehash(user.password_hash):
                    user.password_hash = hash_password(password)
                # Old attempts are only needed for the rate-limit window.
                s.execute(delete(LoginAttempt).where(LoginAttempt.at < now - self.window))
                self.audit.append(
                    s,
                    Who(user.username, user.role),
                    "auth.login",
                    f"user:{user.username}",
                    details={"remote_addr": remote_addr},
                )
                actor = self.actor_for(s, user)
        if not ok:
            raise Unauthenticated("wrong username or password")
        return actor

    # -- API tokens ------------------------------------------------------------------

    def issue_token(self, actor: Actor) -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = now + self.token_lifetime
        with self.db.transaction() as s:
            s.add(
                ApiToken(
                    user_id=actor.user_id,
                    token_hash=token_digest(token),
                    created_at=now,
                    expires_at=expires,
                )
            )
            self.audit.append(
                s,
                Who(actor.username, actor.role.value),
                "auth.token",
                f"user:{actor.username}",
                details={"expires_at": expires.isoformat()},
            )
        return IssuedToken(token, expires)

    def actor_for_token(self, token: str) -> Actor | None:
        now = self.clock.now()
        with self.db.session() as s:
            row = s.execute(
                select(ApiToken).where(ApiToken.token_hash == token_digest(token))
            ).scalar_one_or_none()
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                return None
            user = s.get(User, row.user_id)
            if user is None or not user.active:
                return None
            return self.actor_for(s, user)


def ensure_officer(session: Session, badge: str, now: dt.datetime, name: str | None = None) -> None:
    if session.get(Officer, badge) is None:
        session.add(Officer(badge=badge, name=name, created_at=now))
        session.flush()
