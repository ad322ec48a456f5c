"""Login throttling per address and per account, shared through the database (ACC-1).

The design and its reasoning are in docs/design/security.md, "Login throttling". In
short: each password check *reserves* a failure on the caller's address key and on the
account key in one write transaction before the slow argon2 check runs (so concurrent
tries can never check more than the budget), and a success gives its reservation back.
After ``free_failures`` failures a key backs off exponentially (``first_delay`` doubling
up to ``max_delay``); a key is forgotten after ``window`` without failures. The
address back-off always applies. The account back-off applies only to addresses that
have failed recently themselves, so the real user at a clean address still signs in
while their name is being attacked from elsewhere: nobody can lock an account out.
Refused tries are counted on the key and audited in aggregate, one entry per key per
window, never one per try.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vms.audit.log import AuditLog, Who
from vms.auth.sessions import CLOCK_SKEW
from vms.clock import isoformat
from vms.db.engine import Database
from vms.db.models import LoginThrottle as ThrottleRow

ADDRESS = "address"
ACCOUNT = "account"
THROTTLE_WHO = Who("login-throttle", "anonymous")
# The "account" of outsiders' share-link tries (retention.share_links): a name no user can
# have (usernames are stripped), so its key never meets a real account's.
SHARE_LINKS = " share links"


@dataclass(frozen=True)
class ThrottleSettings:
    """``free_failures`` per key before the back-off starts; ``window``: how long
    failures are remembered; ``first_delay`` doubling up to ``max_delay``."""

    free_failures: int = 5
    window: dt.timedelta = dt.timedelta(seconds=300)
    first_delay: dt.timedelta = dt.timedelta(seconds=1)
    max_delay: dt.timedelta = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Refusal:
    """A try refused without checking the password: which key, and for how long."""

    scope: str  # ADDRESS or ACCOUNT
    retry_after: dt.timedelta


def backoff(failures: int, settings: ThrottleSettings) -> dt.timedelta | None:
    """The wait after ``failures`` reserved failures: None within the free budget, then
    ``first_delay`` doubling per failure, capped at ``max_delay``. Pure."""
    over = failures - settings.free_failures
    if over < 0:
        return None
    if over >= 32:  # 2**32 seconds would be far past any cap; keep the float small
        return settings.max_delay
    return min(settings.max_delay, settings.first_delay * (2**over))


def address_key(remote_addr: str) -> str:
    return f"addr:{remote_addr[:64]}"


def account_key(username: str) -> str:
    return f"user:{username[:64]}"


class LoginThrottle:
    """Admission of password checks. Callers pass the session of a write transaction;
    :meth:`admit` commits with it (the reservation, or the refusal and its count)."""

    def __init__(self, audit: AuditLog, settings: ThrottleSettings) -> None:
        self.audit = audit
        self.settings = settings

    def _rows(self, s: Session, keys: list[str]) -> dict[str, ThrottleRow]:
        """The rows of ``keys``, created when missing, locked for this transaction
        (PostgreSQL row locks in key order; SQLite's BEGIN IMMEDIATE holds the whole
        database), so the read-decide-write below is atomic across processes."""
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        for key in keys:
            s.execute(
                insert(ThrottleRow)
                .values(key=key, failures=0, refused=0)
                .on_conflict_do_nothing(index_elements=["key"])
            )
        rows = s.execute(
            select(ThrottleRow)
            .where(ThrottleRow.key.in_(keys))
            .order_by(ThrottleRow.key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
        return {row.key: row for row in rows}

    def _decay(self, row: ThrottleRow, now: dt.datetime) -> None:
        if row.last_failure_at is not None and now - row.last_failure_at >= self.settings.window:
            row.failures = 0
            row.last_failure_at = None
        # Stamped by a clock that ran ahead and has been set back since (INV-7): a back-off
        # that long (a year for a year) is none this throttle ever set; forgotten.
        ahead = now + self.settings.max_delay + CLOCK_SKEW
        if (row.last_failure_at is not None and row.last_failure_at > ahead) or (
            row.next_allowed_at is not None and row.next_allowed_at > ahead
        ):
            row.failures = 0
            row.last_failure_at = None
            row.next_allowed_at = None
        if row.reported_at is not None and row.reported_at > ahead:
            row.reported_at = None  # the refusals since are reported at once, not in a year

    def admit(
        self, s: Session, remote_addr: str, username: str, now: dt.datetime
    ) -> Refusal | None:
        """Reserve one password check for ``remote_addr`` and ``username``, or refuse.

        A refusal is counted on the refusing key and audited in aggregate.
        """
        akey, ukey = address_key(remote_addr), account_key(username)
        rows = self._rows(s, [akey, ukey])
        addr, user = rows[akey], rows[ukey]
        self._decay(addr, now)
        self._decay(user, now)
        refusal: Refusal | None = None
        if addr.next_allowed_at is not None and now < addr.next_allowed_at:
            refusal = Refusal(ADDRESS, addr.next_allowed_at - now)
            self._refused(s, addr, now, username)
        elif addr.failures > 0 and user.next_allowed_at is not None and now < user.next_allowed_at:
            # The account back-off binds only addresses that failed recently: a clean
            # address (the real user) is never held back by someone else's guessing.
            refusal = Refusal(ACCOUNT, user.next_allowed_at - now)
            self._refused(s, user, now, username)
        if refusal is not None:
            return refusal
        for row in (addr, user):
            self._flush(s, row, now)  # refusals counted before this admitted try
            row.failures += 1
            row.last_failure_at = now
            delay = backoff(row.failures, self.settings)
            if delay is not None:
                row.next_allowed_at = now + delay
        return None

    def succeeded(self, s: Session, remote_addr: str, username: str) -> None:
        """Give back the reservation of a successful check (the back-off already set by
        earlier failures stays: signing in to one's own account does not buy an
        address new guesses at others)."""
        for row in self._rows(s, [address_key(remote_addr), account_key(username)]).values():
            row.failures = max(0, row.failures - 1)

    def _refused(self, s: Session, row: ThrottleRow, now: dt.datetime, username: str) -> None:
        row.refused += 1
        if row.refused_since is None:
            row.refused_since = now
        if row.reported_at is None or now - row.reported_at >= self.settings.window:
            self._report(s, row, now, username)

    def _flush(self, s: Session, row: ThrottleRow, now: dt.datetime) -> None:
        if row.refused and (
            row.reported_at is None or now - row.reported_at >= self.settings.window
        ):
            self._report(s, row, now, None)

    def _report(self, s: Session, row: ThrottleRow, now: dt.datetime, username: str | None) -> None:
        """One audit entry for the refusals counted on ``row`` since the last one."""
        details: dict[str, object] = {
            "reason": "rate limited",
            "refused": row.refused,
            "since": isoformat(row.refused_since),
            "window_seconds": int(self.settings.window.total_seconds()),
        }
        if username is not None:
            details["last_username"] = username[:64]
        self.audit.append(
            s, THROTTLE_WHO, "auth.throttle", row.key, outcome="denied", details=details
        )
        row.refused = 0
        row.refused_since = None
        row.reported_at = now

    def sweep(self, db: Database, now: dt.datetime) -> int:
        """Audit refusal counts older than a window and forget idle keys (the jobs
        role runs this every window). Returns the number of keys forgotten."""
        window = self.settings.window
        with db.transaction() as s:
            pending = s.execute(
                select(ThrottleRow)
                .where(
                    ThrottleRow.refused > 0,
                    or_(
                        ThrottleRow.reported_at.is_(None),
                        ThrottleRow.reported_at <= now - window,
                    ),
                )
                .order_by(ThrottleRow.key)
                .with_for_update()
            ).scalars()
            for row in pending:
                self._report(s, row, now, None)
            idle = now - window
            gone = s.execute(
                delete(ThrottleRow).where(
                    ThrottleRow.refused == 0,
                    or_(
                        ThrottleRow.last_failure_at.is_(None),
                        ThrottleRow.last_failure_at <= idle,
                    ),
                    or_(
                        ThrottleRow.next_allowed_at.is_(None),
                        ThrottleRow.next_allowed_at <= now,
                    ),
                    or_(ThrottleRow.reported_at.is_(None), ThrottleRow.reported_at <= idle),
                )
            )
        return int(cast(CursorResult[Any], gone).rowcount or 0)
