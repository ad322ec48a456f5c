"""Years of rows through every migration: upgrading from each older revision keeps every
row and value of every table that exists at it, ends in the schema the models declare
(indexes, constraints, defaults), and leaves the audit chain verifying after each step
(INV-4: migrations never rewrite audited rows). SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.vms.test_migration_upgrades import empty_url  # noqa: F401 (a fixture)
from vms.audit.chain import Link, link_hash
from vms.audit.log import AuditLog
from vms.clock import SystemClock
from vms.db.engine import Database
from vms.db.models import AuditEntry, Base
from vms.migrations import alembic_config, upgrade


def _revisions() -> list[str]:
    """Every revision, oldest first."""
    probe = Database("sqlite://")
    try:
        scripts = ScriptDirectory.from_config(alembic_config(probe.engine))
    finally:
        probe.dispose()
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


REVISIONS = _revisions()
# Dropped on purpose: 0012 replaced the sign-in attempt log by the throttle's counters.
DROPPED = {"login_attempts"}
# Moved on purpose: 0008 took each item's expiry into media_expiry (one row an item).
MOVED = {("media_items", "expires_at"), ("media_items", "retention_rule")}
# Naive: the reflected columns store UTC without a zone, as UTCDateTime does.
WHEN = dt.datetime(2026, 2, 3, 4, 5, 6, 789000)  # noqa: DTZ001


def _value(table: sa.Table, column: sa.Column[Any]) -> object:
    """A representative stored value of ``column``: its type's, named after it."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return len(column.name) % 2 == 0  # both values, column by column
    if isinstance(kind, sa.Integer):
        return 7
    if isinstance(kind, sa.Float | sa.Numeric):
        return 1.5
    if isinstance(kind, sa.DateTime):
        return WHEN
    name = f"{table.name}.{column.name}"
    if isinstance(kind, sa.String) and kind.length:
        return name[-kind.length :]
    return json.dumps({"value": name, "text": "n\u00e4me \u2013 x"})  # text and JSON


def _seed(engine: sa.Engine) -> None:
    """One row in every table that has none, its foreign keys pointing at the row of the
    table they reference (self-references left empty)."""
    meta = sa.MetaData()
    meta.reflect(engine)
    rows: dict[str, dict[str, object]] = {}
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            present = conn.execute(sa.select(table)).mappings().first()
            if present is not None:
                rows[table.name] = dict(present)
                continue
            row = {c.name: _value(table, c) for c in table.columns}
            for fk in table.foreign_keys:
                parent = fk.column.table.name
                row[fk.parent.name] = None if parent == table.name else rows[parent][fk.column.name]
            conn.execute(table.insert().values(**row))
            rows[table.name] = row


def _snapshot(engine: sa.Engine) -> dict[str, list[dict[str, object]]]:
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {
            t.name: [dict(r) for r in conn.execute(sa.select(t)).mappings()]
            for t in meta.sorted_tables
            if t.name != "alembic_version"
        }


@pytest.mark.parametrize("revision", REVISIONS[:-1])
def test_upgrading_from_each_revision_keeps_every_row_and_value(
    empty_url: str,  # noqa: F811
    revision: str,
) -> None:
    """A catalog at ``revision`` with a row in every table is upgraded to head: each row
    is still there with each of its values (SQLite's table rebuilds copy them; nothing
    cascades), and the expiries 0008 moved are in media_expiry."""
    db = Database(empty_url)
    try:
        upgrade(db.engine, revision)
        _seed(db.engine)
        before = _snapshot(db.engine)
        upgrade(db.engine)
        after = _snapshot(db.engine)
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    finally:
        db.dispose()
    lost: list[tuple[object, ...]] = []
    for table, rows in before.items():
        if table in DROPPED:
            continue
        kept = after.get(table, [])
        if len(kept) != len(rows):
            lost.append((table, f"{len(rows)} rows -> {len(kept)}"))
            continue
        for old, new in zip(rows, kept, strict=True):
            for column, value in old.items():
                if (table, column) in MOVED:
                    moved = [r[column] for r in after["media_expiry"] if r["media_id"] == old["id"]]
                    if moved != [value]:
                        lost.append((table, column, value, moved))
                elif new.get(column, "(no column)") != value:
                    lost.append((table, column, value, new.get(column, "(no column)")))
    assert lost == []


