"""Race: one camera's privacy masks changed by two admins at once (or a retried
request), on SQLite and PostgreSQL. Each mask id has at most one row in force; a mask
deleted twice is deleted once; the first masks of a new camera made at once are both
made (PSCS-1: the mask history says which masks were in force when; INV-4)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from privacy_masks.model import MaskChange, NewLift, NewMask
from privacy_masks.service import MaskService
from tests.races import audited, together
from vms.auth.permissions import Actor
from vms.db.models import PrivacyMask
from vms.errors import FailedPrecondition, NotFound
from vms.services import Services

ITERATIONS = 6
SQUARE = ((10.0, -5.0), (20.0, -5.0), (20.0, 5.0), (10.0, 5.0))
MOVED = ((30.0, -5.0), (40.0, -5.0), (40.0, 5.0), (30.0, 5.0))


@pytest.fixture
def masks(services: Services) -> MaskService:
    return services.ports.get(MaskService)


def open_rows(services: Services, mask_id: str) -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count()).where(
                    PrivacyMask.mask_id == mask_id, PrivacyMask.to_version.is_(None)
                )
            ).scalar_one()
        )


def test_two_edits_of_one_mask_at_once_leave_one_mask_in_force_PSCS_1(
    services: Services, masks: MaskService, actors: dict[str, Actor]
) -> None:
    admin = actors["admin"]
    for i in range(ITERATIONS):
        camera = f"cam-edit-{i}"
        mask = masks.create(admin, camera, NewMask("window", polygon=SQUARE))
        got = together(
            lambda: masks.update(admin, camera, mask.id, MaskChange(name="door")),
            lambda: masks.update(admin, camera, mask.id, MaskChange(polygon=MOVED)),
        )
        assert not [g for g in got if isinstance(g, Exception) and not isinstance(g, NotFound)]
        assert open_rows(services, mask.id) == 1, f"iteration {i}: {got}"
        masks.update(admin, camera, mask.id, MaskChange(name="after"))  # still editable


def test_one_mask_deleted_twice_at_once_is_deleted_and_audited_once_PSCS_1(
    services: Services, masks: MaskService, actors: dict[str, Actor]
) -> None:
    admin = actors["admin"]
    for i in range(ITERATIONS):
        camera = f"cam-del-{i}"
        mask = masks.create(admin, camera, NewMask("window", polygon=SQUARE))
        got = together(
            lambda: masks.delete(admin, camera, mask.id),
            lambda: masks.delete(admin, camera, mask.id),
        )
        assert sum(isinstance(g, NotFound) for g in got) == 1, f"iteration {i}: {got}"
        assert audited(services, "mask.delete", f"camera:{camera}") == 1
        with services.db.session() as s:
            closed = s.execute(
                select(PrivacyMask.to_version).where(PrivacyMask.mask_id == mask.id)
            ).scalar_one()
        assert closed == 2, f"iteration {i}: closed at version {closed}"


def test_the_first_masks_of_a_camera_made_at_once_are_both_made(
    services: Services, masks: MaskService, actors: dict[str, Actor]
) -> None:
    admin = actors["admin"]
    for i in range(ITERATIONS):
        camera = f"cam-new-{i}"
        got = together(
            lambda: masks.create(admin, camera, NewMask("a", polygon=SQUARE)),
            lambda: masks.create(admin, camera, NewMask("b", polygon=MOVED)),
        )
        assert not [g for g in got if isinstance(g, Exception)], f"iteration {i}: {got}"
        assert len(masks.list_masks(admin, camera).masks) == 2


def test_one_mask_lifted_twice_at_once_has_one_running_lift_PSCS_1(
    services: Services, masks: MaskService, actors: dict[str, Actor]
) -> None:
    """One running lift per mask (PSCS-1 exceptions are time-boxed and audited one by
    one): the second of two lifts at once is refused, as a later one is."""
    admin = actors["admin"]
    for i in range(ITERATIONS):
        camera = f"cam-lift-{i}"
        mask = masks.create(admin, camera, NewMask("window", polygon=SQUARE))
        lift = NewLift(mask.id, "warrant 26-1", 10)
        got = together(
            lambda: masks.lift(admin, camera, lift), lambda: masks.lift(admin, camera, lift)
        )
        assert sum(isinstance(g, FailedPrecondition) for g in got) == 1, f"iteration {i}: {got}"
        assert len(masks.lifts(admin, camera, running_only=True)) == 1
