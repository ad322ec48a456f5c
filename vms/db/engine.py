"""Engines and transactions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL`` (a committed
catalog row survives power loss, INV-1). Every SQLite write transaction
(:meth:`Database.transaction`) starts with ``BEGIN IMMEDIATE``: a deferred transaction
that reads and then writes can fail with ``SQLITE_BUSY`` when another process committed
in between; taking the write lock up front makes writers queue on ``busy_timeout``
instead. Read-only sessions (:meth:`Database.session`) begin deferred, so they never hold
the write lock and never block a writer (WAL), even one in the same thread.

The every-second polls of the recorder (a camera's masks and lifts, its recording state)
read through :meth:`Database.poll`: one DBAPI connection of the process, held, shared
under a lock, each poll one read transaction, the statements compiled once and their
values converted by the columns' own types, so a poll returns what the same statement
through a Core connection returns. Through SQLAlchemy's connection and execution layer a
poll of two statements cost 101 us of CPU warm and about 1.5 ms in a recording camera's
thread (the codecs have the caches between frames); on the DBAPI connection, 4.5 us
warm (bench/README.md, session 17).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, create_engine, event, inspect, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import NullPool

from vms.errors import Conflict, FailedPrecondition, InvalidArgument, Unavailable
from vms.file_modes import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE
from vms.urls import redact_credentials

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT = 10  # seconds (libpq connect_timeout)
READ_ONLY = "vms_read_only"  # execution option of the engine behind Database.session()
# Database.hash_lock: advisory lock keys HASH_LOCK_KEY + 0x00..0xff, one per hash prefix.
HASH_LOCK_KEY = 0x6861_7368_0000  # "hash"


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
        raise InvalidArgument(
            f"database URL {redact_credentials(url)!r} does not parse: "
            f"{redact_credentials(str(exc))}"
        ) from None
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
        # A database host that drops packets (a firewall, a dead route) or a server that
        # never answers the start-up: without a bound, a command or a request waited for
        # the kernel's TCP give-up (minutes). The URL may set its own connect_timeout.
        connect = (
            {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT}
        )
        return create_engine(
            parsed, echo=echo, pool_pre_ping=True, pool_size=10, connect_args=connect
        )
    raise InvalidArgument(
        f"database URL {redact_credentials(url)!r}: only sqlite:/// and postgresql:// "
        "databases are supported"
    )


def require_schema(url: str) -> None:
    """Refuse a database a command cannot work on, before it opens anything else: one
    that does not answer (:class:`Unavailable`, naming the URL without its password)
    or one with no VMS schema (:class:`FailedPrecondition`: ``vms init`` was not run, or
    ``data_dir``/``database_url`` names the wrong place). A SQLite file that does not
    exist is not created."""
    shown = redact_credentials(url)
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise FailedPrecondition(
            f"no VMS database at {path}: run `vms init` first (or check data_dir and database_url)"
        )
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            initialised = inspect(connection).has_table("alembic_version")
    except DBAPIError as exc:
        raise database_unavailable(exc, url) or exc from None
    finally:
        engine.dispose()
    if not initialised:
        raise FailedPrecondition(
            f"database {shown} has no VMS schema: run `vms init` first (or check database_url)"
        )


def database_unavailable(exc: BaseException, url: str) -> Unavailable | None:
    """Our error for a database at ``url`` that does not answer (refused, unknown host or
    database, wrong password, a SQLite file that cannot be opened: sqlalchemy's
    ``OperationalError``), naming the URL without its password; None for any other
    error."""
    if not isinstance(exc, OperationalError):
        return None
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return Unavailable(
        f"database {redact_credentials(url)} does not answer: {redact_credentials(reason)}"
    )


SQLITE_FULL = 13  # "database or disk is full" (the primary result code)

#: SQLSTATEs of a transaction PostgreSQL aborted because of another one, not because of
#: anything in it: what :meth:`Database.transaction` reports as a Conflict.
_MET_ANOTHER_WRITE = {"40P01": "deadlock detected", "40001": "serialization failure"}


def _met_another_write(exc: DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None)
    return _MET_ANOTHER_WRITE.get(state) if isinstance(state, str) else None


POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full


def is_database_full(exc: BaseException) -> bool:
    """Whether ``exc`` is the database saying its disk is full (SQLite's SQLITE_FULL,
    PostgreSQL's disk_full): the caller answers 507, not an internal error."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == SQLITE_FULL:
        return True
    return getattr(orig, "sqlstate", None) == POSTGRES_DISK_FULL


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


def insert_missing(session: Session, model: type[Any], **values: Any) -> bool:
    """Insert the row of ``model`` with ``values`` unless one with its primary key exists,
    in ``session``'s transaction; True when this call inserted it. Two transactions
    adding the same new row at once (the first two files of a new device) both succeed:
    the second waits for the first and adds nothing (PostgreSQL ``ON CONFLICT DO
    NOTHING``; SQLite's one writer), where ``get`` then ``add`` failed the second on the
    primary key."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = model.__table__
    statement = (
        insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key)
    )
    return session.execute(statement).first() is not None  # (rowcount: -1 on psycopg)


def _closing_when(disposed: threading.Event) -> Callable[[Any, Any], None]:
    """A pool "checkin" listener closing each connection returned once ``disposed`` is
    set: engine.dispose() closes only the connections in the pool, and one returned
    after it stayed open in a pool nobody uses."""

    def close_returned(_dbapi_connection: Any, record: Any) -> None:
        if disposed.is_set():
            record.invalidate()

    return close_returned


class Database:
    """An engine and its session factory. Services own transactions (STYLE practice 6)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Same pool, marked read-only: SQLite begins these deferred (see module doc).
        self._read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        self._poll_lock = threading.Lock()
        self._poll: tuple[int, Any] | None = None  # (pid, the pool's connection)
        self._compiled = _Statements(self.engine)
        self._locks: Engine | None = None  # hash_lock's connections (PostgreSQL)
        self._locks_lock = threading.Lock()
        self._disposed = threading.Event()
        event.listen(self.engine, "checkin", _closing_when(self._disposed))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.
        PostgreSQL aborting it because another write met it (a deadlock, a serialization
        failure) is a :class:`~vms.errors.Conflict` naming that: the caller may try
        again, nothing was written (an API answers 409, not 500)."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except DBAPIError as exc:
            met = _met_another_write(exc)
            if met is None:
                raise
            raise Conflict(
                f"the database aborted this write: {met} with another write at the same "
                "time; nothing was written, try again"
            ) from exc

    def session(self) -> Session:
        """A session for reading. Writes belong in :meth:`transaction`."""
        return self._read_sessions()

    def reader(self) -> Connection:
        """A Core connection for reading (begun deferred on SQLite, like :meth:`session`),
        for what polls a few columns many times a minute: about half the CPU of the
        same read through a session (no unit of work, no identity map, no ORM rows)."""
        return self._read_engine.connect()

    @contextlib.contextmanager
    def poll(self) -> Iterator[PollReader]:
        """One read transaction on the process's poll connection (module doc), for what
        polls a few columns every second. The connection is taken from the pool at the
        first poll of a process and kept (a forked child takes its own). A connection the
        database dropped (a restart) fails the poll's BEGIN or first statement: that is
        run again on a new connection, as the pool's pre-ping would have taken one. Any other
        error that leaves the block drops the connection, and the next poll takes
        another. Errors are the driver's own (``sqlite3.Error``, ``psycopg.Error``),
        not SQLAlchemy's."""
        with self._poll_lock:
            reader = PollReader(self._begin_poll(), self._compiled, self._reconnect_poll)
            try:
                yield reader
                reader.connection.rollback()  # nothing was written: end the snapshot
            except BaseException:
                self._drop_poll_connection()
                raise
            if self._disposed.is_set():  # a poll after dispose() (a late thread) keeps nothing
                self._drop_poll_connection()

    def _begin_poll(self) -> Any:
        connection = self._poll_connection()
        try:
            return self._begun(connection)
        except Exception as exc:
            fresh = self._reconnect_poll(exc, connection)
            if fresh is None:
                self._drop_poll_connection()
                raise
            return fresh

    def _poll_connection(self) -> Any:
        if self._poll is None or self._poll[0] != os.getpid():
            # A connection made before a fork belongs to the parent: never used here.
            self._poll = (os.getpid(), self.engine.raw_connection())
        return self._poll[1].driver_connection

    def _begun(self, connection: Any) -> Any:
        if self.dialect == "sqlite":
            connection.execute("BEGIN")  # deferred: a reader (module doc)
        return connection

    def _reconnect_poll(self, error: Exception, connection: Any) -> Any | None:
        """A new, begun poll connection when ``error`` says the database dropped
        ``connection``; None for any other error."""
        if not self.engine.dialect.is_disconnect(error, connection, None):  # type: ignore[arg-type]
            return None
        log.warning("the poll connection was dropped (%s); taking another", error)
        self._drop_poll_connection()
        return self._begun(self._poll_connection())

    def _drop_poll_connection(self) -> None:
        held, self._poll = self._poll, None
        if held is not None and held[0] == os.getpid():
            with contextlib.suppress(Exception):
                held[1].invalidate()

    @contextlib.contextmanager
    def hash_lock(self, sha256: str, *, wait: bool = True) -> Iterator[bool]:
        """The database's lock of ``sha256``'s hash prefix, seen by every host (INV-1,
        INV-3): the store's hash locks are file locks of one machine, so hosts sharing a
        bucket order "an ingest relies on the stored object" and "the purge deletes it"
        with this one too. A PostgreSQL session-level advisory lock (one per prefix, as
        the store's 256 lock files) on a connection of its own, held for the block, no
        transaction left open meanwhile; ``wait=False`` yields False at once when another
        holds it. SQLite is one host's file: nothing to share, yields True."""
        if self.dialect != "postgresql":
            yield True
            return
        key = {"k": HASH_LOCK_KEY + int(sha256[:2], 16)}
        with self._lock_engine().connect() as connection:
            if wait:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), key)
                held = True
            else:
                held = bool(
                    connection.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar()
                )
            connection.commit()
            try:
                yield held
            finally:
                if held:
                    try:
                        connection.execute(text("SELECT pg_advisory_unlock(:k)"), key)
                        connection.commit()
                    except Exception:
                        connection.invalidate()  # closed: the server drops its locks
                        raise

    def _lock_engine(self) -> Engine:
        """Connections for :meth:`hash_lock`, outside the pool: an ingest holds its lock
        while it takes a pooled connection for its transaction, so locks drawn from the
        same pool could take all of it and leave every ingest waiting for a connection."""
        with self._locks_lock:
            if self._locks is None:
                self._locks = create_engine(self.engine.url, poolclass=NullPool)
            return self._locks

    def dispose(self) -> None:
        """Close the connections: those in the pool and the poll connection now, one
        still in use (another thread's) when it is returned. A poll made after this
        keeps no connection. Left to the garbage collector, a connection was closed by
        the driver's finaliser at a random later moment (psycopg: a ResourceWarning,
        "deleted while still open")."""
        self._disposed.set()
        self._drop_poll_connection()
        self.engine.dispose()
        if self._locks is not None:
            self._locks.dispose()


