"""Case folders and retention (issue 15.3): an item added to a case by hand is kept while
the case is open, exactly as an item tagged with the case number (RET-5, INV-3); closing
the case lets it expire at its normal time; the link stays as history after a purge.
The service is called with its command values (never a dict)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import select

from retention.casefile import AddCaseItem, CaseFileService, CaseQuery, NewCase
from retention.commands import SetCaseState
from retention.plugin import Retention
from tests.retention.conftest import DAY, exists, ingest, item, open_case
from vms.auth.permissions import Actor
from vms.clock import ManualClock, isoformat
from vms.db.models import AuditEntry, SourceKind, User
from vms.errors import Conflict, PermissionDenied
from vms.services import Services


@pytest.fixture
def people(timed: Services) -> dict[str, Actor]:
    with timed.db.session() as s:
        return {u.username: timed.users.actor_for(s, u) for u in s.execute(select(User)).scalars()}


@pytest.fixture
def casefiles(timed: Services) -> CaseFileService:
    return timed.ports.get(CaseFileService)


def test_an_item_added_by_hand_is_kept_while_the_case_is_open_RET_5_INV_3(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    casefiles: CaseFileService,
    people: dict[str, Actor],
) -> None:
    bwc = ingest(
        timed, source=SourceKind.BWC, device="BWC-1", officer="B1", recorded_at=clock.now()
    )
    other = ingest(
        timed, source=SourceKind.BWC, device="BWC-1", officer="B1", recorded_at=clock.now()
    )
    investigator = people["investigator"]
    casefiles.create(investigator, NewCase("C-42"))
    view = casefiles.add_item(investigator, "C-42", AddCaseItem(bwc, "in the car park"))
    assert view.added and not view.tagged and view.note == "in the car park"
    assert view.expires_at is None and view.retention_rule == "RET-5 open case C-42"

    clock.advance(200 * DAY)  # far past RET-4's 90 days
    retention.purger.run()
    assert exists(timed, bwc), "an item of an open case was purged (INV-3)"
    assert not exists(timed, other)  # the same item, in no case, is gone

    # The data steward closes the case: the item expires at its normal time (RET-4)...
    retention.cases.set_state(people["commander"], "C-42", SetCaseState("closed"))
    row = item(timed, bwc)
    assert row is not None and row.retention_rule == "RET-4 bwc 90 days"
    retention.purger.run()
    assert not exists(timed, bwc)
    # ...and the case keeps the link as history.
    [gone] = casefiles.get(investigator, "C-42").items
    assert gone.media_id == bwc and gone.added and not gone.in_catalog
    assert casefiles.list_cases(investigator, CaseQuery(state="closed")).cases[0].item_count == 1


def test_reopening_by_the_steward_holds_hand_added_items_again_RET_5(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    casefiles: CaseFileService,
    people: dict[str, Actor],
) -> None:
    bwc = ingest(
        timed, source=SourceKind.BWC, device="BWC-1", officer="B1", recorded_at=clock.now()
    )
    casefiles.create(people["admin"], NewCase("C-9"))
    casefiles.add_item(people["admin"], "C-9", AddCaseItem(bwc))
    retention.cases.set_state(people["commander"], "C-9", SetCaseState("closed"))
    assert item(timed, bwc).retention_rule == "RET-4 bwc 90 days"  # type: ignore[union-attr]
    retention.cases.set_state(people["commander"], "C-9", SetCaseState("open"))
    assert item(timed, bwc).retention_rule == "RET-5 open case C-9"  # type: ignore[union-attr]
    # The recompute after a policy change agrees (it reads the hand-added links too).
    retention.expiry.recompute_all()
    assert item(timed, bwc).expires_at is None  # type: ignore[union-attr]


def test_opening_a_case_holds_the_items_already_tagged_with_it_RET_5(
    timed: Services, clock: ManualClock, casefiles: CaseFileService, people: dict[str, Actor]
) -> None:
    tagged = ingest(
        timed,
        source=SourceKind.BWC,
        device="BWC-1",
        officer="B1",
        recorded_at=clock.now(),
        case="T-1",
    )
    assert item(timed, tagged).retention_rule == "RET-4 bwc 90 days"  # type: ignore[union-attr]
    summary = casefiles.create(people["investigator"], NewCase("T-1"))
    assert summary.item_count == 1
    assert item(timed, tagged).retention_rule == "RET-5 open case T-1"  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="'T-1' already exists"):
        casefiles.create(people["commander"], NewCase("T-1"))


def test_commands_are_frozen_values_and_officers_are_refused(
    timed: Services, clock: ManualClock, casefiles: CaseFileService, people: dict[str, Actor]
) -> None:
    command = AddCaseItem("x", "note")
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.note = "changed"  # type: ignore[misc]
    with pytest.raises(PermissionDenied, match="officer"):
        casefiles.create(people["officer"], NewCase("O-1"))


def test_an_item_restricted_while_it_is_added_to_a_case_is_not_added_ACC_7(
    timed: Services,
    clock: ManualClock,
    casefiles: CaseFileService,
    people: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The investigator adds an item to a case at the moment an admin restricts it
    (ACC-7: administration only). The right to tag the item (media.edit) was decided on
    the item as read before the transaction, so the link was made and audited after the
    restriction that forbids the investigator the item. It is refused (403, audited) as
    one sent after the restriction is."""
    from tests.races import restricted_after_check
    from vms.auth.permissions import Action
    from vms.db.models import AuditEntry, CaseItem

    bwc = ingest(
        timed, source=SourceKind.BWC, device="BWC-1", officer="B1", recorded_at=clock.now()
    )
    investigator = people["investigator"]
    casefiles.create(investigator, NewCase("C-7"))
    armed = restricted_after_check(
        monkeypatch, timed, casefiles.authoriser, Action.MEDIA_EDIT, people["admin"], bwc
    )
    with pytest.raises(PermissionDenied, match="ACC-7"):
        casefiles.add_item(investigator, "C-7", AddCaseItem(bwc, "seen on the corner"))
    assert not armed[0]
    with timed.db.session() as s:
        assert s.execute(select(CaseItem.media_id)).first() is None
        assert not s.execute(
            select(AuditEntry.seq).where(AuditEntry.action == "case.item_add")
        ).first()
        assert s.execute(
            select(AuditEntry.seq).where(
                AuditEntry.action == "media.edit", AuditEntry.outcome == "denied"
            )
        ).first()


