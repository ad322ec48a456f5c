"""A write PostgreSQL aborts because it met another at the same time (a deadlock, a
serialization failure) is a Conflict naming the cause, not a driver error: the API
answers 409 "try again" with nothing written instead of a 500 (ACC-1's re-checks take
rows in one order, docs/design/authorisation.md "Lock order"; this is the net under
any order still reversed)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.races import together
from vms.db.engine import Database
from vms.errors import Conflict


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_the_deadlocked_write_is_a_conflict_and_the_other_commits(
    database: tuple[str, Path],
) -> None:
    db = Database(database[0])
    try:
        with db.transaction() as s:
            s.execute(text("CREATE TABLE lock_order_t (id int PRIMARY KEY, n int)"))
            s.execute(text("INSERT INTO lock_order_t VALUES (1, 0), (2, 0)"))
        both_hold_one = threading.Barrier(2, timeout=30)

        def write(first: int, second: int) -> str:
            with db.transaction() as s:
                s.execute(text("UPDATE lock_order_t SET n = n + 1 WHERE id = :i"), {"i": first})
                both_hold_one.wait()
                s.execute(text("UPDATE lock_order_t SET n = n + 1 WHERE id = :i"), {"i": second})
            return "committed"

        got = together(lambda: write(1, 2), lambda: write(2, 1))

        conflicts = [g for g in got if isinstance(g, Conflict)]
        assert len(conflicts) == 1 and got.count("committed") == 1, got
        assert "deadlock" in str(conflicts[0]) and "nothing was written" in str(conflicts[0])
        with db.session() as s:
            # The committed write's two increments, none of the aborted one's.
            assert s.execute(text("SELECT sum(n) FROM lock_order_t")).scalar_one() == 2
    finally:
        db.dispose()