#: Keys (cameras) one batched poll statement asks about (:func:`poll_in`): a fixed number
#: of parameters, so the statement is compiled once like every poll statement; a
#: hundred cameras are one statement, not a hundred.
POLL_KEYS = 100


def poll_in(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """``column IN (:k0, ..., :k99)`` for a module-level poll statement, whose
    parameters :func:`poll_keys` fills."""
    return column.in_([bindparam(f"k{i}") for i in range(POLL_KEYS)])


def poll_keys(keys: Sequence[str]) -> Iterator[dict[str, str]]:
    """The parameters of a :func:`poll_in` statement for ``keys``, POLL_KEYS at a time;
    the last key of a batch repeats to fill it."""
    for at in range(0, len(keys), POLL_KEYS):
        batch = list(keys[at : at + POLL_KEYS])
        batch += [batch[-1]] * (POLL_KEYS - len(batch))
        yield {f"k{i}": key for i, key in enumerate(batch)}


@dataclass(frozen=True)
class _Statement:
    sql: str
    names: tuple[str, ...] | None  # positional parameters in order; None: named
    results: tuple[Callable[[Any], Any] | None, ...]  # each column's type's conversion


class _Statements:
    """Statements compiled once for the engine's dialect (:meth:`Database.poll`)."""

    def __init__(self, engine: Engine) -> None:
        self._dialect = engine.dialect
        # By the statement object (module-level, kept); only used under the poll lock.
        self._cache: dict[Select[*tuple[Any, ...]], _Statement] = {}

    def get(self, statement: Select[*tuple[Any, ...]]) -> _Statement:
        made = self._cache.get(statement)
        if made is not None:
            return made
        dialect = self._dialect
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        )
        made = self._cache[statement] = _Statement(str(compiled), names, results)
        return made


