"""PTZ arbitration: who controls a camera, and when someone else may take over.

Pure (STYLE practice 2): values in, a decision out, ``now`` passed in (INV-7); the PTZ
service applies the decision in a transaction and audits it (INV-6). The rules
(docs/design/ptz-arbitration.md, numbered there):

A1. One controller per camera: at most one open session.
A2. A session idle (no command) for ``idle_seconds`` has expired; an expired session
    is no obstacle. Maintenance reservations do not expire; they end by release.
A3. The holder asking again replaces their own session (a page reload, a new purpose).
A4. A maintenance reservation (admins only) displaces anyone, and only an admin
    reservation can displace a reservation.
A5. Otherwise a strictly higher role priority takes over; equal or lower priority is
    refused, naming the holder (HTTP 409).
A6. The holder releases their own session; an admin may release anyone's.

Also the per-session command rate limit, a token bucket.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace


class Verdict(enum.StrEnum):
    GRANT = "grant"  # nobody (or an expired session) holds the camera
    REPLACE_OWN = "replace_own"  # A3
    TAKE_OVER = "take_over"  # A4, A5
    REFUSE = "refuse"


@dataclass(frozen=True)
class Holder:
    """The open session of a camera as arbitration sees it."""

    session_id: str
    username: str
    role: str
    priority: int
    last_activity_at: dt.datetime
    reservation: bool = False


@dataclass(frozen=True)
class Claim:
    """Someone asking for control."""

    username: str
    role: str
    priority: int
    reservation: bool = False


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    displaced: Holder | None = None

    @property
    def granted(self) -> bool:
        return self.verdict is not Verdict.REFUSE


def parse_priorities(text: str) -> dict[str, int]:
    """``"admin=100,supervisor=80"`` -> ``{"admin": 100, "supervisor": 80}``."""
    out: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        role, sep, value = part.partition("=")
        if not sep or not role.strip():
            raise ValueError(f"role priority {part!r} is not role=number")
        try:
            out[role.strip()] = int(value)
        except ValueError:
            raise ValueError(f"role priority {part!r}: {value!r} is not a whole number") from None
    return out


def priority_of(role: str, priorities: Mapping[str, int]) -> int:
    """A role's take-over priority; roles not listed have 0 (never take over)."""
    return priorities.get(role, 0)


def expires_at(holder: Holder, idle_seconds: float) -> dt.datetime | None:
    """When the session expires if no command comes; None for reservations (A2)."""
    if holder.reservation:
        return None
    return holder.last_activity_at + dt.timedelta(seconds=idle_seconds)


def is_expired(holder: Holder, now: dt.datetime, idle_seconds: float) -> bool:
    """A2."""
    end = expires_at(holder, idle_seconds)
    return end is not None and now >= end


def decide(holder: Holder | None, claim: Claim, now: dt.datetime, idle_seconds: float) -> Decision:
    """May ``claim`` get control of a camera now held by ``holder``? Always says why."""
    if holder is None:
        return Decision(Verdict.GRANT, "the camera is free (A1)")
    if is_expired(holder, now, idle_seconds):
        return Decision(
            Verdict.GRANT, f"the session of {holder.username} had expired (A2)", displaced=holder
        )
    if holder.username == claim.username:
        return Decision(Verdict.REPLACE_OWN, "replaces your own earlier session (A3)", holder)
    if holder.reservation and not claim.reservation:
        return Decision(
            Verdict.REFUSE,
            f"the camera is reserved for maintenance by {holder.username} (A4)",
            holder,
        )
    if claim.reservation:
        return Decision(
            Verdict.TAKE_OVER,
            f"maintenance reservation by {claim.username} displaces {holder.username} (A4)",
            holder,
        )
    if claim.priority > holder.priority:
        return Decision(
            Verdict.TAKE_OVER,
            f"{claim.role} (priority {claim.priority}) takes over from {holder.username}, "
            f"{holder.role} (priority {holder.priority}) (A5)",
            holder,
        )
    return Decision(
        Verdict.REFUSE,
        f"the camera is controlled by {holder.username} ({holder.role}, priority "
        f"{holder.priority}); priority {claim.priority} cannot take over (A5)",
        holder,
    )


def may_release(holder: Holder, username: str, is_admin: bool) -> bool:
    """A6."""
    return holder.username == username or is_admin


# -- rate limit -------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """A token bucket: ``tokens`` left at time ``at``."""

    tokens: float
    at: dt.datetime


def take(bucket: Bucket | None, now: dt.datetime, rate: float, burst: float) -> tuple[bool, Bucket]:
    """Take one token: (allowed, new bucket). Refills ``rate`` tokens per second up to
    ``burst``; a new bucket starts full."""
    if bucket is None:
        bucket = Bucket(burst, now)
    elapsed = max(0.0, (now - bucket.at).total_seconds())
    tokens = min(burst, bucket.tokens + elapsed * rate)
    if tokens >= 1.0:
        return True, Bucket(tokens - 1.0, now)
    return False, replace(bucket, tokens=tokens, at=now)


def refilled(bucket: Bucket, now: dt.datetime, rate: float, burst: float) -> bool:
    """Whether ``bucket`` is back to ``burst`` tokens at ``now``: the same as no bucket
    (a new one starts full), so it can be forgotten."""
    elapsed = max(0.0, (now - bucket.at).total_seconds())
    return bucket.tokens + elapsed * rate >= burst
