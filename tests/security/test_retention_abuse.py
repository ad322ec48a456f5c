"""An officer who wants their own footage gone retags it, through the real API.

The retention rules follow the tags: an open case's number keeps an item while the case
is open (RET-5), a category may carry a longer period than the source's (TAG-4). An
officer may edit the tags of their own items (TAG-1, TAG-2), so clearing the case number
or taking the long category off would put old footage past its expiry, and the next
purge would destroy it: the erasure ACC-10 forbids, by the back door. A tag change that
would keep an item for less time than before is refused (403, naming both expiries and
who may), audited, and leaves the item and its tags as they were; a records commander
may make it (a wrong number, a wrong category).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from retention.plugin import get as get_retention
from tests.conftest import issue_tokens, make_config
from tests.retention.conftest import ingest, open_case
from tests.security.test_ingest_abuse import denials
from vms.auth.permissions import Actor
from vms.clock import ManualClock, isoformat
from vms.config import Config
from vms.db.models import AuditEntry, MediaExpiry, MediaItem, SourceKind
from vms.services import Services

DAY = dt.timedelta(days=1)

CATEGORIES = """
[[category]]
name = "Traffic Stop"
retention_days = 1095

[[category]]
name = "Routine"
"""


@pytest.fixture
def config(database: tuple[str, Any], tmp_path: Path) -> Config:
    """The test configuration (tests/conftest.py's ``services`` opens it on the manual
    clock) with a category list where one category keeps its items three years (TAG-4)
    and one keeps the source's 90 days (RET-4)."""
    url, data_dir = database
    categories = tmp_path / "categories.toml"
    categories.write_text(CATEGORIES)
    return make_config(data_dir, url, VMS_TAGGING_CATEGORIES_FILE=str(categories))


def patch(client: Any, tokens: dict[str, str], user: str, media_id: str, body: dict) -> Any:
    return client.patch(
        f"/api/v1/media/{media_id}", json=body, headers={"Authorization": f"Bearer {tokens[user]}"}
    )


def row(services: Services, media_id: str) -> MediaItem | None:
    with services.db.session() as s:
        item = s.get(MediaItem, media_id)
        if item is not None:
            _ = (item.expiry, item.categories)  # loaded before the session ends
        return item


def updates(services: Services) -> list[tuple[str, Any]]:
    """Each tag change's editor and what it did to retention, oldest first."""
    with services.db.session() as s:
        rows = s.execute(
            select(AuditEntry).where(AuditEntry.action == "media.update").order_by(AuditEntry.seq)
        ).scalars()
        return [(row.actor, row.details.get("retention", {})) for row in rows]


def officers_footage(services: Services, clock: ManualClock, **tags: Any) -> str:
    """Body-worn footage of the officer (badge B1), recorded and ingested now."""
    return ingest(
        services,
        source=SourceKind.BWC,
        device="BWC-7",
        officer="B1",
        recorded_at=clock.now(),
        **tags,
    )


def test_an_officer_cannot_clear_an_open_cases_number_to_have_the_footage_purged_RET_5_ACC_10(
    services: Services, client: Any, actors: dict[str, Actor], clock: ManualClock
) -> None:
    retention = get_retention(services)
    media = officers_footage(services, clock, case="C-9")
    open_case(services, actors["commander"], "C-9")
    clock.advance(100 * DAY)  # past the 90 days of body-worn footage (RET-4)
    tokens = issue_tokens(services, actors)
    was = row(services, media)
    assert was is not None and (was.expires_at, was.retention_rule) == (None, "RET-5 open case C-9")

    r = patch(client, tokens, "officer", media, {"case_number": None})
    assert r.status_code == 403, r.get_json()
    message = r.get_json()["error"]["message"]
    after = isoformat(was.recorded_start + 90 * DAY)
    assert (
        f"media {media}: changing case_number would shorten how long it is kept, from while "
        f"held (RET-5 open case C-9) to {after} (RET-4 bwc 90 days); only a records "
        "commander or an administrator may shorten retention" in message
    )
    now = row(services, media)
    assert now is not None and now.case_number == "C-9" and now.expires_at is None
    [denied] = denials(services, "retention.manage")
    assert (denied.actor, denied.target) == ("officer", f"media:{media}")
    assert denied.details["reason"] == message
    retention.purger.run()
    assert row(services, media) is not None

    # Nor to another number, of no open case; a change that keeps it as long is fine.
    r = patch(client, tokens, "officer", media, {"case_number": "C-10"})
    assert r.status_code == 403 and "would shorten" in r.get_json()["error"]["message"]
    r = patch(client, tokens, "officer", media, {"title": "Shift 12 arrest"})
    assert r.status_code == 200, r.get_json()

    # The records commander may (a wrong number): then the purge takes it, as it would
    # have taken it had the officer's change gone through.
    r = patch(client, tokens, "commander", media, {"case_number": None})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["retention_rule"] == "RET-4 bwc 90 days"
    # The auditor sees what the change did to retention (ACC-6).
    assert updates(services)[-1] == (
        "commander",
        {"before": "while held (RET-5 open case C-9)", "after": f"{after} (RET-4 bwc 90 days)"},
    )
    assert updates(services)[-2] == ("officer", {})  # the title: kept as long, not said
    retention.purger.run()
    assert row(services, media) is None


