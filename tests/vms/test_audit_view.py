"""The audit-view service (ACC-6, PSCS-5) on SQLite and PostgreSQL: who may read the
log, the query (action families, actor, target, time, paging backwards) and the values
it returns."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from vms.audit.log import Who
from vms.audit.view import AuditQuery, AuditRecord
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry
from vms.errors import InvalidArgument, PermissionDenied
from vms.services import Services


def _write(services: Services) -> None:
    for i in range(5):
        services.audit.record(
            services.db, Who("ana", "dispatcher"), "ptz.command", f"camera:c{i % 2}"
        )
    services.audit.record(services.db, Who("bo", "officer"), "ptz", "camera:c0")
    services.audit.record(services.db, Who("bo", "officer"), "ptzx.other", "camera:c0")


def test_query_by_action_family_actor_and_target_newest_first_ACC_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    _write(services)
    view = services.audit_view
    auditor = actors["auditor"]

    page = view.search(auditor, AuditQuery(action="ptz", limit=1000))
    # "ptz" is the family: ptz and ptz.command, never ptzx.other.
    assert {e.action for e in page.entries} == {"ptz", "ptz.command"}
    assert [e.seq for e in page.entries] == sorted((e.seq for e in page.entries), reverse=True)
    assert all(isinstance(e, AuditRecord) for e in page.entries)
    assert page.next_before_seq is None  # not a full page

    by_ana = view.search(auditor, AuditQuery(actor="ana", target="camera:c1"))
    assert [(e.actor, e.target) for e in by_ana.entries] == [("ana", "camera:c1")] * 2


def test_pages_backwards_with_before_seq(services: Services, actors: dict[str, Actor]) -> None:
    _write(services)
    view = services.audit_view
    auditor = actors["auditor"]
    first = view.search(auditor, AuditQuery(action="ptz.command", limit=3))
    assert len(first.entries) == 3 and first.next_before_seq == first.entries[-1].seq
    rest = view.search(
        auditor, AuditQuery(action="ptz.command", before_seq=first.next_before_seq, limit=3)
    )
    assert len(rest.entries) == 2 and rest.next_before_seq is None
    seqs = [e.seq for e in first.entries + rest.entries]
    assert len(set(seqs)) == 5 and seqs == sorted(seqs, reverse=True)


def test_refusal_is_audited_and_bad_limits_name_the_value_ACC_1(
    services: Services, actors: dict[str, Actor]
) -> None:
    with pytest.raises(PermissionDenied):
        services.audit_view.search(actors["officer"], AuditQuery())
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(AuditEntry.outcome == "denied", AuditEntry.target == "audit")
        ).scalar_one()
    assert (denied.actor, denied.action) == ("officer", "audit.read")
    for limit in (0, 1001):
        with pytest.raises(InvalidArgument, match=f"not {limit}"):
            services.audit_view.search(actors["auditor"], AuditQuery(limit=limit))


def test_reading_the_log_is_audited_after_the_read_ACC_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    _write(services)
    page = services.audit_view.search(actors["auditor"], AuditQuery(actor="ana", limit=2))
    assert [e.action for e in page.entries] == ["ptz.command"] * 2  # not its own entry
    with services.db.session() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert (last.actor, last.role, last.action, last.target, last.outcome) == (
        "auditor",
        "auditor",
        "audit.read",
        "audit",
        "ok",
    )
    assert last.details == {
        "what": "log",
        "action": None,
        "actor": "ana",
        "target": None,
        "target_type": None,
        "start": None,
        "end": None,
        "before_seq": None,
        "rows": 2,
    }
    # The next page shows the reading.
    again = services.audit_view.search(actors["auditor"], AuditQuery(action="audit.read"))
    assert [e.seq for e in again.entries] == [last.seq]
