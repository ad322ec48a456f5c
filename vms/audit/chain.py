"""Audit-chain hashing (pure: no I/O). Format in docs/design/audit-chain.md.

Each entry's hash is an HMAC-SHA256, under the installation's audit key, of the entry's
canonical JSON, which includes the previous entry's hash. Changing, deleting or
reordering any row breaks the chain at that row (INV-4); without the key, which lives
outside the database, nobody with only database access can forge a consistent chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vms.audit.verify_export import canonical_entry

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Link:
    """The fields of one audit entry that the chain covers."""

    seq: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    target: str
    details: dict[str, Any]
    outcome: str
    prev_hash: str


def canonical(link: Link) -> bytes:
    """The bytes that are hashed: sorted-key compact JSON, time in UTC microseconds (one
    implementation, shared with the standalone export verifier)."""
    return canonical_entry(link_fields(link))


def link_fields(link: Link) -> dict[str, Any]:
    """``link`` as the JSON fields of an exported entry (without its hash)."""
    at = link.at.astimezone(dt.UTC)
    return {
        "seq": link.seq,
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": link.actor,
        "role": link.role,
        "action": link.action,
        "target": link.target,
        "details": link.details,
        "outcome": link.outcome,
        "prev_hash": link.prev_hash,
    }


def link_hash(key: bytes, link: Link) -> str:
    return hmac.new(key, canonical(link), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Break:
    """Where and why the chain is broken."""

    seq: int
    reason: str


def verify(
    key: bytes, entries: Iterable[tuple[Link, str]], head: tuple[int, str] | None
) -> Break | None:
    """Walk ``(link, stored_hash)`` pairs in ``seq`` order; return the first break or None.

    ``head`` is the recorded (last seq, last hash); it catches entries deleted from the
    end of the chain.
    """
    expected_seq = 1
    prev = GENESIS_HASH
    for link, stored in entries:
        if link.seq != expected_seq:
            if link.seq > expected_seq:
                return Break(expected_seq, f"entry {expected_seq} is missing (next is {link.seq})")
            return Break(link.seq, f"entry {link.seq} is out of order")
        if link.prev_hash != prev:
            return Break(link.seq, f"entry {link.seq} does not link to entry {link.seq - 1}")
        if not hmac.compare_digest(link_hash(key, link), stored):
            return Break(link.seq, f"entry {link.seq} was altered (hash mismatch)")
        prev = stored
        expected_seq += 1
    last_seq = expected_seq - 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq != last_seq:
            return Break(
                last_seq + 1,
                f"the chain ends at entry {last_seq} but the head records entry {head_seq}",
            )
        if head_hash != prev:
            return Break(last_seq, f"entry {last_seq} does not match the recorded head hash")
    return None
