"""Database.reader(), a Core connection for reads, and Database.poll(), the process's
poll connection that the per-second polls read through (mask version, running lifts,
recording on/off): both read what was committed and, on SQLite, begin deferred like a
read session, so they never hold the write lock; a poll returns what Core returns."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select, text

from privacy_masks.model import NewLift, NewMask
from privacy_masks.service import _RUNNING_LIFTS, _VERSION_ROWS, MaskService
from recorder.recording import _ENABLED, RecordingLog, SetRecording
from vms.auth.permissions import Actor
from vms.db.engine import Database, poll_keys, sqlite_path
from vms.db.models import RecordingState
from vms.migrations import upgrade
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _write_elsewhere(path: Path) -> None:
    """Another process turns camera ``cam``'s recording off, with a write lock timeout
    of 0: it fails at once when a reader holds the lock."""
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
            _write_elsewhere(path)
        with db.reader() as c:
            assert c.execute(query).scalar_one() is False
    finally:
        db.dispose()


# -- Database.poll: the process's poll connection ------------------------------------------


def test_a_poll_returns_what_the_same_statements_return_through_core(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The polls' statements (mask version row, running lifts, recording on/off) read on
    the poll connection give the values, types and time zones a Core connection gives,
    on each backend."""
    masks, recording = services.ports.get(MaskService), services.ports.get(RecordingLog)
    admin = actors["admin"]
    square = ((10.0, -5.0), (20.0, -5.0), (20.0, 5.0), (10.0, 5.0))
    window = masks.create(admin, "cam-poll", NewMask("window", polygon=square))
    masks.lift(admin, "cam-poll", NewLift(window.id, "warrant 12", 10))
    recording.set_enabled(admin, "cam-poll", SetRecording(False, "test"))
    (params,) = poll_keys(["cam-poll"])
    for statement in (_VERSION_ROWS, _RUNNING_LIFTS, _ENABLED):
        with services.db.reader() as c:
            core = [tuple(row) for row in c.execute(statement, params)]
        with services.db.poll() as p:
            polled = p.all(statement, params)
        assert polled == core and polled, statement
        assert [tuple(map(type, row)) for row in polled] == [tuple(map(type, r)) for r in core]
    with services.db.poll() as p:
        version = p.first(_VERSION_ROWS, params)
        assert version is not None and version[2].tzinfo is not None
        (nothing,) = poll_keys(["no-such-camera"])
        assert p.first(_VERSION_ROWS, nothing) is None
    assert masks.current("cam-poll").lifts and not recording.enabled("cam-poll")


def test_a_dropped_poll_connection_is_replaced_and_other_errors_fail_the_poll(
    services: Services,
) -> None:
    """A poll connection the database dropped (closed behind its back; on PostgreSQL also
    ended by the server, as a restart does) is replaced at the poll's first statement,
    as the pool's pre-ping would: the poll reads. Any other error fails the poll with the
    driver's error, and the next poll reads on a new connection."""
    (params,) = poll_keys(["cam-poll"])
    with services.db.poll() as p:
        assert p.first(_ENABLED, params) is None
    held = services.db._poll
    assert held is not None
    held[1].driver_connection.close()
    with services.db.poll() as p:
        assert p.first(_ENABLED, params) is None
    assert services.db._poll is not None and services.db._poll is not held
    if services.db.dialect == "postgresql":
        held = services.db._poll
        pid = held[1].driver_connection.info.backend_pid
        with services.db.engine.connect() as c:
            c.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        with services.db.poll() as p:
            assert p.first(_ENABLED, params) is None
        assert services.db._poll is not held
    broken = select(RecordingState.enabled).where(
        RecordingState.camera_id == bindparam("k0"), text("no_such_column = 1")
    )
    with pytest.raises(Exception, match=r"(?i)no_such_column"), services.db.poll() as p:
        p.first(broken, params)
    assert services.db._poll is None
    with services.db.poll() as p:
        assert p.first(_ENABLED, params) is None


def test_a_poll_never_holds_the_sqlite_write_lock_and_sees_each_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'vms.db'}")
    try:
        upgrade(db.engine)
        (params,) = poll_keys(["cam"])
        with db.poll() as p:
            assert p.first(_ENABLED, params) is None
            path = sqlite_path(db.url)
            assert path is not None
            _write_elsewhere(path)  # fails at once if the poll held the write lock
        with db.poll() as p:  # a new snapshot: the commit is seen
            assert p.first(_ENABLED, params) == ("cam", False)
    finally:
        db.dispose()
