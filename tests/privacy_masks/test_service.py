"""MaskService takes frozen command values (NewMask, MaskChange) and returns domain
values (MaskRecord, MaskListing, MaskDeleted); geometry is its decision, with the field
and the value named (PSCS-1, issue 11 item 3)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event

from privacy_masks.model import (
    LiftWindow,
    MaskChange,
    MaskDeleted,
    MaskListing,
    MaskRecord,
    NewLift,
    NewMask,
)
from privacy_masks.service import MaskService
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db.engine import Database, PollReader
from vms.errors import InvalidArgument, PermissionDenied
from vms.services import Services

CAMERA = "cam-svc"
SQUARE = ((10.0, -5.0), (20.0, -5.0), (20.0, 5.0), (10.0, 5.0))
MOVED = ((30.0, -5.0), (40.0, -5.0), (40.0, 5.0), (30.0, 5.0))


@pytest.fixture
def masks(services: Services) -> MaskService:
    return services.ports.get(MaskService)


def test_commands_in_domain_values_out(
    masks: MaskService, actors: dict[str, Actor], clock: ManualClock
) -> None:
    admin = actors["admin"]
    created = masks.create(admin, CAMERA, NewMask("  window ", polygon=SQUARE))
    assert isinstance(created, MaskRecord)
    assert (created.name, created.polygon, created.since_version) == ("window", SQUARE, 1)
    assert created.created_at == clock.now() and created.created_by == "admin"

    renamed = masks.update(admin, CAMERA, created.id, MaskChange(name="door"))
    assert (renamed.id, renamed.name, renamed.polygon) == (created.id, "door", SQUARE)
    assert renamed.since_version == 2

    listing = masks.list_masks(admin, CAMERA)
    assert listing == MaskListing(CAMERA, 2, (renamed,))
    assert masks.delete(admin, CAMERA, created.id) == MaskDeleted(created.id, 3)
    assert masks.list_masks(admin, CAMERA).masks == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        created.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (NewMask("x"), "polygon (degrees) or image_polygon"),
        (NewMask("x", polygon=SQUARE, image_polygon=SQUARE), "not both"),
        (NewMask("x", polygon=SQUARE[:2]), "polygon: a polygon needs 3 or more vertices, got 2"),
        (NewMask("x", polygon=((0.0, 0.0), (1.0, 95.0), (2.0, 0.0))), "tilt 95.0"),
        (NewMask("x", image_polygon=((0.0, 0.0), (1.5, 0.0), (0.0, 1.0))), "[1.5, 0.0]"),
        (NewMask(" ", polygon=SQUARE), "name: ''"),
        (NewMask("a\x00b", polygon=SQUARE), "name: 'a\\x00b'"),
    ],
)
def test_the_service_refuses_a_bad_command_naming_the_field_and_value(
    masks: MaskService, actors: dict[str, Actor], command: NewMask, named: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        masks.create(actors["admin"], CAMERA, command)
    assert named in refused.value.message
    assert masks.version(CAMERA) == 0


def test_commands_are_checked_for_the_role_first(
    masks: MaskService, actors: dict[str, Actor]
) -> None:
    with pytest.raises(PermissionDenied):
        masks.create(actors["dispatcher"], CAMERA, NewMask("x", polygon=SQUARE))


def test_current_reads_the_masks_again_only_when_the_version_moved(
    services: Services,
    masks: MaskService,
    actors: dict[str, Actor],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pipeline asks every second: while nothing changed, current() reads the version
    row and the running lifts, not the mask rows; what another process changes (a service
    of its own on its own engine, same database) shows at the next call, lifts included."""
    admin = actors["admin"]
    created = masks.create(admin, CAMERA, NewMask("window", polygon=SQUARE))
    first = masks.current(CAMERA)
    assert (first.version, [p.vertices for p in first.polygons]) == (1, [SQUARE])

    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    # What runs through the engine, and what the polls read on the poll connection.
    polled = PollReader.all

    def poll(reader: PollReader, statement: Any, params: Any) -> Any:
        statements.append(str(statement))
        return polled(reader, statement, params)

    event.listen(services.db.engine, "before_cursor_execute", record)
    monkeypatch.setattr(PollReader, "all", poll)
    try:
        assert masks.current(CAMERA) == first
    finally:
        event.remove(services.db.engine, "before_cursor_execute", record)
        monkeypatch.undo()
    read = " ".join(statements)
    assert "mask_versions" in read and "mask_lifts" in read and "privacy_masks" not in read

    other_db = Database(services.db.url)
    try:
        other = MaskService(other_db, services.audit, clock, services.authoriser)
        other.update(admin, CAMERA, created.id, MaskChange(polygon=MOVED))
        moved = masks.current(CAMERA)
        assert (moved.version, [p.vertices for p in moved.polygons]) == (2, [MOVED])
        lift = other.lift(admin, CAMERA, NewLift(created.id, "warrant 12", 10))
        lifted = masks.current(CAMERA)
        assert lifted.version == 3
        assert lifted.lifts == (LiftWindow(0, lift.id, lift.starts_at, lift.ends_at),)
        clock.advance(dt.timedelta(minutes=1))
        other.end_lift(admin, CAMERA, lift.id)
        ended = masks.current(CAMERA)
        assert (ended.version, ended.lifts, ended.polygons) == (4, (), moved.polygons)
        other.delete(admin, CAMERA, created.id)
        assert masks.current(CAMERA).polygons == () and not masks.current(CAMERA).masked
    finally:
        other_db.dispose()
