"""Writing, reading and verifying the audit log (INV-4, ACC-6).

:meth:`AuditLog.append` is called by services inside the transaction of the action it
records, so the action and its entry commit or roll back together. Writers serialise on
the single ``audit_head`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already serialises writers), so the chain never forks.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vms.audit.chain import Break, Link, link_hash, verify
from vms.audit.mentions import mentioned
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import AuditEntry, AuditHead, AuditMention
from vms.errors import DataLoss
from vms.urls import redact_json

SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class Who:
    """The actor of an audited action: a user, or a system process."""

    name: str
    role: str


def _link(entry: AuditEntry) -> Link:
    return Link(**{f.name: getattr(entry, f.name) for f in fields(Link)})


class AuditLog:
    def __init__(self, key: bytes, clock: Clock) -> None:
        self._key = key
        self._clock = clock

    def hold(self, session: Session) -> None:
        """Lock the chain's head now, until ``session``'s transaction ends (it is
        locked by :meth:`append` anyway). Every audited change writes its entry in its
        own transaction (INV-4), so from here on each such change has either committed
        (and is read by this transaction's later statements) or waits for this one, so
        a check made after it is not overtaken by, say, a restriction. Rows the audited
        changes lock before their entry (a revoked link) are to be locked before this."""
        session.execute(select(AuditHead.id).where(AuditHead.id == 1).with_for_update())

    def append(
        self,
        session: Session,
        who: Who,
        action: str,
        target: str,
        *,
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Add one entry in ``session``'s transaction (the caller commits)."""
        head = session.execute(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).scalar_one_or_none()
        if head is None:
            raise DataLoss("the audit head row is missing: the audit table was tampered with")
        link = Link(
            seq=head.seq + 1,
            at=self._clock.now(),
            actor=who.name,
            role=who.role,
            action=action,
            target=target[:200],
            # Kept forever: no URL password ever enters it, whoever the caller (#10.11).
            details=redact_json(details or {}),
            outcome=outcome,
            prev_hash=head.hash,
        )
        digest = link_hash(self._key, link)
        entry = AuditEntry(
            seq=link.seq,
            at=link.at,
            actor=link.actor,
            role=link.role,
            action=link.action,
            target=link.target,
            details=link.details,
            outcome=link.outcome,
            prev_hash=link.prev_hash,
            hash=digest,
        )
        session.add(entry)
        # The index of what the entry showed besides its target (ACC-6, mentions.py).
        session.add_all(
            AuditMention(target=t, seq=link.seq)
            for t in sorted(mentioned(link.target, link.details))
        )
        head.seq = link.seq
        head.hash = digest
        session.flush()
        return entry

    def record(
        self,
        db: Database,
        who: Who,
        action: str,
        target: str,
        *,
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append in a transaction of its own: for denials and failures, where the
        action itself did not happen."""
        with db.transaction() as session:
            self.append(session, who, action, target, outcome=outcome, details=details)

    def matches(self, link: Link, stored: str) -> bool:
        """Whether ``stored`` is ``link``'s keyed hash (the entry was not altered)."""
        return hmac.compare_digest(link_hash(self._key, link), stored)

    def verify(self, db: Database) -> Break | None:
        """The first broken link, or None when the whole chain is intact."""
        with db.session() as session:
            head_row = session.get(AuditHead, 1)
            head = (head_row.seq, head_row.hash) if head_row else None
            if head is None:
                return Break(0, "the audit head row is missing")
            try:
                return self._verify_rows(session, head, below=None)
            except (ValueError, TypeError):
                # A row SQL made unreadable (details not JSON, a date that is none): the
                # ORM fails while loading a batch, not naming the row. Find it, and any
                # break before it, rather than end in a traceback (INV-4).
                return self._first_unreadable(session, head)

    def _verify_rows(
        self, session: Session, head: tuple[int, str] | None, below: int | None
    ) -> Break | None:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if below is not None:
            query = query.where(AuditEntry.seq < below)
        rows = session.execute(query.execution_options(yield_per=2000)).scalars()
        try:
            return verify(self._key, ((_link(e), e.hash) for e in rows), head)
        finally:
            rows.close()  # verify stops at the first break: release the server cursor

    def _first_unreadable(self, session: Session, head: tuple[int, str] | None) -> Break:
        session.expunge_all()
        seqs = list(session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())
        for seq in seqs:
            try:
                session.execute(select(AuditEntry).where(AuditEntry.seq == seq)).scalar_one()
            except (ValueError, TypeError) as exc:
                session.expunge_all()
                before = self._verify_rows(session, None, below=seq)
                if before is not None:
                    return before
                return Break(seq, f"entry {seq} cannot be read ({type(exc).__name__}: {exc})")
            session.expunge_all()
        return Break(head[0] if head else 0, "an entry cannot be read")
