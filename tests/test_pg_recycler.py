"""The PostgreSQL databases the tests are given (tests/peers/postgres/recycled.py): one
handed on to the next test holds exactly the template's rows and sequences, one whose
schema a test changed is dropped, and no session of a finished test reaches the next."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.conftest import BACKENDS, PG_ADMIN_URL, Template
from tests.peers.postgres.recycled import Recycler, conninfo, copy_out

pytestmark = [
    pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL only"),
    # A postgresql parameter puts the tests in the rest tier (conftest.is_fast), where
    # PostgreSQL is selected.
    pytest.mark.parametrize("backend", ["postgresql"]),
]


@pytest.fixture
def recycler(templates: dict[str, Template], backend: str) -> Iterator[Recycler]:
    """A recycler of the session's template, recycling whatever VMS_TEST_PG_RECYCLE says."""
    made = Recycler.of(PG_ADMIN_URL, templates[backend].url)
    made.enabled = True
    try:
        yield made
    finally:
        made.close()


def connect(name: str) -> psycopg.Connection:
    return psycopg.connect(conninfo(PG_ADMIN_URL, name), autocommit=True)


def oid_of(name: str) -> int | None:
    with psycopg.connect(conninfo(PG_ADMIN_URL), autocommit=True) as admin:
        row = admin.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return None if row is None else int(row[0])


def contents(name: str) -> dict[str, object]:
    """Every table's rows (COPY text) and every sequence's state."""
    out: dict[str, object] = {}
    with connect(name) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("COPY (SELECT * FROM {} ORDER BY 1) TO STDOUT")
            out[table] = copy_out(conn, query.format(sql.Identifier(table)))
        sequences = conn.execute("SELECT sequencename FROM pg_sequences ORDER BY 1").fetchall()
        for (sequence,) in sequences:
            query = sql.SQL("SELECT last_value, is_called FROM {}")
            out[sequence] = conn.execute(query.format(sql.Identifier(sequence))).fetchone()
    return out


def test_a_database_handed_on_holds_the_templates_rows_and_sequences(
    recycler: Recycler, templates: dict[str, Template]
) -> None:
    template = contents(templates["postgresql"].url)
    first = recycler.take()
    database = oid_of(first)
    with connect(first) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM users")
        conn.execute("UPDATE audit_entries SET action = 'tampered'")
        for (sequence,) in conn.execute("SELECT sequencename FROM pg_sequences").fetchall():
            conn.execute("SELECT nextval(%s)", (sequence,))
    assert contents(first) != template  # the test's changes are there
    recycler.give_back(first)
    second = recycler.take()
    try:
        assert second != first
        assert oid_of(second) == database  # the same database, renamed
        assert contents(second) == template
    finally:
        recycler.give_back(second)


def test_a_database_whose_schema_a_test_changed_is_dropped(recycler: Recycler) -> None:
    first = recycler.take()
    database = oid_of(first)
    with connect(first) as conn:
        conn.execute("CREATE TABLE extra (id integer)")  # no reset of the rows undoes it
    recycler.give_back(first)
    assert oid_of(first) is None
    second = recycler.take()
    try:
        assert oid_of(second) != database
        with connect(second) as conn:
            assert conn.execute("SELECT to_regclass('extra')").fetchone() == (None,)
    finally:
        recycler.give_back(second)


def test_a_session_left_open_by_a_test_cannot_reach_the_next_tests_database(
    recycler: Recycler,
) -> None:
    first = recycler.take()
    database = oid_of(first)
    leaked = connect(first)
    leaked.execute("SELECT 1")
    recycler.give_back(first)
    with pytest.raises(psycopg.OperationalError):
        leaked.execute("SELECT 1")  # ended
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        connect(first)  # and its name is gone
    leaked.close()
    second = recycler.take()
    try:
        assert oid_of(second) == database  # handed on, not dropped
    finally:
        recycler.give_back(second)
