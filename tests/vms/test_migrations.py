"""The schema comes from the migrations, and they agree with the models (`alembic check`)."""

from __future__ import annotations

from vms.migrations import check, upgrade
from vms.services import Services


def test_models_and_migrations_agree(services: Services) -> None:
    upgrade(services.db.engine)  # idempotent at head
    check(services.db.engine)  # raises when autogenerate would produce a new revision