class PollReader:
    """The statements of one :meth:`Database.poll`: module-level ``select`` objects
    with bound parameters of plain values (str, int, bool, None: no conversion)."""

    def __init__(
        self,
        connection: Any,
        statements: _Statements,
        reconnect: Callable[[Exception, Any], Any | None] | None = None,
    ) -> None:
        self.connection = connection
        self._statements = statements
        # Until the first statement has run: a dropped connection is replaced and the
        # statement run again (nothing read before it is lost).
        self._reconnect = reconnect

    def all(
        self, statement: Select[*tuple[Any, ...]], params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        made = self._statements.get(statement)
        for value in params.values():
            if value is not None and not isinstance(value, str | int | bool):
                raise TypeError(f"a poll parameter must be a plain value, not {value!r}")
        args: Any = params if made.names is None else tuple(params[n] for n in made.names)
        reconnect, self._reconnect = self._reconnect, None
        try:
            rows = _fetch(self.connection, made.sql, args)
        except Exception as exc:
            fresh = reconnect(exc, self.connection) if reconnect is not None else None
            if fresh is None:
                raise
            self.connection = fresh
            rows = _fetch(fresh, made.sql, args)
        return [
            tuple(
                raw if convert is None else convert(raw)
                for raw, convert in zip(row, made.results, strict=True)
            )
            for row in rows
        ]

    def first(
        self, statement: Select[*tuple[Any, ...]], params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        rows = self.all(statement, params)
        return rows[0] if rows else None


def _fetch(connection: Any, sql: str, args: Any) -> list[Any]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql, args)
        return list(cursor.fetchall())
    finally:
        cursor.close()