def test_the_open_case_form_sent_again_is_answered_with_the_case_it_opened_RET_5_ACC_6(
    timed: Services, casefiles: CaseFileService, people: dict[str, Actor]
) -> None:
    """ACC-6: the page form's one-time key (``NewCase.form_key``) tells the form sent
    again from a second attempt: the first is answered with the case, audited once; the
    second (another key, no key, another user with the key) is refused (409)."""
    investigator = people["investigator"]
    first = casefiles.create(investigator, NewCase("K-2", form_key="key-1"))
    assert casefiles.create(investigator, NewCase("K-2", form_key="key-1")) == first
    for user, key in (("investigator", "key-2"), ("investigator", None), ("commander", "key-1")):
        with pytest.raises(Conflict, match="'K-2' already exists"):
            casefiles.create(people[user], NewCase("K-2", form_key=key))
    with timed.db.session() as s:
        created = s.execute(select(AuditEntry).where(AuditEntry.action == "case.create"))
        assert [e.details.get("form_key") for e in created.scalars()] == ["key-1"]


def test_the_add_item_form_sent_again_is_answered_with_the_item_it_added_RET_5_ACC_6(
    timed: Services, clock: ManualClock, casefiles: CaseFileService, people: dict[str, Actor]
) -> None:
    """ACC-6: ``AddCaseItem.form_key`` tells the page form sent again from a second
    attempt: the first is answered with the item, added and audited once; another key,
    no key or another user is refused (409)."""
    bwc = ingest(
        timed, source=SourceKind.BWC, device="BWC-1", officer="B1", recorded_at=clock.now()
    )
    investigator = people["investigator"]
    casefiles.create(investigator, NewCase("K-3"))
    first = casefiles.add_item(investigator, "K-3", AddCaseItem(bwc, "seen", form_key="key-1"))
    again = casefiles.add_item(investigator, "K-3", AddCaseItem(bwc, "seen", form_key="key-1"))
    assert again == first and again.added and again.note == "seen"
    for user, key in (("investigator", "key-2"), ("investigator", None), ("admin", "key-1")):
        with pytest.raises(Conflict, match="is already in case 'K-3'"):
            casefiles.add_item(people[user], "K-3", AddCaseItem(bwc, "seen", form_key=key))
    with timed.db.session() as s:
        added = s.execute(select(AuditEntry).where(AuditEntry.action == "case.item_add"))
        assert [e.details.get("form_key") for e in added.scalars()] == ["key-1"]


def test_closing_a_closed_case_changes_nothing_RET_5_ACC_6(
    timed: Services, retention: Retention, clock: ManualClock, people: dict[str, Actor]
) -> None:
    """RET-5, ACC-6: a case closed again (a double-clicked "Close case", a retry) kept
    its first close time: the second close moved ``closed_at`` to its own time and was
    audited again, changing a fact of the evidence record. Now closing a closed case (or
    reopening an open one) changes nothing: a 409 names the state, when and by whom it
    was set; the same form sent again (``SetCaseState.form_key``) is answered with the
    first answer, changed and audited once."""
    commander = people["commander"]
    open_case(timed, people["admin"], "K-7")
    closed = retention.cases.set_state(commander, "K-7", SetCaseState("closed"))
    clock.advance(60)
    with pytest.raises(Conflict, match=r"'K-7' is already closed \(since .*, by commander\)"):
        retention.cases.set_state(people["admin"], "K-7", SetCaseState("closed"))
    reopened_at = isoformat(clock.now())  # not its first opening's time: since the reopening
    opened = retention.cases.set_state(commander, "K-7", SetCaseState("open", form_key="key-1"))
    clock.advance(60)
    assert retention.cases.set_state(commander, "K-7", SetCaseState("open", "key-1")) == opened
    since = re.escape(f"'K-7' is already open (since {reopened_at}, by commander)")
    for user, key in (("commander", "key-2"), ("commander", None), ("admin", "key-1")):
        with pytest.raises(Conflict, match=since):
            retention.cases.set_state(people[user], "K-7", SetCaseState("open", form_key=key))
    again = retention.cases.set_state(commander, "K-7", SetCaseState("closed", "key-3"))
    assert again.closed_at == clock.now() and again.closed_at != closed.closed_at
    # The reopening form sent once more after the case was closed again: not reopened.
    with pytest.raises(Conflict, match=r"reopened 'K-7' already; it is closed now \(since"):
        retention.cases.set_state(commander, "K-7", SetCaseState("open", form_key="key-1"))
    with timed.db.session() as s:
        changes = s.execute(
            select(AuditEntry.action, AuditEntry.at)
            .where(AuditEntry.target == "case:K-7", AuditEntry.action != "case.view")
            .order_by(AuditEntry.seq)
        ).all()
        assert [a for a, _ in changes] == ["case.create", "case.close", "case.open", "case.close"]
        assert changes[1].at == closed.closed_at
