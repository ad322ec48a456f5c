"""What a piece of code asks of the database, for tests of cost at agency scale.

Timing asserts are flaky on a shared machine; these count what does not depend on it:
the statements a call sends (:func:`captured`), and on PostgreSQL how many rows of a
table the executor read to answer one of them (:func:`rows_read`, from
``EXPLAIN (ANALYZE, FORMAT JSON)``), so a test can say "this costs the same with 20,000
rows as with 20" instead of "this takes under 50 ms".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Captured:
    """The statements sent while the block ran, with their parameters."""

    statements: list[tuple[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)

    def matching(self, text: str) -> list[tuple[str, Any]]:
        return [(s, p) for s, p in self.statements if text in s]


@contextmanager
def captured(engine: Engine) -> Iterator[Captured]:
    """Every statement ``engine`` executes inside the ``with`` block."""
    out = Captured()

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        out.statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield out
    finally:
        event.remove(engine, "before_cursor_execute", record)


def analyze(engine: Engine) -> None:
    """Refresh the planner's statistics (what a production database's autovacuum does)."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def rows_read(engine: Engine, statement: str, parameters: Any, table: str) -> int:
    """PostgreSQL: the rows of ``table`` the executor read to run ``statement`` (those it
    returned upwards plus those its filters removed, over all loops), rolled back."""
    assert engine.dialect.name == "postgresql", "EXPLAIN ANALYZE JSON is PostgreSQL's"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        row = cursor.fetchone()
        assert row is not None
        doc = row[0]
        raw.rollback()
    finally:
        raw.close()
    plan = (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]
    total = 0
    for node in _nodes(plan):
        if node.get("Relation Name") != table:
            continue
        per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        per_loop += node.get("Rows Removed by Index Recheck", 0)
        total += per_loop * node.get("Actual Loops", 1)
    return total
