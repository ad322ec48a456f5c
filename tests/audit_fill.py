"""Many audit entries at once, chained as :meth:`AuditLog.append` chains them (same key,
same hashes, mentions indexed), in one bulk INSERT: tests of cost at agency scale need
tens of thousands of entries, which one transaction per entry would take minutes to
write."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from vms.audit.chain import Link, link_hash
from vms.audit.mentions import mentioned
from vms.db.models import AuditEntry, AuditHead, AuditMention
from vms.services import Services


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    action: str
    target: str
    actor: str = "filler"
    role: str = "investigator"
    outcome: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)


def fill(services: Services, entries: Iterable[Entry]) -> int:
    """Append ``entries`` to the chain in one transaction; the last seq written."""
    key = services.audit._key
    with services.db.transaction() as s:
        head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
        seq, prev = head.seq, head.hash
        rows: list[dict[str, Any]] = []
        mentions: list[dict[str, Any]] = []
        for e in entries:
            seq += 1
            link = Link(seq, e.at, e.actor, e.role, e.action, e.target, e.details, e.outcome, prev)
            prev = link_hash(key, link)
            rows.append({**link.__dict__, "hash": prev})
            mentions.extend({"target": t, "seq": seq} for t in mentioned(e.target, e.details))
        if rows:
            s.execute(insert(AuditEntry), rows)
        if mentions:
            s.execute(insert(AuditMention), mentions)
        head.seq, head.hash = seq, prev
    return seq
