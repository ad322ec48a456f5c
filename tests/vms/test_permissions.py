"""The pure permission table (ACC-1, ACC-2, ACC-7, ACC-8)."""

from __future__ import annotations

from vms.auth.permissions import Action, Actor, ItemFacts, decide
from vms.db.models import Role

OFFICER = Actor(1, "o", Role.OFFICER, badge="B1")
OTHER = Actor(2, "x", Role.OFFICER, badge="B2")
SERGEANT = Actor(3, "s", Role.SUPERVISOR, badge="S1", supervised_badges=frozenset({"B1"}))
ADMIN = Actor(4, "a", Role.ADMIN)
INVESTIGATOR = Actor(5, "i", Role.INVESTIGATOR)
AUDITOR = Actor(6, "u", Role.AUDITOR)
DISPATCHER = Actor(7, "d", Role.DISPATCHER)
B1 = ItemFacts(officer_badge="B1", restricted=False)
B1_LOCKED = ItemFacts(officer_badge="B1", restricted=True)


def test_officers_view_only_their_own_ACC_2() -> None:
    assert decide(OFFICER, Action.MEDIA_VIEW, B1).allowed
    refused = decide(OTHER, Action.MEDIA_VIEW, B1)
    assert not refused.allowed and "ACC-2" in refused.reason


def test_supervisors_view_their_officers_ACC_8() -> None:
    assert decide(SERGEANT, Action.MEDIA_VIEW, B1).allowed
    assert not decide(SERGEANT, Action.MEDIA_VIEW, ItemFacts("B2", False)).allowed


def test_restricted_items_only_for_administration_ACC_7() -> None:
    for actor in (OFFICER, SERGEANT, INVESTIGATOR):
        decision = decide(actor, Action.MEDIA_VIEW, B1_LOCKED)
        assert not decision.allowed and "ACC-7" in decision.reason
    assert decide(ADMIN, Action.MEDIA_VIEW, B1_LOCKED).allowed


def test_auditors_read_audit_and_metadata_never_content_ACC_1() -> None:
    assert decide(AUDITOR, Action.AUDIT_READ).allowed
    assert decide(AUDITOR, Action.MEDIA_SEARCH, B1).allowed
    assert not decide(AUDITOR, Action.MEDIA_VIEW, B1).allowed


def test_dispatchers_get_live_and_ptz_but_not_the_catalog() -> None:
    assert decide(DISPATCHER, Action.LIVE_VIEW).allowed
    assert decide(DISPATCHER, Action.PTZ_CONTROL).allowed
    assert not decide(DISPATCHER, Action.MEDIA_SEARCH).allowed
    assert not decide(OFFICER, Action.PTZ_CONTROL).allowed


def test_every_refusal_has_a_reason() -> None:
    for actor in (OFFICER, OTHER, SERGEANT, ADMIN, INVESTIGATOR, AUDITOR, DISPATCHER):
        for action in Action:
            for item in (None, B1, B1_LOCKED):
                decision = decide(actor, action, item)
                assert decision.reason