def test_no_one_but_a_records_commander_takes_a_longer_category_off_TAG_4_ACC_10(
    services: Services, client: Any, actors: dict[str, Actor], clock: ManualClock
) -> None:
    media = officers_footage(services, clock, categories=("Traffic Stop",))
    clock.advance(100 * DAY)
    tokens = issue_tokens(services, actors)
    was = row(services, media)
    assert was is not None and was.retention_rule == "TAG-4 category 'Traffic Stop' 1095 days"

    for user in ("officer", "sergeant"):  # the officer, and the officer's supervisor (ACC-8)
        r = patch(client, tokens, user, media, {"categories": ["Routine"]})
        assert r.status_code == 403, (user, r.get_json())
        assert (
            f"changing categories would shorten how long it is kept, from "
            f"{isoformat(was.recorded_start + 1095 * DAY)} (TAG-4 category 'Traffic Stop' "
            f"1095 days) to {isoformat(was.recorded_start + 90 * DAY)} (RET-4 bwc 90 days)"
        ) in r.get_json()["error"]["message"]
    now = row(services, media)
    assert now is not None and [c.category for c in now.categories] == ["Traffic Stop"]
    assert len(denials(services, "retention.manage")) == 2

    # Adding one beside it keeps the period: allowed.
    r = patch(client, tokens, "officer", media, {"categories": ["Traffic Stop", "Routine"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["expires_at"] == isoformat(was.recorded_start + 1095 * DAY)
    r = patch(client, tokens, "commander", media, {"categories": ["Routine"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["retention_rule"] == "RET-4 bwc 90 days"


def test_a_period_shortened_by_the_policy_does_not_block_the_officers_edits_RET_12(
    services: Services, client: Any, actors: dict[str, Actor], clock: ManualClock
) -> None:
    """The stored expiry predates a change of the policy (here: a longer period, as a
    category list shortened since would leave it). Recomputed, the item is kept for less
    time, but not because of the officer's edit: the edit goes through."""
    media = officers_footage(services, clock)
    with services.db.transaction() as s:
        expiry = s.get(MediaExpiry, media)
        assert expiry is not None
        expiry.expires_at = clock.now() + 3650 * DAY
        expiry.retention_rule = "TAG-4 category 'Old List' 3650 days"
    r = patch(client, issue_tokens(services, actors), "officer", media, {"title": "Shift 12"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["retention_rule"] == "RET-4 bwc 90 days"
    assert denials(services, "retention.manage") == []


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ("disabled", 403, "'commander' is disabled"),
        ("demoted", 403, "officers may only access their own recordings"),
        ("promoted", 409, "'commander' changed while the request was made; try again"),
    ],
)
def test_a_commander_changed_while_taking_a_longer_category_off_shortens_nothing_ACC_1(
    services: Services,
    client: Any,
    actors: dict[str, Actor],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
    status: int,
    says: str,
) -> None:
    """ACC-1, ACC-10, TAG-4: the records commander takes the three-year category off an
    item (which only who manages retention may: it shortens how long it is kept) at the
    moment an admin disables them, makes them an officer or an admin. The change was
    authorised with the role it started with, so it was written and audited after the
    change that forbids it, and the next purge could take the footage. The tag change
    decides the user again as stored: refused (403, audited) as a change sent after is;
    still allowed (made an admin), a 409 to try again; the tags and expiry as they were."""
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action

    media = officers_footage(services, clock, categories=("Traffic Stop",))
    clock.advance(100 * DAY)
    tokens = issue_tokens(services, actors)
    was = row(services, media)
    assert was is not None
    armed = user_changed_after_check(
        monkeypatch, services, services.authoriser, Action.MEDIA_EDIT, "commander", change
    )
    r = patch(client, tokens, "commander", media, {"categories": ["Routine"]})
    assert r.status_code == status, r.get_json()
    assert says in r.get_json()["error"]["message"]
    assert not armed[0]
    now = row(services, media)
    assert now is not None and [c.category for c in now.categories] == ["Traffic Stop"]
    assert (now.expires_at, now.retention_rule) == (was.expires_at, was.retention_rule)
    assert updates(services) == []
    refused = [d for d in denials(services, "media.edit") if d.actor == "commander"]
    assert len(refused) == (status == 403)
