"""A player's later byte ranges (ACC-6, ACC-7): a continuation of a viewing already
recorded is not recorded again, but the permission that allowed it is decided again as
each range is about to be sent, and what it costs (most requests of a playback are
continuations: bench/bench_content.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from tests.races import restricted_after_check
from tests.statements import captured
from tests.vms.test_access_rules import ingest
from vms.auth.permissions import Action, Actor
from vms.catalog_values import ContentAccess
from vms.db.models import AuditEntry
from vms.errors import PermissionDenied
from vms.services import Services


@pytest.fixture
def media_id(services: Services) -> str:
    """Officer B1's recording."""
    return ingest(services, "B1", 5)


def playing(services: Services, officer: Actor, media_id: str) -> None:
    """The first range of a viewing, recorded (ACC-6)."""
    first = services.catalog.authorise_content(officer, media_id, download=False)
    services.catalog.record_content(officer, first, remote="127.0.0.1")


def next_range(services: Services, officer: Actor, media_id: str) -> ContentAccess:
    return services.catalog.authorise_content(officer, media_id, download=False, continuation=True)


def test_a_range_asked_for_as_the_item_is_restricted_during_a_viewing_is_refused_ACC_7(
    services: Services, actors: dict[str, Actor], media_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Officer B1 is playing their own recording when an admin restricts it (ACC-7:
    administration only) between the check of the player's next range and its sending:
    the continuation, not recorded again, is decided again all the same, and refused
    (audited): the rest of the file is not sent."""
    officer = actors["officer"]
    playing(services, officer, media_id)
    armed = restricted_after_check(
        monkeypatch, services, services.authoriser, Action.MEDIA_VIEW, actors["admin"], media_id
    )
    access = next_range(services, officer, media_id)
    assert not armed[0] and access.continuation
    with pytest.raises(PermissionDenied, match="ACC-7"):
        services.catalog.record_content(officer, access, remote="127.0.0.1")
    with services.db.session() as s:
        outcomes = s.execute(
            select(AuditEntry.outcome)
            .where(AuditEntry.action == "media.view", AuditEntry.actor == "officer")
            .order_by(AuditEntry.seq)
        ).scalars()
        assert list(outcomes) == ["ok", "denied"]


def test_a_continuation_is_decided_again_in_the_read_that_finds_its_viewing(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    """Deciding a continuation again costs one read: the viewing's entry and the item's
    row in one connection from the pool, the row without its categories and expiry
    (loaded with it elsewhere: no decision reads them). Before, a second connection and
    two more statements per range: a continuation through the web role cost about twice
    the CPU of the same request without the re-check (bench/bench_content.py)."""
    officer = actors["officer"]
    playing(services, officer, media_id)
    access = next_range(services, officer, media_id)
    checkouts: list[Any] = []

    def checkout(*args: Any) -> None:
        checkouts.append(args)

    event.listen(services.db.engine, "checkout", checkout)
    try:
        with captured(services.db.engine) as sql:
            services.catalog.record_content(officer, access, remote="127.0.0.1")
    finally:
        event.remove(services.db.engine, "checkout", checkout)
    assert len(checkouts) == 1, sql.statements
    assert not sql.matching("media_categories") and not sql.matching("media_expiry"), sql.statements
    assert len(sql.matching("FROM media_items")) == 1, sql.statements


def test_a_range_is_authorised_on_the_item_row_alone(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    """The check before a range is served reads the item's row and what the decision
    reads (the ACC-2 lineage, the ACC-3 grant, the package), not the categories and
    expiry that ``Catalog._load`` brings elsewhere: no decision reads them, and a player
    has this asked for every range it fetches (bench/bench_content.py). Before, two more
    statements per range, about a quarter of a continuation's request samples."""
    officer = actors["officer"]
    playing(services, officer, media_id)
    with captured(services.db.engine) as sql:
        access = next_range(services, officer, media_id)
    assert access.item.id == media_id and access.item.sha256
    assert not sql.matching("media_categories") and not sql.matching("media_expiry"), sql.statements
    assert len(sql.matching("FROM media_items")) == 1, sql.statements
