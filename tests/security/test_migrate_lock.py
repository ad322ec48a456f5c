"""The SQLite migration lock beside the database is never a link followed (#10.12).

A database kept outside the data folder (``database_url`` naming a shared folder) has its
lock file made beside it: a link another local user planted under that name made the
service create a file wherever it pointed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from vms.errors import FailedPrecondition
from vms.migrations import upgrade


def test_a_link_planted_as_the_migration_lock_is_refused_and_not_followed(tmp_path: Path) -> None:
    database = tmp_path / "shared" / "vms.db"
    database.parent.mkdir()
    target = tmp_path / "theirs" / "made-by-the-service"
    target.parent.mkdir()
    (database.parent / "vms.db.migrate-lock").symlink_to(target)
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with pytest.raises(FailedPrecondition, match=r"vms\.db\.migrate-lock is a link"):
            upgrade(engine)
    finally:
        engine.dispose()
    assert not target.exists()
