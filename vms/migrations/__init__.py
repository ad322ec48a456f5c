"""Alembic migrations; run them with :func:`vms.migrations.upgrade`."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from vms.db.engine import sqlite_path
from vms.db.schema import refuse_newer
from vms.errors import FailedPrecondition
from vms.file_modes import PRIVATE_FILE_MODE

HERE = Path(__file__).parent
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout ran out (env.py sets it)
RETRY_SECONDS = 1.0

log = logging.getLogger(__name__)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


Recorder = Callable[[Connection, str, str], None]


def upgrade(engine: Engine, revision: str = "head", *, record: Recorder | None = None) -> None:
    """Bring the schema at ``engine`` to ``revision`` (idempotent). A database a newer
    release migrated is refused by name (Alembic would say "Can't locate revision").
    On PostgreSQL, a migration that found a table held by another transaction is tried
    again until it gets it (env.py: waiting in the lock queue stalled the table).
    ``record(connection, from, to)`` is called in the migration's transaction when an
    existing schema was upgraded (the audit entry of the upgrade, ACC-6)."""
    with _one_at_a_time(engine):
        refuse_newer(engine)
        while True:
            try:
                cfg = alembic_config(engine)
                cfg.attributes["record"] = record
                command.upgrade(cfg, revision)
                return
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                    raise
                # Rolled back whole; the other transaction's queries went on meanwhile.
                log.warning("migration waits for a table another transaction holds: %s", exc.orig)
                time.sleep(RETRY_SECONDS)


@contextlib.contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """On SQLite, wait for another process's migration however long it takes. Its
    write transaction made this one's ``BEGIN IMMEDIATE`` wait only the busy timeout
    (30 s), after which the role failed to start with "database is locked" while a
    large table was rebuilt. A lock file beside the database (never the database file
    itself: closing a descriptor of it would drop SQLite's own locks of the process)
    queues the migrations; PostgreSQL's are queued by an advisory lock in env.py."""
    database = sqlite_path(engine.url.render_as_string(hide_password=False))
    if database is None:
        yield
        return
    lock = f"{database}.migrate-lock"
    try:
        # Never through a link: beside a database kept in a shared folder, another local
        # user's link made the service create a file wherever it pointed (#10.12).
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise FailedPrecondition(
            f"{lock} is a link: another local user could have planted it; remove it"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def check(engine: Engine) -> None:
    """Raise if the models and the migrated schema differ (``alembic check``)."""
    command.check(alembic_config(engine))