def _shape(engine: sa.Engine) -> dict[str, dict[str, object]]:
    """What the database says of each table: columns (by name), keys, indexes,
    constraints, with each foreign key's options (ON DELETE)."""
    inspector = sa.inspect(engine)
    shape: dict[str, dict[str, object]] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        columns = inspector.get_columns(table)
        shape[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in columns
            ),
            "primary key": inspector.get_pk_constraint(table),
            "foreign keys": sorted(map(repr, inspector.get_foreign_keys(table))),
            "indexes": sorted(map(repr, inspector.get_indexes(table))),
            "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
            "checks": sorted(map(repr, inspector.get_check_constraints(table))),
        }
    return shape


@pytest.fixture
def model_url(empty_url: str, tmp_path: Path) -> Iterator[str]:  # noqa: F811
    """A second empty database on the same backend, for the models' own schema."""
    if empty_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'models.db'}"
        return
    from tests.conftest import _pg_admin, _pg_url

    name = f"vms_model_{os.getpid()}_{secrets.token_hex(4)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_first_revision_upgraded_with_rows_is_the_models_schema(
    empty_url: str,  # noqa: F811
    model_url: str,
) -> None:
    """From 0001 with rows to head: Alembic's comparison (types and server defaults
    included) finds nothing, and the reflected tables equal those the models create."""
    migrated, modelled = Database(empty_url), Database(model_url)
    try:
        upgrade(migrated.engine, REVISIONS[0])
        _seed(migrated.engine)
        upgrade(migrated.engine)
        with migrated.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
        Base.metadata.create_all(modelled.engine)
        assert _shape(migrated.engine) == _shape(modelled.engine)
    finally:
        migrated.dispose()
        modelled.dispose()


def test_the_audit_chain_verifies_after_every_migration_INV_4(
    empty_url: str,  # noqa: F811
) -> None:
    """A chain written at 0001 is stepped through each revision; after every one it
    still verifies and its rows are byte for byte what they were."""
    key = secrets.token_bytes(32)
    db = Database(empty_url)
    try:
        upgrade(db.engine, REVISIONS[0])
        prev = "0" * 64
        with db.engine.begin() as conn:
            for seq in range(1, 6):
                link = Link(
                    seq=seq,
                    at=(WHEN + dt.timedelta(seconds=seq)).replace(tzinfo=dt.UTC),
                    actor="ann",
                    role="investigator",
                    action="media.view",
                    target=f"media:m{seq}",
                    details={"media_ids": [f"m{seq}", "m0"], "note": "caf\u00e9"},
                    outcome="ok",
                    prev_hash=prev,
                )
                prev = link_hash(key, link)
                conn.execute(sa.insert(AuditEntry).values(**vars(link), hash=prev))
            conn.execute(sa.text("UPDATE audit_head SET seq = 5, hash = :h"), {"h": prev})
        audit = AuditLog(key, SystemClock())
        assert audit.verify(db) is None
        original = _snapshot(db.engine)["audit_entries"]
        for revision in REVISIONS[1:]:
            upgrade(db.engine, revision)
            assert (revision, audit.verify(db)) == (revision, None)
            assert _snapshot(db.engine)["audit_entries"] == original, revision
    finally:
        db.dispose()


def test_0047_dates_each_rtsps_pin_with_its_stream(empty_url: str) -> None:  # noqa: F811
    """A stream pin stored before 0047 belongs, from then on, to the host and port of the
    rtsps stream it was taken on (docs/design/security.md, "Camera certificates", 9): it
    keeps checking that stream, and a later move of the stream is refused until
    accepted. A pin with no rtsps stream stays unbound."""
    db = Database(empty_url)
    try:
        upgrade(db.engine, "0046")
        _seed(db.engine)
        pin = ":".join(["AB"] * 32)
        with db.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE cameras SET main_stream_uri = :uri, rtsp_tls_fingerprint = :pin"),
                {"uri": "rtsps://u:p@Cam-7.Example:8322/live", "pin": pin},
            )
        upgrade(db.engine)
        with db.engine.connect() as conn:
            dated = conn.execute(sa.text("SELECT rtsp_tls_endpoint FROM cameras")).scalar_one()
    finally:
        db.dispose()
    assert dated == "cam-7.example:8322"
