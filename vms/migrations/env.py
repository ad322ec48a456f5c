"""Alembic environment: the engine comes from :func:`vms.migrations.alembic_config`.

SQLite alters a table by copying it into a new one and dropping the old (batch mode).
With foreign keys enforced, dropping ``media_items`` would cascade into every table that
references it (categories, custody, expiries) and lose them, so on SQLite the migrations
run with enforcement off, in one transaction (SQLite's DDL is transactional; Alembic
would otherwise commit each migration on its own), and ``PRAGMA foreign_key_check`` must
come back empty before that transaction commits (the SQLite documentation's procedure
for altering tables).

Every role migrates at start (``vms serve``, ``vms init``), so several processes may
upgrade the same database at once. SQLite's ``BEGIN IMMEDIATE`` already queues them; on
PostgreSQL each migration transaction first takes an advisory lock, so the second waits
for the first to commit and then finds the schema at head, where it failed on the
tables the first was creating (``duplicate key ... pg_type_typname_nsp_index``).

On PostgreSQL a migration waiting for a table that another transaction holds (a
process of the old release still running, during a rolling upgrade) queued every later
query of that table behind it, sign-ins included, for as long as that transaction
lasted. The migration's table locks now give up after ``LOCK_TIMEOUT_MS``; the whole
migration rolls back, the queued queries go through, and
:func:`vms.migrations.upgrade` tries again.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from vms.db.models import Base

config = context.config
engine = config.attributes["engine"]
MIGRATION_LOCK_KEY = 0x6D69_6772_6174  # "migrat": one migrating process at a time
LOCK_TIMEOUT_MS = 2000  # longest a table's other queries queue behind a migration


def _foreign_keys(connection: Connection, on: bool) -> None:
    # On the driver's connection, outside any transaction (a no-op inside one).
    cursor: Any = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys(connection, False)
    applied: list[object] = []
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
            transactional_ddl=True if sqlite else None,
            on_version_apply=lambda **kw: applied.append(kw["step"]),
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Held to the end of the transaction: the schema version is read after.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY}
                )
                # A table lock waited for blocks every later query of the table behind
                # it: give up soon, let them through, and try again (upgrade()).
                connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
            start = context.get_context().get_current_revision()
            context.run_migrations()
            if sqlite and applied:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken foreign keys: {broken[:10]}")
            end = context.get_context().get_current_revision()
            record = config.attributes.get("record")
            # An upgrade of records already there (not a new database) is audited in
            # its own transaction (ACC-6, INV-4): its data migrations change records.
            if record is not None and start is not None and end is not None and start != end:
                record(connection, start, end)
        connection.commit()
    finally:
        if sqlite:
            connection.rollback()
            _foreign_keys(connection, True)
