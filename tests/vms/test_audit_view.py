"""The audit-view service (ACC-6, PSCS-5) on SQLite and PostgreSQL: who may read the
log, the query (action families, actor, target, time, paging backwards) and the values
it returns."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.audit_fill import Entry, fill
from tests.statements import analyze, captured, rows_read
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


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_what_touched_one_item_is_read_from_its_entries_not_the_whole_log_PSCS_5(
    services: Services, actors: dict[str, Actor]
) -> None:
    """PSCS-5, ACC-6: "everything that touched media m-1" walks the target's index and
    the mentions' index, so it costs the same in a log of 20,000 entries as in one of 20.
    It read the log backwards from the newest entry, filtering each against the target
    and the mentions (594 ms in a log of 500,000, bench/bench_catalog_scale.py)."""
    t0 = services.clock.now()
    fill(
        services,
        [
            Entry(t0, "media.view", "media:m-1"),
            Entry(t0, "media.search", "catalog", details={"media_ids": ["m-1", "m-2"]}),
        ],
    )
    fill(services, (Entry(t0, "ptz.command", f"camera:c{i % 40}") for i in range(20_000)))
    analyze(services.db.engine)
    with captured(services.db.engine) as sent:
        page = services.audit_view.search(actors["auditor"], AuditQuery(target="media:m-1"))
    assert [(e.action, e.target) for e in page.entries] == [
        ("media.search", "catalog"),
        ("media.view", "media:m-1"),
    ]
    ((statement, parameters),) = sent.matching("FROM audit_entries")
    read = rows_read(services.db.engine, statement, parameters, "audit_entries")
    assert read <= 10, f"the search read {read} audit entries to find 2"
