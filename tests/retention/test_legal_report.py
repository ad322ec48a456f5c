"""A legal hold says what it could not hold (RET-10, INV-3): an item named in the hold
that the purge had already destroyed is listed in ``already_purged`` with its destruction
record, never silently left out, as a preservation request does (RET-2). The data steward
must know, at once, that evidence the hold names is gone."""

from __future__ import annotations

from typing import Any

import pytest

from retention.commands import NewLegalHold
from retention.plugin import Retention
from retention.plugin import get as get_retention
from retention.records import DestructionEntry
from tests.retention.conftest import DAY, exists, ingest
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.services import Services


def test_legal_hold_on_a_purged_item_reports_it_already_purged_RET_10(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    now = services.clock.now()
    kept = ingest(services, recorded_at=now - 2 * DAY)
    gone = ingest(services, device="CAM-9", recorded_at=now - 40 * DAY)
    get_retention(services).purger.run()

    r = client.post(
        "/api/v1/legal-holds",
        json={"reference": "LH-API-1", "reason": "civil suit", "media_ids": [kept, gone]},
        headers={"Authorization": f"Bearer {tokens['commander']}"},
    )

    assert r.status_code == 201, r.json
    assert r.json["pinned"] == [kept]
    assert [p["media_id"] for p in r.json["already_purged"]] == [gone], r.json
    [entry] = r.json["already_purged"]
    assert entry["rule"] == "RET-1 fixed 30 days"


# SQLite serialises writers: no purge commits inside the hold's transaction there.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_legal_hold_racing_the_purge_reports_what_it_lost_RET_10_INV_3(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The purge commits after the request was checked and before the hold's
    transaction locks the items (the first thing it does, item 6 of
    docs/design/authorisation.md): the item is then neither pinned nor may it go
    unreported."""
    media = ingest(timed, recorded_at=clock.now() - 31 * DAY)
    holder = retention.legal_holds.holder
    lock = holder.lock

    def purge_then_lock(*args: Any, **kwargs: Any) -> Any:
        retention.purger.run()  # another process's purge, on its own connections
        return lock(*args, **kwargs)

    monkeypatch.setattr(holder, "lock", purge_then_lock)
    hold = retention.legal_holds.create(
        actors["commander"], NewLegalHold("LH-RACE", "suit", (media,))
    )

    assert not exists(timed, media)
    assert hold.pinned == ()
    assert [p.media_id for p in hold.already_purged] == [media]
    assert isinstance(hold.already_purged[0], DestructionEntry)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_purge_running_while_the_hold_has_locked_the_items_leaves_them_held_RET_10_INV_3(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the hold's transaction has locked the items, a purge running meanwhile
    passes them by (it does not wait for, nor delete, a row another transaction holds):
    the hold pins the item and reports nothing lost."""
    media = ingest(timed, recorded_at=clock.now() - 31 * DAY)
    holder = retention.legal_holds.holder
    pin = holder.pin

    def purge_then_pin(*args: Any, **kwargs: Any) -> Any:
        retention.purger.run()  # another process's purge, on its own connections
        return pin(*args, **kwargs)

    monkeypatch.setattr(holder, "pin", purge_then_pin)
    hold = retention.legal_holds.create(
        actors["commander"], NewLegalHold("LH-RACE", "suit", (media,))
    )

    assert exists(timed, media)
    assert hold.pinned == (media,)
    assert hold.already_purged == ()
