"""PostgreSQL for tests and benchmarks: statements on the server's admin database, and a
database made for one run and dropped after (with any connection still open to it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


def admin(admin_url: str, sql: str) -> None:
    """Run ``sql`` outside a transaction (CREATE/DROP DATABASE) on ``admin_url``."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def url_of(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``admin_url``."""
    return str(sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False))


@contextmanager
def database(admin_url: str, name: str) -> Iterator[str]:
    """A new database ``name`` (its URL), dropped when the block ends."""
    admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield url_of(admin_url, name)
    finally:
        admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
