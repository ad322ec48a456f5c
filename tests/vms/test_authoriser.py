"""The one authoriser (vms/auth/authoriser.py): the pure table's decision, refusals audited
(ACC-1, ACC-6, INV-4), item-scoped rules (ACC-2, ACC-7, ACC-8), one instance everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from vms.auth.authoriser import Authoriser
from vms.auth.permissions import Action, Actor, ItemFacts, decide
from vms.db.models import AuditEntry, Role
from vms.errors import PermissionDenied
from vms.services import Services

OFFICER = Actor(1, "olive", Role.OFFICER, badge="B1")
OTHER_OFFICER = Actor(2, "oscar", Role.OFFICER, badge="B2")
SERGEANT = Actor(3, "sam", Role.SUPERVISOR, badge="S1", supervised_badges=frozenset({"B1"}))
ADMIN = Actor(4, "ada", Role.ADMIN)
INVESTIGATOR = Actor(5, "ivy", Role.INVESTIGATOR)
AUDITOR = Actor(6, "aud", Role.AUDITOR)
DISPATCHER = Actor(7, "dot", Role.DISPATCHER)
COMMANDER = Actor(8, "cmd", Role.RECORDS_COMMANDER)

B1 = ItemFacts(officer_badge="B1", restricted=False)
B2 = ItemFacts(officer_badge="B2", restricted=False)
B1_LOCKED = ItemFacts(officer_badge="B1", restricted=True)


@dataclass(frozen=True)
class Case:
    actor: Actor
    action: Action
    target: str
    item: ItemFacts | None
    # None: allowed; otherwise a fragment of the refusal's reason (the rule it cites).
    refused_for: str | None


CASES = [
    # Role-only checks (ACC-1).
    Case(DISPATCHER, Action.PTZ_CONTROL, "camera:c1", None, None),
    Case(OFFICER, Action.PTZ_CONTROL, "camera:c1", None, "role officer may not ptz.control"),
    Case(AUDITOR, Action.AUDIT_READ, "audit", None, None),
    Case(SERGEANT, Action.AUDIT_READ, "audit", None, "(ACC-1)"),
    Case(COMMANDER, Action.PRESERVATION_MANAGE, "preservation-requests", None, None),
    Case(INVESTIGATOR, Action.RETENTION_MANAGE, "legal-holds", None, "(ACC-1)"),
    Case(DISPATCHER, Action.MEDIA_SEARCH, "catalog", None, "(ACC-1)"),
    Case(OFFICER, Action.DEVICES_MANAGE, "devices", None, "(ACC-1)"),
    # Own recordings (ACC-2).
    Case(OFFICER, Action.MEDIA_VIEW, "media:m1", B1, None),
    Case(OTHER_OFFICER, Action.MEDIA_VIEW, "media:m1", B1, "(ACC-2)"),
    Case(OTHER_OFFICER, Action.MEDIA_SEARCH, "media:m1", B1, "(ACC-2)"),
    # Restricted items: administration only (ACC-7); listed to catalog-wide roles.
    Case(ADMIN, Action.MEDIA_VIEW, "media:m2", B1_LOCKED, None),
    Case(INVESTIGATOR, Action.MEDIA_VIEW, "media:m2", B1_LOCKED, "(ACC-7)"),
    Case(OFFICER, Action.MEDIA_EDIT, "media:m2", B1_LOCKED, "(ACC-7)"),
    Case(AUDITOR, Action.MEDIA_SEARCH, "media:m2", B1_LOCKED, None),
    # Supervised officers (ACC-8).
    Case(SERGEANT, Action.MEDIA_VIEW, "media:m1", B1, None),
    Case(SERGEANT, Action.MEDIA_VIEW, "media:m3", B2, "(ACC-8)"),
]


def _ids(case: Case) -> str:
    verdict = "allowed" if case.refused_for is None else "refused"
    item = "" if case.item is None else f"-{case.item.officer_badge}"
    locked = "-restricted" if case.item is not None and case.item.restricted else ""
    return f"{case.actor.role.value}-{case.action.value}{item}{locked}-{verdict}"


def _entries(services: Services, after: int) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq)
            ).scalars()
        )


def _last_seq(services: Services) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.coalesce(func.max(AuditEntry.seq), 0))).scalar_one())


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_require_decides_by_the_table_and_audits_refusals_ACC_1_ACC_6_INV_4(
    services: Services, case: Case
) -> None:
    authoriser = services.authoriser
    before = _last_seq(services)
    if case.refused_for is None:
        decision = authoriser.require(case.actor, case.action, case.target, case.item)
        assert decision.allowed
        assert _entries(services, before) == []  # an allowed check writes nothing
        return
    with pytest.raises(PermissionDenied) as refused:
        authoriser.require(case.actor, case.action, case.target, case.item)
    reason = str(refused.value)
    assert case.refused_for in reason
    assert reason == decide(case.actor, case.action, case.item).reason
    [entry] = _entries(services, before)
    assert (entry.actor, entry.role, entry.action, entry.target, entry.outcome) == (
        case.actor.username,
        case.actor.role.value,
        case.action.value,
        case.target,
        "denied",
    )
    assert entry.details == {"reason": reason}
    assert services.audit.verify(services.db) is None  # the refusal is in the chain


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_allows_answers_like_require_and_audits_nothing(services: Services, case: Case) -> None:
    before = _last_seq(services)
    assert services.authoriser.allows(case.actor, case.action, case.item) is (
        case.refused_for is None
    )
    assert _entries(services, before) == []


def test_refuse_audits_the_callers_own_rule_INV_4(services: Services) -> None:
    before = _last_seq(services)
    reason = "received_by 'x': only a records commander may log it (RET-3)"
    with pytest.raises(PermissionDenied, match="only a records commander"):
        services.authoriser.refuse(ADMIN, "preservation.create", "preservation-requests", reason)
    [entry] = _entries(services, before)
    assert (entry.actor, entry.action, entry.target, entry.outcome, entry.details) == (
        "ada",
        "preservation.create",
        "preservation-requests",
        "denied",
        {"reason": reason},
    )


def _holders(root: Any, depth: int = 5) -> list[Any]:
    """Objects reachable from ``root`` (attributes, dict values, lists) that hold an
    ``authoriser``: the services of the core and of every plugin."""
    seen: set[int] = set()
    found: list[Any] = []

    def walk(obj: Any, level: int) -> None:
        if id(obj) in seen or level > depth:
            return
        seen.add(id(obj))
        if isinstance(obj, dict):
            children = list(obj.values())
        elif isinstance(obj, list | tuple):
            children = list(obj)
        elif type(obj).__module__.split(".")[0] in {
            "vms",
            "retention",
            "onvif_control",
            "recorder",
            "privacy_masks",
        } and hasattr(obj, "__dict__"):
            if "authoriser" in vars(obj) and not isinstance(obj, Services):
                found.append(obj)
            children = list(vars(obj).values())
        else:
            return
        for child in children:
            walk(child, level + 1)

    walk(root, 0)
    return found


def test_every_service_shares_the_one_authoriser(services: Services) -> None:
    """The core and every plugin check permissions through ``Services.authoriser``
    (issue 11, item 3): no package keeps a second one or decides through the catalog."""
    assert isinstance(services.authoriser, Authoriser)
    holders = _holders(services)
    assert all(h.authoriser is services.authoriser for h in holders)
    names = {type(h).__name__ for h in holders}
    assert {"Catalog", "UploadService", "DeviceService"} <= names
    packages = {type(h).__module__.split(".")[0] for h in holders}
    assert {"vms", "retention", "onvif_control", "recorder", "privacy_masks"} <= packages
    assert not hasattr(services.catalog, "require")
