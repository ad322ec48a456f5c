"""Upgrading a deployed agency: processes that migrate at once, migrations killed
midway, a database newer than the code, and years of rows carried through every
revision (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import BACKENDS, _pg_admin, _pg_url
from vms.db.engine import Database
from vms.db.schema import known_revisions
from vms.errors import FailedPrecondition
from vms.migrations import check, upgrade

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agency.db'}"
        return
    name = f"vms_upg_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schema_at(url: str, revision: str) -> None:
    """Give the empty database at ``url`` the schema of ``revision`` (an older release's)."""
    db = Database(url)
    try:
        upgrade(db.engine, revision)
    finally:
        db.dispose()


def audited(url: str) -> list[tuple[str, str]]:
    """(actor, action) of every audit entry of the database at ``url``, in order."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT actor, action FROM audit_entries ORDER BY seq"))
            return [(actor, action) for actor, action in rows]
    finally:
        db.dispose()


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    """A real process running ``script`` on this worktree's code."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _version(url: str) -> str | None:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        db.dispose()


MIGRATE_ON_GO = """
    import sys
    from vms.db.engine import Database
    from vms.migrations import upgrade
    db = Database(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()  # all start together
    upgrade(db.engine)
    print("migrated", flush=True)
"""


@pytest.mark.parametrize("start", [None, "0021"])
def test_roles_starting_at_once_all_migrate_without_failing(
    empty_url: str, start: str | None
) -> None:
    """``vms serve --role web`` and ``--role jobs`` (and ``vms init``) each migrate at
    start (ARCHITECTURE 1: nothing may assume one process). Started together on a new
    or an older database, every one must come up, and the schema must be head once."""
    if start is not None:
        db = Database(empty_url)
        upgrade(db.engine, start)
        db.dispose()
    procs = [_python(MIGRATE_ON_GO, empty_url) for _ in range(3)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    failed = [
        [line for line in err.splitlines() if "Error" in line][-1:]
        for (_, err), proc in zip(results, procs, strict=True)
        if proc.returncode
    ]
    assert failed == []
    db = Database(empty_url)
    try:
        check(db.engine)
    finally:
        db.dispose()


def _stamp_newer(url: str) -> None:
    """The database as a newer release left it: at head, then a revision of its own."""
    db = Database(url)
    try:
        upgrade(db.engine)
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9001'"))
    finally:
        db.dispose()


def test_a_database_newer_than_the_code_is_refused_by_name(empty_url: str) -> None:
    """An agency that reinstalls an older release over a database a newer one upgraded
    must be told so, in words, not with Alembic's "Can't locate revision"."""
    _stamp_newer(empty_url)
    db = Database(empty_url)
    try:
        with pytest.raises(FailedPrecondition) as refused:
            upgrade(db.engine)
    finally:
        db.dispose()
    assert "'9001'" in refused.value.message and "newer than this VMS" in refused.value.message
    assert _version(empty_url) == "9001"


def _user_add(url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``vms user add`` in a process of its own: a command that does not migrate."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(PYTHONPATH=str(REPO), VMS_DATA_DIR=str(data_dir), VMS_DATABASE_URL=url)
    args = ["user", "add", "ann", "--role", "admin", "--password-stdin"]
    return subprocess.run(
        [sys.executable, "-m", "vms.cli", *args],
        env=env,
        input="horse battery staple\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_commands_that_do_not_migrate_refuse_a_newer_database_INV_4(
    empty_url: str, tmp_path: Path
) -> None:
    """``vms user add`` does not migrate; run against a newer schema it would write rows
    (an audit entry without the index rows the newer release keeps beside it, INV-4)
    that the newer release never expected. It is refused before it writes anything."""
    _stamp_newer(empty_url)
    done = _user_add(empty_url, tmp_path)
    db = Database(empty_url)
    try:
        with db.engine.connect() as conn:
            users = conn.execute(sa.text("SELECT count(*) FROM users")).scalar()
            entries = conn.execute(sa.text("SELECT count(*) FROM audit_entries")).scalar()
    finally:
        db.dispose()
    assert (users, entries) == (0, 0)
    assert done.returncode == FailedPrecondition.exit_code, done.stderr[-500:]
    assert "newer than this VMS" in done.stderr


def test_the_cheap_list_of_revisions_is_alembics(tmp_path: Path) -> None:
    """:func:`known_revisions` reads the scripts without Alembic; it must find exactly
    Alembic's revisions and head, or a known database would be refused (or a newer one
    let through)."""
    from alembic.script import ScriptDirectory

    from vms.migrations import alembic_config

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        scripts = ScriptDirectory.from_config(alembic_config(db.engine))
    finally:
        db.dispose()
    revisions = {s.revision for s in scripts.walk_revisions()}
    assert known_revisions() == (frozenset(revisions), ",".join(scripts.get_heads()))


def test_commands_that_do_not_migrate_name_an_older_database_and_the_upgrade(
    empty_url: str, tmp_path: Path
) -> None:
    """After the package is upgraded and before the first start, ``vms user add`` runs
    against the older schema (0036: no ``users.wall_layout`` yet). It must say so and
    how to upgrade it (exit 6), not end in a SQL traceback ("no such column")."""
    db = Database(empty_url)
    try:
        upgrade(db.engine, "0036")
    finally:
        db.dispose()
    done = _user_add(empty_url, tmp_path)
    assert done.returncode == FailedPrecondition.exit_code, done.stderr[-300:]
    assert "'0036', older than this VMS" in done.stderr and "vms init" in done.stderr
    assert "Traceback" not in done.stderr
    assert _version(empty_url) == "0036"


KILLED_AT = """
    import os, signal, sys
    from sqlalchemy import event
    from vms.db.engine import Database
    from vms.migrations import upgrade
    db = Database(sys.argv[1])
    @event.listens_for(db.engine, "before_cursor_execute")
    def _die(conn, cursor, statement, *args):
        if sys.argv[2] in statement:
            os.kill(os.getpid(), signal.SIGKILL)  # as a power cut or the OOM killer would
    upgrade(db.engine)
"""
# Statements inside 0008 (after 0007's, in the same run): the new table, the copy of
# the expiries into it, the old columns' removal (a table rebuild on SQLite).
KILL_POINTS = {
    "new-table": {"sqlite": "CREATE TABLE media_expiry", "postgresql": "CREATE TABLE media_expiry"},
    "copy": {"sqlite": "INSERT INTO media_expiry", "postgresql": "INSERT INTO media_expiry"},
    "rebuild": {"sqlite": "DROP TABLE media_items", "postgresql": "DROP COLUMN expires_at"},
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_migration_killed_midway_is_completed_by_the_next_start(
    empty_url: str, point: str
) -> None:
    """The process upgrading an agency's catalog from 0006 is killed inside 0008: the
    database is left at 0006 with its rows (transactional DDL on both backends, no
    half-made table), and the next start's upgrade completes it, expiry included."""
    db = Database(empty_url)
    try:
        upgrade(db.engine, "0006")
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO devices (id, kind, name, created_at)"
                " VALUES ('D', 'bwc', 'D', '2026-01-01 00:00:00')"
            )
            conn.exec_driver_sql(
                "INSERT INTO media_items (id, source, media_type, content_type, device_id,"
                " recorded_start, size_bytes, sha256, evidence, restricted, ingested_at,"
                " ingested_by, recorded_start_origin, expires_at, retention_rule) VALUES"
                " ('m1', 'bwc', 'video', 'video/mp4', 'D', '2026-02-03 04:05:06', 1, 'ab',"
                " FALSE, FALSE, '2026-02-03 04:05:06', 't', 'ingest', '2026-05-04 04:05:06',"
                " 'RET-4 bwc 90 days')"
            )
            conn.exec_driver_sql(
                "INSERT INTO media_categories (media_id, category) VALUES ('m1', 'Eviction')"
            )
        proc = _python(KILLED_AT, empty_url, KILL_POINTS[point][db.engine.dialect.name])
        proc.communicate(timeout=120)
        assert proc.returncode == -9  # it did reach the statement
        assert _version(empty_url) == "0006"
        upgrade(db.engine)
        check(db.engine)
        with db.engine.connect() as conn:
            expiry = conn.execute(
                sa.text("SELECT media_id, retention_rule FROM media_expiry")
            ).all()
            categories = conn.execute(sa.text("SELECT count(*) FROM media_categories")).scalar()
    finally:
        db.dispose()
    assert [tuple(r) for r in expiry] == [("m1", "RET-4 bwc 90 days")]
    assert categories == 1


SLOW_MIGRATION = """
    import sys, time
    from sqlalchemy import event
    from vms.db.engine import Database
    from vms.migrations import upgrade
    db = Database(sys.argv[1])
    @event.listens_for(db.engine, "before_cursor_execute")
    def _slow(conn, cursor, statement, *args):
        if "CREATE TABLE media_expiry" in statement:
            print("migrating", flush=True)
            time.sleep(4)  # as copying years of items in a table rebuild takes
    upgrade(db.engine)
"""
IMPATIENT = """
    import sys
    import vms.db.engine
    vms.db.engine.SQLITE_BUSY_TIMEOUT_MS = 1000  # shorter than the other's migration
    from vms.migrations import upgrade
    upgrade(vms.db.engine.Database(sys.argv[1]).engine)
"""


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="SQLite only")
def test_a_role_starting_during_a_long_sqlite_migration_waits_for_it(tmp_path: Path) -> None:
    """On SQLite the second role to start waited for the first one's migration only
    as long as the busy timeout (30 s), then failed with "database is locked"; a
    rebuild of a large media_items table takes longer than that. It must wait for the
    migration, however long, and then find the schema at head. (Both timings scaled
    down here: a 4 s migration, a 1 s busy timeout.)"""
    url = f"sqlite:///{tmp_path / 'agency.db'}"
    db = Database(url)
    try:
        upgrade(db.engine, "0006")
    finally:
        db.dispose()
    first = _python(SLOW_MIGRATION, url)
    second: subprocess.Popen[str] | None = None
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "migrating"
        second = _python(IMPATIENT, url)
        _, err = second.communicate(timeout=60)
        first.communicate(timeout=60)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    errors = [line for line in err.splitlines() if "Error" in line][-1:]
    assert (second.returncode, errors) == (0, [])
    assert first.returncode == 0
    assert _version(url) == known_revisions()[1]


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL only")
def test_a_migration_waiting_for_a_table_does_not_stall_its_readers(tmp_path: Path) -> None:
    """During a rolling upgrade a still-running process holds a transaction on
    ``users`` (a long export, a request in flight). The new process's migration (0037
    adds a column) waits for it; while it waited holding its place in the lock queue,
    every other query of ``users`` queued behind it, signing-in included: an outage of
    the site for as long as that transaction lasted. A reader must get through; the
    migration completes once the transaction ends."""
    name = f"vms_upg_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    url = _pg_url(name)
    db = Database(url)
    migrating: subprocess.Popen[str] | None = None
    try:
        upgrade(db.engine, "0036")
        with db.engine.connect() as old_process, db.engine.connect() as reader:
            old_process.execute(sa.text("SELECT count(*) FROM users"))  # holds its lock
            migrating = _python(MIGRATE_ON_GO, url)
            assert migrating.stdout is not None and migrating.stdout.readline() == "ready\n"
            assert migrating.stdin is not None
            migrating.stdin.write("go\n")
            migrating.stdin.flush()
            waiting = sa.text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'users'::regclass"
            )
            deadline = time.monotonic() + 30
            while not old_process.execute(waiting).scalar():  # the ALTER waits
                assert time.monotonic() < deadline and migrating.poll() is None
                time.sleep(0.05)
            reader.execute(sa.text("SET statement_timeout = '5s'"))
            assert reader.execute(sa.text("SELECT count(*) FROM users")).scalar() == 0
            reader.rollback()
            old_process.rollback()  # the old process's transaction ends
        out, err = migrating.communicate(timeout=60)
        assert (migrating.returncode, out.splitlines()[-1:]) == (0, ["migrated"]), err[-500:]
        check(db.engine)
    finally:
        if migrating is not None and migrating.poll() is None:
            migrating.kill()
            migrating.wait(timeout=10)
        db.dispose()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_upgrade_that_changes_records_is_itself_in_the_audit_trail_ACC_6(
    empty_url: str, tmp_path: Path
) -> None:
    """0041 marks scanned preservation forms as evidence, 0038-0040 rewrite content
    types and release rows: changes to records, which ACC-6 wants in the tamper-evident
    trail. The upgrade that made them is recorded there (from which revision to which,
    in its transaction, INV-4), once: a start at head records nothing."""
    from tests.conftest import make_config
    from vms.services import Services

    schema_at(empty_url, "0040")
    services = Services.open(make_config(tmp_path / "data", empty_url))
    try:
        services.migrate()
        services.migrate()  # the next start: nothing to do, nothing recorded
        with services.db.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT actor, action, target, details FROM audit_entries")
            ).all()
        assert services.audit.verify(services.db) is None
    finally:
        services.close()
    head = known_revisions()[1]
    assert [(r.actor, r.action, r.target, json.loads(r.details)) for r in rows] == [
        ("vms-upgrade", "schema.upgrade", f"schema:{head}", {"from": "0040", "to": head})
    ]


def test_an_upgrade_by_vms_init_is_audited_as_the_os_user_ACC_6(
    empty_url: str, tmp_path: Path
) -> None:
    """``vms init`` after a package upgrade migrates the schema: the upgrade was audited
    as ``vms-upgrade``, the identity of a role's start, so the trail did not say who ran
    it (ACC-6, PSCS-5). It is the operating-system user running the command, as every
    other CLI command; a role's start still records ``vms-upgrade`` (above)."""
    from tests.conftest import make_config
    from tests.vms.test_crash_safety import run_cli
    from vms.audit.cli import cli_name

    schema_at(empty_url, "0040")
    r = run_cli(make_config(tmp_path / "data", empty_url), "init")
    assert r.returncode == 0, r.stderr
    assert audited(empty_url) == [(cli_name(), "schema.upgrade")]
