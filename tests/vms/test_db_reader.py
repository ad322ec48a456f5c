"""Database.reader(): the Core connection that per-second polls read through (mask
version, running lifts, recording on/off) reads what was committed and, on SQLite,
begins deferred like a read session, so a poll never holds the write lock."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from sqlalchemy import select

from vms.db.engine import Database, sqlite_path
from vms.db.models import RecordingState
from vms.migrations import upgrade

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def test_a_reader_reads_commits_and_never_holds_the_sqlite_write_lock(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'vms.db'}")
    try:
        upgrade(db.engine)
        query = select(RecordingState.enabled).where(RecordingState.camera_id == "cam")
        with db.reader() as c:
            assert c.execute(query).first() is None
            path = sqlite_path(db.url)
            assert path is not None
            # Another process writes while the reader is open and has read: with the
            # write lock held by the reader this fails at once (timeout 0).
            writer = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                writer.execute("BEGIN IMMEDIATE")
                writer.execute(
                    "INSERT INTO recording_states (camera_id, enabled, changed_at, changed_by) "
                    "VALUES ('cam', 0, ?, 'test')",
                    (T0.isoformat(),),
                )
                writer.execute("COMMIT")
            finally:
                writer.close()
        with db.reader() as c:
            assert c.execute(query).scalar_one() is False
    finally:
        db.dispose()
