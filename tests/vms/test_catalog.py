"""The catalog service speaks domain values (issue 11, item 3): searches take a
MediaQuery, tag changes a MediaChanges command; both answer frozen records, never ORM
rows or JSON dicts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import pytest

from tests.media import make_video
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.catalog_values import UNCHANGED, MediaChanges, MediaDetail, MediaQuery, MediaRecord
from vms.db.models import SourceKind
from vms.errors import InvalidArgument, NotFound
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture
def media_id(services: Services) -> str:
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=0.5)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-1",
            officer_badge="B1",
            recorded_at=T0,
            title="Shift start",
            case_number="C-1",
            categories=("Eviction",),
        ),
        Who("setup", "admin"),
    )
    return result.media_id


def test_search_answers_frozen_records(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    page = services.catalog.search(actors["investigator"], MediaQuery(source=SourceKind.BWC))
    (record,) = page.items
    assert type(record) is MediaRecord and record.id == media_id
    assert record.categories == ("Eviction",) and record.recorded_start == T0
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.title = "x"  # type: ignore[misc]
    assert (
        services.catalog.search(actors["investigator"], MediaQuery(source=SourceKind.DASH)).items
        == ()
    )


def test_detail_is_the_record_with_its_custody(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    detail = services.catalog.get(actors["investigator"], media_id)
    assert isinstance(detail, MediaDetail) and detail.title == "Shift start"
    assert [e.action for e in detail.custody] == ["ingested"] and detail.derived == ()


def test_a_change_command_changes_only_what_it_names_TAG_1(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    changes = MediaChanges(title=None, categories=("use of force - inside facilities",))
    assert changes.case_number is UNCHANGED
    assert changes.changed() == {
        "title": None,
        "categories": ("use of force - inside facilities",),
    }
    record = services.catalog.update(actors["investigator"], media_id, changes)
    assert type(record) is MediaRecord
    assert record.title is None  # None clears
    assert record.case_number == "C-1"  # UNCHANGED keeps
    assert record.categories == ("Use of Force - Inside facilities",)  # canonical name
    assert record.evidence is True  # TAG-6
    custody = services.catalog.get(actors["investigator"], media_id).custody[-1]
    assert custody.action == "tagged"
    assert custody.details["before"] == {"title": "Shift start", "categories": ["Eviction"]}


def test_an_empty_command_or_an_unknown_category_is_refused(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    with pytest.raises(InvalidArgument, match="nothing to change"):
        services.catalog.update(actors["investigator"], media_id, MediaChanges())
    with pytest.raises(InvalidArgument, match="unknown category 'Parade'"):
        services.catalog.update(
            actors["investigator"], media_id, MediaChanges(categories=("Parade",))
        )


def test_an_id_no_row_can_have_is_not_found_on_both_databases(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A NUL in a path id is sent by fuzzers; PostgreSQL text cannot hold one (its driver
    raised DataError: a 500)."""
    with pytest.raises(NotFound, match="does not exist"):
        services.catalog.get(actors["investigator"], "a\x00b")
    with pytest.raises(NotFound, match="does not exist"):
        services.catalog.update(actors["admin"], "a\x00b", MediaChanges(title="x"))
    with pytest.raises(NotFound, match="does not exist"):
        services.uploads.status(actors["officer"], "a\x00b")
