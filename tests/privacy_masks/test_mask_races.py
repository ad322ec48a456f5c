"""Race: one camera's privacy masks changed by two admins at once (or a retried
request), on SQLite and PostgreSQL. Each mask id has at most one row in force; a mask
deleted twice is deleted once; the first masks of a new camera made at once are both
made (PSCS-1: the mask history says which masks were in force when; INV-4)."""

from __future__ import annotations

import pytest

from privacy_masks.model import NewMask
from privacy_masks.service import MaskService
from tests.races import together
from vms.auth.permissions import Actor
from vms.services import Services

ITERATIONS = 6
SQUARE = ((10.0, -5.0), (20.0, -5.0), (20.0, 5.0), (10.0, 5.0))
MOVED = ((30.0, -5.0), (40.0, -5.0), (40.0, 5.0), (30.0, 5.0))


@pytest.fixture
def masks(services: Services) -> MaskService:
    return services.ports.get(MaskService)


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
