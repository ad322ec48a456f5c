"""Engines and transactions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL`` (a committed
catalog row survives power loss, INV-1). Every SQLite write transaction
(:meth:`Database.transaction`) starts with ``BEGIN IMMEDIATE``: a deferred transaction
that reads and then writes can fail with ``SQLITE_BUSY`` when another process committed
in between; taking the write lock up front makes writers queue on ``busy_timeout``
instead. Read-only sessions (:meth:`Database.session`) begin deferred, so they never hold
the write lock and never block a writer (WAL), even one in the same thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from vms.errors import InvalidArgument
from vms.file_modes import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "vms_read_only"  # execution option of the engine behind Database.session()


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite ``url``; None for other databases and memory."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with this project's settings for its dialect."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidArgument(f"database URL {url!r} does not parse: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            database = Path(parsed.database)
            database.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
            # Created here owner-only: SQLite gives its WAL and shared-memory files the
            # mode of the database file (it holds password hashes; issue 10, item 12).
            with contextlib.suppress(FileExistsError):
                os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=10)
    raise InvalidArgument(
        f"database URL {url!r}: only sqlite:/// and postgresql:// databases are supported"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) issue BEGIN; pysqlite's own implicit BEGIN is off.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and its session factory. Services own transactions (STYLE practice 6)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Same pool, marked read-only: SQLite begins these deferred (see module doc).
        self._read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def session(self) -> Session:
        """A session for reading. Writes belong in :meth:`transaction`."""
        return self._read_sessions()

    def reader(self) -> Connection:
        """A Core connection for reading (begun deferred on SQLite, like :meth:`session`),
        for what polls a few columns many times a minute: about half the CPU of the
        same read through a session (no unit of work, no identity map, no ORM rows)."""
        return self._read_engine.connect()

    def dispose(self) -> None:
        self.engine.dispose()
