"""Lock order (docs/design/authorisation.md item 6: the item rows before the user's
row) in legal holds and cases (retention/legal.py): a write of the records commander
and a tag change of the same commander at once, on SQLite and PostgreSQL. A tag change
holds the item, then asks for the user's row (``hold_user``); a write that held the
user's row first and then asked for the item deadlocked with it on PostgreSQL (the
detector failed one: a 409 "deadlock detected", nothing written). SQLite's writers are
serial: no deadlock there."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from retention.commands import NewLegalHold, ReleaseLegalHold
from retention.plugin import Retention
from tests.races import in_lock_order
from tests.retention.conftest import active_holds, ingest, open_case
from vms.auth.permissions import Actor
from vms.catalog_values import MediaChanges
from vms.clock import ManualClock
from vms.db.models import MediaItem
from vms.services import Services


def _retitled(services: Services, commander: Actor, media_id: str) -> Callable[[], object]:
    """The tag change of the other tab: the item's title, by the same commander."""
    return lambda: services.catalog.update(commander, media_id, MediaChanges("retitled"))


def _title(services: Services, media_id: str) -> str | None:
    with services.db.session() as s:
        return s.get_one(MediaItem, media_id).title


@pytest.mark.parametrize("step", ["create", "release"])
def test_a_legal_hold_and_a_tag_change_at_once_do_not_deadlock_ACC_1_RET_10(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    """ACC-1, RET-10: the records commander places a legal hold on an item, or releases
    one, while retitling that item in another tab. The hold held the user's row (its
    repeat check, ``find_repeat``; the release's decision again, ``hold_user``) and then
    asked for the item's row to pin it or end its hold; the tag change held the item and
    asked for the user's row. Both now take the item first: one waits for the other,
    both are written."""
    import retention.legal as legal
    import vms.catalog

    media = ingest(timed, recorded_at=clock.now())
    commander = actors["commander"]
    hold = NewLegalHold("LH-LOCK-1", "litigation", (media,))
    first: tuple[object, str, Callable[[], object]] = (
        legal,
        "find_repeat",
        lambda: retention.legal_holds.create(commander, hold),
    )
    if step == "release":
        placed = retention.legal_holds.create(commander, hold)
        notice = ReleaseLegalHold("NOTICE-1")
        first = (
            legal,
            "hold_user",
            lambda: retention.legal_holds.release(commander, placed.id, notice),
        )
    got = in_lock_order(monkeypatch, first, (vms.catalog, _retitled(timed, commander, media)))
    assert not any(isinstance(v, Exception) for v in got), got
    assert active_holds(timed, media) == (["LH-LOCK-1"] if step == "create" else [])
    assert _title(timed, media) == "retitled"


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_commander_disabled_or_demoted_while_placing_a_hold_places_nothing_ACC_1(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ACC-1, RET-10: the user is still decided again with the items locked first (the
    repeat check's ``hold_user``, now after them): disabled or made an officer between
    the check and the write, the commander places no hold (403, audited)."""
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action
    from vms.errors import PermissionDenied

    media = ingest(timed, recorded_at=clock.now())
    armed = user_changed_after_check(
        monkeypatch,
        timed,
        timed.authoriser,
        Action.RETENTION_MANAGE,
        "commander",
        change,
        on="legal-holds",
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        retention.legal_holds.create(
            actors["commander"], NewLegalHold("LH-GONE", "litigation", (media,))
        )
    assert not armed[0]
    assert active_holds(timed, media) == []


def test_closing_a_case_and_a_tag_change_at_once_do_not_deadlock_ACC_1_RET_5(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ACC-1, RET-5: the records commander closes a case while retitling one of its
    items in another tab. Closing held the user's row (its decision again, ``hold_user``)
    and then asked for the case's items' rows to recompute their expiry; the tag change
    held the item and asked for the user's row. Closing now recomputes first: one waits
    for the other, both are written, the item no longer kept by the case."""
    import retention.legal as legal
    import vms.catalog
    from retention.commands import SetCaseState

    commander = actors["commander"]
    open_case(timed, commander, "C-LOCK")
    media = ingest(timed, recorded_at=clock.now(), case="C-LOCK")
    close = SetCaseState("closed")
    got = in_lock_order(
        monkeypatch,
        (legal, "hold_user", lambda: retention.cases.set_state(commander, "C-LOCK", close)),
        (vms.catalog, _retitled(timed, commander, media)),
    )
    assert not any(isinstance(v, Exception) for v in got), got
    assert _title(timed, media) == "retitled"
    with timed.db.session() as s:
        item = s.get_one(MediaItem, media)
        assert item.expiry is not None and "case" not in item.expiry.retention_rule
