"""User accounts, throttled sign-in, sessions, API tokens and their revocation (ACC-1)."""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vms.audit.log import AuditLog, Who
from vms.auth import sessions
from vms.auth.passwords import hash_password, needs_rehash, verify_password
from vms.auth.permissions import Action, Actor, decide
from vms.auth.sessions import Credential, Revoked
from vms.auth.throttle import ACCOUNT, ADDRESS, LoginThrottle, ThrottleSettings
from vms.clock import Clock
from vms.db.engine import Database, insert_missing
from vms.db.models import ApiToken, Officer, Role, User, WebSession
from vms.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)

TOKEN_PREFIX = "vms_"  # noqa: S105 (a prefix, not a secret)


# A session's last-seen time is written at most this often (not on every request).
SESSION_TOUCH = dt.timedelta(seconds=60)
# Expired sessions are deleted this long after their expiry.
SESSION_KEEP = dt.timedelta(days=1)

token_digest = sessions.digest

SCOPE_WORDS = {ADDRESS: "from this address", ACCOUNT: "for this account"}

# The live wall's layouts (tiles shown over WebRTC, issue 12.2) and the default.
WALL_LAYOUTS = (1, 4, 9, 16)
DEFAULT_WALL = 4
T = TypeVar("T")  # what a sign-in makes in its transaction (UserService._sign_in)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidArgument(
            f"unknown role {value!r} (one of: {', '.join(r.value for r in Role)})"
        ) from None


def checked_username(username: str) -> str:
    """``username`` without surrounding blanks; refused unless 1-64 printable characters."""
    username = username.strip()
    if not username or len(username) > 64 or not username.isprintable():
        raise InvalidArgument(f"username {username!r} must be 1-64 printable characters")
    return username


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Authenticated:
    """Who is calling, and with which credential (for logout and stream re-checks)."""

    actor: Actor
    credential: Credential


