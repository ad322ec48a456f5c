"""A SQLite set restored into PostgreSQL: how an installation that started on the
embedded default grows onto a database server (docs/design/backup.md, "From SQLite to
PostgreSQL").

The snapshot is copied to a scratch file and brought to this version's schema there;
the empty PostgreSQL database gets the same schema from the same migrations; then every
table's rows are copied through the models' own column types (so a time, a flag or a
JSON document is the same value on both sides), parents before children, in **one
transaction**: the database has all of the catalog or none of it. Identity sequences
then start after the highest id copied. The audit chain, verified after the restore,
proves that every audited row arrived unchanged (INV-4): its hashes are computed from
the values.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import Connection, Integer, Table, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from vms.db.engine import make_engine
from vms.db.models import AuditHead, Base
from vms.errors import DataLoss
from vms.migrations import upgrade

BATCH = 2000


def sqlite_into_postgresql(snapshot_file: Path, url: str) -> None:
    """Copy the catalog in ``snapshot_file`` into the PostgreSQL database at ``url``."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "catalog.sqlite"
        shutil.copyfile(snapshot_file, copy)
        source = make_engine(f"sqlite:///{copy}")
        target = make_engine(url)
        try:
            upgrade(source)  # the set may be from an older version
            upgrade(target)
            tables = Base.metadata.sorted_tables
            with source.connect() as read, target.begin() as write:
                for table in reversed(tables):  # rows the migrations seeded
                    write.execute(delete(table))
                for table in tables:
                    rows = read.execute(select(table)).mappings()
                    batch: list[dict[str, object]] = []
                    for row in rows:
                        batch.append(dict(row))
                        if len(batch) == BATCH:
                            _insert(write, table, batch)
                            batch = []
                    if batch:
                        _insert(write, table, batch)
                for table in tables:
                    for column in table.primary_key.columns:
                        if isinstance(column.type, Integer) and column.autoincrement in (
                            True,
                            "auto",
                        ):
                            sequence = write.execute(
                                text("SELECT pg_get_serial_sequence(:t, :c)"),
                                {"t": table.name, "c": column.name},
                            ).scalar()
                            if sequence is None:
                                continue
                            top = write.execute(select(func.max(column))).scalar()
                            write.execute(
                                text("SELECT setval(:s, :v, :called)"),
                                {"s": sequence, "v": top or 1, "called": top is not None},
                            )
        finally:
            source.dispose()
            target.dispose()


def _insert(write: Connection, table: Table, batch: list[dict[str, object]]) -> None:
    try:
        write.execute(insert(table), batch)
    except DBAPIError as exc:
        # A value SQLite kept that PostgreSQL refuses (a string past its column's length).
        reason = str(exc.orig).strip().splitlines()[0]
        raise DataLoss(f"table {table.name}: a row PostgreSQL refuses: {reason}") from None


def converted(url: str, audit_seq: int) -> bool:
    """Whether an earlier run of this conversion committed (its audit head is there)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            try:
                head = conn.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar()
            except DBAPIError:
                return False  # no schema yet
        return head == audit_seq and audit_seq > 0
    finally:
        engine.dispose()
