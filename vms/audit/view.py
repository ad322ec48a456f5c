"""Reading the audit log for auditors (ACC-6, PSCS-5): the one place the log's query is
answered, for the API (``GET /api/v1/audit``), the audit page and any later reader.

:class:`AuditViewService` takes a frozen :class:`AuditQuery` and the actor, checks the
``audit.read`` permission (refusals are audited, ACC-1), writes the audit entry of the
reading itself in a transaction of its own (ACC-6: reading the audit is audited, as the
PTZ audit of ``onvif_control.ptz_audit`` always did) and returns :class:`AuditRecord`
values; serialising them is the web layer's job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import CompoundSelect, Select, select, union_all
from sqlalchemy.orm import Session

from vms.audit.chain import Link
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.bounded import check_window
from vms.clock import isoformat
from vms.db.engine import Database
from vms.db.models import AuditEntry, AuditMention
from vms.errors import InvalidArgument

MAX_LIMIT = 1000


def check_limit(limit: int) -> None:
    """Refuse a page size outside ``1..MAX_LIMIT``, naming the value."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1..{MAX_LIMIT}, not {limit}")


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to read, newest first; ``before_seq`` pages backwards."""

    action: str | None = None
    actor: str | None = None
    target: str | None = None
    target_type: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    before_seq: int | None = None
    limit: int = 100


@dataclass(frozen=True)
class AuditRecord(Link):
    """One audit entry as read (a value: no database session behind it): the fields the
    chain covers and the entry's own hash."""

    hash: str


@dataclass(frozen=True)
class AuditPage:
    """Entries of one read, newest first; ``next_before_seq`` continues backwards when
    the page was full (None at the end of the log)."""

    entries: tuple[AuditRecord, ...]
    next_before_seq: int | None


def _filtered(stmt: Select[Any], query: AuditQuery) -> Select[Any]:
    """``stmt`` (over ``audit_entries``) narrowed by every filter of ``query`` but the
    target."""
    if query.action:
        # "ptz" matches "ptz.command", "ptz.session" ...: families of actions.
        stmt = stmt.where(
            (AuditEntry.action == query.action) | AuditEntry.action.startswith(query.action + ".")
        )
    if query.actor:
        stmt = stmt.where(AuditEntry.actor == query.actor)
    if query.target_type:
        stmt = stmt.where(AuditEntry.target.startswith(query.target_type + ":", autoescape=True))
    if query.start:
        stmt = stmt.where(AuditEntry.at >= query.start)
    if query.end:
        stmt = stmt.where(AuditEntry.at < query.end)
    if query.before_seq is not None:
        stmt = stmt.where(AuditEntry.seq < query.before_seq)
    return stmt


def _touching(query: AuditQuery, target: str) -> CompoundSelect[Any]:
    """The seqs of the newest ``query.limit`` entries about ``target`` (its own and
    those that showed it, ACC-6), each side walked newest first on its own index:
    ``ix_audit_entries_target`` and ``audit_mentions``' primary key (target, seq).

    Written as ``target = ? OR seq IN (mentions)`` the databases cannot use either
    index for it and read the whole log backwards, filtering every entry (PSCS-5: the
    misuse question an auditor asks most costs a scan of millions of rows)."""
    own = (
        _filtered(select(AuditEntry.seq), query)
        .where(AuditEntry.target == target)
        .order_by(AuditEntry.seq.desc())
        .limit(query.limit)
        .subquery()
    )
    shown = (
        _filtered(select(AuditMention.seq), query)
        .join(AuditEntry, AuditEntry.seq == AuditMention.seq)
        .where(AuditMention.target == target)
        .order_by(AuditMention.seq.desc())
        .limit(query.limit)
        .subquery()
    )
    return union_all(select(own.c.seq), select(shown.c.seq))


def search(session: Session, query: AuditQuery) -> list[AuditEntry]:
    """Entries matching ``query``, newest first; ``before_seq`` pages backwards."""
    if query.target:
        # Everything that touched it: its own entries and those that showed it (ACC-6).
        stmt = select(AuditEntry).where(AuditEntry.seq.in_(_touching(query, query.target)))
    else:
        stmt = _filtered(select(AuditEntry), query)
    stmt = stmt.order_by(AuditEntry.seq.desc()).limit(query.limit)
    return list(session.execute(stmt).scalars())


def record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(**{f.name: getattr(entry, f.name) for f in fields(AuditRecord)})


class AuditViewService:
    def __init__(self, db: Database, audit: AuditLog, authoriser: Authoriser) -> None:
        self.db = db
        self.audit = audit
        self.authoriser = authoriser

    def authorise(self, actor: Actor) -> None:
        """Raise PermissionDenied (audited) unless ``actor`` may read the audit log
        (ACC-1); callers that validate a query first call this before, so a refusal
        outranks a bad filter."""
        self.authoriser.require(actor, Action.AUDIT_READ, "audit")

    def search(self, actor: Actor, query: AuditQuery) -> AuditPage:
        """The entries matching ``query`` that ``actor`` (``audit.read``) asked for; the
        reading is audited after it (``audit.read`` on ``audit``: the query and the
        number of rows), so a page never shows its own entry."""
        self.authorise(actor)
        check_limit(query.limit)
        check_window(query.start, query.end)  # PSCS-5: not "nothing happened" in silence
        with self.db.session() as s:
            entries = tuple(record(e) for e in search(s, query))
        # ACC-6: who read which part of the log, in a transaction of its own.
        self.audit.record(
            self.db, who(actor), "audit.read", "audit", details=_query_json(query, len(entries))
        )
        full = len(entries) == query.limit
        return AuditPage(entries, entries[-1].seq if full and entries else None)


def _query_json(query: AuditQuery, rows: int) -> dict[str, Any]:
    return {
        "what": "log",
        "action": query.action,
        "actor": query.actor,
        "target": query.target,
        "target_type": query.target_type,
        "start": isoformat(query.start),
        "end": isoformat(query.end),
        "before_seq": query.before_seq,
        "rows": rows,
    }