class UserService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        *,
        throttle: ThrottleSettings | None = None,
        token_hours: float = 24.0,
        session_hours: float = 12.0,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.throttle = LoginThrottle(audit, throttle or ThrottleSettings())
        self.token_lifetime = dt.timedelta(hours=token_hours)
        self.session_lifetime = dt.timedelta(hours=session_hours)

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
        username = checked_username(username)
        parsed_role = parse_role(role)
        password_hash = hash_password(password)
        try:
            return self._insert_user(
                username, parsed_role, password_hash, badge, supervisor, by, exist_ok
            )
        except IntegrityError:
            # Added by another process between our check and our insert (two admins, two
            # roles running ``vms init`` at once): the unique name refused ours (ACC-1).
            with self.db.session() as s:
                existing = s.execute(
                    select(User).where(User.username == username)
                ).scalar_one_or_none()
            if existing is None:
                raise
            if exist_ok:
                return existing
            raise Conflict(f"user {username!r} already exists") from None

    def _insert_user(
        self,
        username: str,
        parsed_role: Role,
        password_hash: str,
        badge: str | None,
        supervisor: str | None,
        by: Who,
        exist_ok: bool,
    ) -> User:
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
        return actor_of(session, user)

    def actor_by_id(self, user_id: int) -> Actor | None:
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None or not user.active:
                return None
            return self.actor_for(s, user)

    def _user(self, s: Session, username: str) -> User:
        user = None
        if "\x00" not in username:  # no stored name has one (PostgreSQL cannot hold it)
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise NotFound(f"user {username!r} does not exist")
        return user

    # -- sign-in ---------------------------------------------------------------------

    def authenticate(self, username: str, password: str, remote_addr: str) -> Actor:
        """Check a password, throttled per address and per account (vms.auth.throttle);
        every check is audited, refused tries in aggregate."""
        return self._sign_in(username, password, remote_addr, lambda s, actor: actor)

    def sign_in_session(self, username: str, password: str, remote_addr: str) -> tuple[Actor, str]:
        """:meth:`authenticate`, then a new server-side session (the random id the cookie
        carries), written in the transaction that checked the password with the user's
        row locked: a reset or a disable committed after the check revokes it, and one
        committed before refuses the sign-in (ACC-1)."""
        return self._sign_in(
            username,
            password,
            remote_addr,
            lambda s, actor: (actor, self._new_session(s, actor, remote_addr)),
        )

    def sign_in_token(self, username: str, password: str, remote_addr: str) -> IssuedToken:
        """:meth:`authenticate`, then a new API token, one transaction as
        :meth:`sign_in_session` (ACC-1)."""
        return self._sign_in(
            username, password, remote_addr, lambda s, actor: self._new_token(s, actor)
        )

    def _sign_in(
        self,
        username: str,
        password: str,
        remote_addr: str,
        then: Callable[[Session, Actor], T],
    ) -> T:
        if "\x00" in username:
            # No stored name has one, and PostgreSQL cannot hold it in the throttle key
            # or the audit entry of the try (the sign-in form answered 500).
            raise InvalidArgument("the username must not contain NUL characters", field="username")
        now = self.clock.now()
        with self.db.transaction() as s:
            refusal = self.throttle.admit(s, remote_addr, username, now)
        if refusal is not None:
            wait = max(1, math.ceil(refusal.retry_after.total_seconds()))
            raise RateLimited(
                f"too many failed sign-ins {SCOPE_WORDS[refusal.scope]}: wait {wait} s "
                "and try again",
                retry_after_seconds=wait,
            )

        with self.db.session() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
            stored = user.password_hash if user is not None and user.active else None
        ok = verify_password(stored, password)  # slow; outside any transaction

        with self.db.transaction() as s:
            if ok:  # disabled, removed or given a new password during the check?
                assert user is not None
                # Locked till the credential ``then`` writes is committed: a reset or a
                # disable after this waits and revokes it too (ACC-1).
                user = s.get(User, user.id, with_for_update=True)
                # A reset while the old password was being checked revoked every session
                # then; this sign-in must not open a new one with that password (ACC-1).
                ok = user is not None and user.active and user.password_hash == stored
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
                self.throttle.succeeded(s, remote_addr, username)
                if needs_rehash(user.password_hash):
                    user.password_hash = hash_password(password)
                self.audit.append(
                    s,
                    Who(user.username, user.role),
                    "auth.login",
                    f"user:{user.username}",
                    details={"remote_addr": remote_addr},
                )
                done = then(s, self.actor_for(s, user))
        if not ok:
            raise Unauthenticated("wrong username or password")
        return done

    def sweep_throttle(self) -> int:
        """The jobs role's periodic flush of aggregated refusals (vms.auth.throttle),
        which also deletes sessions a day past their expiry (a revoked session stays
        until then: its row is what makes a copied cookie worthless)."""
        now = self.clock.now()
        with self.db.transaction() as s:
            sessions.delete_expired(s, now - SESSION_KEEP)
        return self.throttle.sweep(self.db, now)

    # -- browser sessions and API tokens -------------------------------------------------

    def _still_active(self, s: Session, actor: Actor) -> None:
        """Before a new credential: ``actor``'s user is still active, its row locked
        (PostgreSQL; SQLite serialises writers) so a disable cannot commit in between
        and miss the new row (ACC-1). Unauthenticated otherwise."""
        user = s.execute(
            select(User).where(User.id == actor.user_id).with_for_update()
        ).scalar_one_or_none()
        if user is None or not user.active:
            raise Unauthenticated(f"user {actor.username!r} is disabled")

    def start_session(self, actor: Actor, remote_addr: str) -> str:
        """A new server-side session; returns the random id the cookie carries. A
        sign-in uses :meth:`sign_in_session` (the password's check and the session in one
        transaction)."""
        with self.db.transaction() as s:
            self._still_active(s, actor)
            return self._new_session(s, actor, remote_addr)

    def _new_session(self, s: Session, actor: Actor, remote_addr: str) -> str:
        return sessions.new_session(
            s, actor.user_id, remote_addr, self.clock.now(), self.session_lifetime
        )

    def authenticate_session(self, raw: str) -> Authenticated | None:
        """The user of a live session cookie id (its last-seen time kept per minute)."""
        now = self.clock.now()
        with self.db.session() as s:
            live = sessions.live_session(s, raw, now)
            if live is None:
                return None
            row, user = live
            found = Authenticated(
                self.actor_for(s, user), Credential(sessions.SESSION, row.id_hash, user.id)
            )
            stale = now - row.last_seen_at >= SESSION_TOUCH
        if stale:
            with self.db.transaction() as s:
                s.execute(
                    update(WebSession)
                    .where(WebSession.id_hash == found.credential.digest)
                    .values(last_seen_at=now)
                )
        return found

    def issue_token(self, actor: Actor) -> IssuedToken:
        """A new API token for ``actor`` (a sign-in uses :meth:`sign_in_token`)."""
        with self.db.transaction() as s:
            self._still_active(s, actor)
            return self._new_token(s, actor)

    def _new_token(self, s: Session, actor: Actor) -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = now + self.token_lifetime
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

    def authenticate_token(self, token: str) -> Authenticated | None:
        with self.db.session() as s:
            found = sessions.live_token(s, token, self.clock.now())
            if found is None:
                return None
            row, user = found
            return Authenticated(
                self.actor_for(s, user), Credential(sessions.TOKEN, row.token_hash, user.id)
            )

    def actor_for_token(self, token: str) -> Actor | None:
        found = self.authenticate_token(token)
        return found.actor if found is not None else None

    def authenticate_credential(self, kind: str, digest: str) -> Authenticated | None:
        """The user of a live session or token named by its stored digest: for a media
        node serving a request a web process authenticated and forwarded (issue 13.2,
        web/internal.py). None when it is unknown, revoked, expired or its user disabled."""
        with self.db.session() as s:
            now = self.clock.now()
            if kind == sessions.SESSION:
                session_row = s.get(WebSession, digest)
                user_id = session_row.user_id if session_row is not None else None
            elif kind == sessions.TOKEN:
                token_row = s.execute(
                    select(ApiToken).where(ApiToken.token_hash == digest)
                ).scalar_one_or_none()
                user_id = token_row.user_id if token_row is not None else None
            else:
                return None
            if user_id is None:
                return None
            credential = Credential(kind, digest, user_id)
            user = s.get(User, user_id)
            if user is None or not sessions.still_valid(s, credential, now):
                return None
            return Authenticated(self.actor_for(s, user), credential)

    def still_valid(self, credential: Credential) -> bool:
        """For long streams: is the credential they were opened with still good?"""
        with self.db.session() as s:
            return sessions.still_valid(s, credential, self.clock.now())

    # -- revocation ------------------------------------------------------------------

    def logout(self, actor: Actor, credential: Credential) -> None:
        """Revoke the credential of the calling request (session or token), audited."""
        with self.db.transaction() as s:
            if sessions.revoke(s, credential, self.clock.now()):  # not a repeat (ACC-6)
                self.audit.append(
                    s,
                    Who(actor.username, actor.role.value),
                    "auth.logout",
                    f"user:{actor.username}",
                    details={"credential": credential.kind},
                )

    def revoke_token(self, actor: Actor, token: str) -> None:
        """Revoke ``token``: the caller's own, or anyone's for users.manage (audited,
        refusals too: INV-4)."""
        caller = Who(actor.username, actor.role.value)
        with self.db.transaction() as s:
            row = s.execute(
                select(ApiToken).where(ApiToken.token_hash == token_digest(token))
            ).scalar_one_or_none()
            owner = s.get(User, row.user_id) if row is not None else None
            owner_name = owner.username if owner is not None else None
            if row is not None and (
                row.user_id == actor.user_id or decide(actor, Action.USERS_MANAGE).allowed
            ):
                # Audited when this call revoked it: a repeat (a retried DELETE, or one
                # sent at the same instant) answers the same and claims nothing (ACC-6).
                if sessions.revoke(
                    s, Credential(sessions.TOKEN, row.token_hash, row.user_id), self.clock.now()
                ):
                    self.audit.append(
                        s,
                        caller,
                        "auth.token.revoke",
                        f"user:{owner_name or row.user_id}",
                        details={"token_id": row.id},
                    )
                return
        # Whose token it was goes to the audit log only, never into the answer.
        self.audit.record(
            self.db,
            caller,
            "auth.token.revoke",
            f"user:{owner_name}" if owner_name is not None else "token:unknown",
            outcome="denied",
            details={"reason": "not a token of the caller's"},
        )
        # The same answer for unknown and foreign tokens: no token oracle.
        raise NotFound("no such token of yours")

    def revoke_credentials(
        self, username: str, by: Who, *, keep: Credential | None = None, reason: str = ""
    ) -> Revoked:
        """Revoke every session and token of ``username`` (but ``keep``), audited."""
        with self.db.transaction() as s:
            user = self._user(s, username)
            revoked = sessions.revoke_all(s, user.id, self.clock.now(), keep)
            self.audit.append(
                s,
                by,
                "user.revoke",
                f"user:{username}",
                details={
                    "sessions": revoked.sessions,
                    "tokens": revoked.tokens,
                    "reason": reason or "revoke",
                },
            )
        return revoked

    def set_password(
        self, username: str, password: str, by: Who, *, keep: Credential | None = None
    ) -> Revoked:
        """Set a new password and revoke the user's other sessions and tokens."""
        password_hash = hash_password(password)
        with self.db.transaction() as s:
            user = self._user(s, username)
            user.password_hash = password_hash
            revoked = sessions.revoke_all(s, user.id, self.clock.now(), keep)
            self.audit.append(
                s,
                by,
                "user.password",
                f"user:{username}",
                details={"sessions_revoked": revoked.sessions, "tokens_revoked": revoked.tokens},
            )
        return revoked

    def change_own_password(
        self, actor: Actor, current: str, new: str, credential: Credential, remote_addr: str
    ) -> Revoked:
        """A user's own change: the current password is required (checked like a
        sign-in: throttled and audited); the calling session or token stays, every
        other one is revoked."""
        try:
            self.authenticate(actor.username, current, remote_addr)
        except Unauthenticated:
            raise PermissionDenied("the current password is wrong") from None
        return self.set_password(
            actor.username, new, Who(actor.username, actor.role.value), keep=credential
        )

    def wall_layout(self, actor: Actor) -> int:
        """The live wall's layout ``actor`` chose (tiles), or the default."""
        with self.db.session() as s:
            user = s.get(User, actor.user_id)
            return user.wall_layout if user is not None and user.wall_layout else DEFAULT_WALL

    def set_wall_layout(self, actor: Actor, layout: int) -> int:
        """Save ``actor``'s wall layout (1, 4, 9 or 16 tiles); a preference, not
        audited. 400 naming the value for any other."""
        if layout not in WALL_LAYOUTS:
            raise InvalidArgument(
                f"layout must be one of {', '.join(map(str, WALL_LAYOUTS))}, not {layout}",
                field="layout",
            )
        with self.db.transaction() as s:
            user = s.get(User, actor.user_id)
            if user is None:
                raise NotFound(f"user {actor.username!r} does not exist")
            user.wall_layout = layout
        return layout

    def set_active(self, username: str, active: bool, by: Who) -> Revoked:
        """Disable (revoking every session and token, so enabling again does not revive
        them) or enable a user; audited."""
        with self.db.transaction() as s:
            user = self._user(s, username)
            user.active = active
            revoked = (
                sessions.revoke_all(s, user.id, self.clock.now())
                if not active
                else sessions.Revoked(0, 0)
            )
            self.audit.append(
                s,
                by,
                "user.enable" if active else "user.disable",
                f"user:{username}",
                details={"sessions_revoked": revoked.sessions, "tokens_revoked": revoked.tokens},
            )
        return revoked


def actor_of(session: Session, user: User) -> Actor:
    """``user`` as the permission table sees it: role, badge and the badges of the
    officers they supervise (ACC-8), read in ``session``."""
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


def ensure_officer(session: Session, badge: str, now: dt.datetime, name: str | None = None) -> None:
    if session.get(Officer, badge) is None:
        insert_missing(session, Officer, badge=badge, name=name, created_at=now)
