"""A consistent copy of the catalog database, and what it names (docs/design/backup.md).

- **SQLite**: SQLite's online backup API copies the database page by page inside one read
  transaction: a copy of the catalog as of one commit, while the VMS keeps writing (WAL).
  What the copy names is then read from the copy itself.
- **PostgreSQL**: a ``REPEATABLE READ`` transaction exports its snapshot
  (``pg_export_snapshot()``); ``pg_dump --snapshot`` dumps exactly that snapshot while
  the same transaction reads the originals, the audit head and the revision, so the dump
  and the manifest describe one moment. The password goes to ``pg_dump`` in its
  environment, never on its command line (another local user's ``ps`` shows argv).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL, make_url

from vms.db.engine import make_engine, sqlite_path
from vms.errors import FailedPrecondition, Unavailable

# What a catalog names, read in the snapshot's own transaction.
_OBJECTS = "SELECT sha256, MAX(size_bytes), COUNT(*) FROM media_items GROUP BY sha256"
_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
_REVISION = "SELECT version_num FROM alembic_version"
# Runs one of the statements above with its parameters; returns its rows.
Run = Callable[..., Iterable[Sequence[object]]]
# A dump or restore of a big catalog takes minutes; a hung server must not hang the CLI.
PG_TOOL_TIMEOUT = 6 * 3600


@dataclass
class Snapshot:
    kind: str  # "sqlite" | "postgresql"
    revision: str
    audit_seq: int
    audit_hash: str
    items: int
    objects: dict[str, int]  # sha256 -> size


def database_kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise FailedPrecondition(f"a backup of a {backend} database is not supported")
    return backend


def take(url: str, out: Path) -> Snapshot:
    """Copy the database at ``url`` into ``out`` (which must not exist) and describe it."""
    if database_kind(url) == "sqlite":
        source = sqlite_path(url)
        if source is None or not source.is_file():
            raise FailedPrecondition(f"the catalog database {source} does not exist")
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        with (
            contextlib.closing(sqlite3.connect(source)) as src,
            contextlib.closing(sqlite3.connect(out)) as dst,
        ):
            src.backup(dst)  # all pages in one step: one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        return describe_sqlite(out)
    return _take_postgresql(url, out)


def describe_sqlite(path: Path) -> Snapshot:
    """What a SQLite snapshot names (read-only: the set is not changed by verifying it)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            return _describe("sqlite", lambda sql, **params: db.execute(sql, params))
        except sqlite3.DatabaseError as exc:
            raise FailedPrecondition(f"{path} is not a VMS catalog: {exc}") from None


def _describe(kind: str, execute: Run) -> Snapshot:
    objects: dict[str, int] = {}
    items = 0
    for sha, size, count in execute(_OBJECTS):
        objects[str(sha)] = int(str(size))
        items += int(str(count))
    head = list(execute(_HEAD))
    revision = list(execute(_REVISION))
    if not head or not revision:
        raise FailedPrecondition("the catalog has no audit head or no schema revision")
    return Snapshot(
        kind=kind,
        revision=str(revision[0][0]),
        audit_seq=int(str(head[0][0])),
        audit_hash=str(head[0][1]),
        items=items,
        objects=objects,
    )


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment carrying it."""
    parsed: URL = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    # A password may also come as a query parameter (``?password=``, which the driver
    # takes too): it leaves the URI as well, or ps shows it on pg_dump's command line.
    query = dict(parsed.query)
    in_query = query.pop("password", None)
    if isinstance(in_query, tuple):
        in_query = in_query[-1] if in_query else None
    password = parsed.password or in_query
    if password:
        env["PGPASSWORD"] = str(password)
    # URL.set(password=None) keeps the password ("None: unchanged"): build a new URL.
    plain = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    )
    return plain.render_as_string(hide_password=False), env


def pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FailedPrecondition(
            f"{name} is not installed (Debian: apt-get install postgresql-client)"
        )
    return found


def run_pg_tool(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=PG_TOOL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"{what} did not finish in {PG_TOOL_TIMEOUT} s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise Unavailable(f"{what} failed: {detail[-1] if detail else done.returncode}")


def _take_postgresql(url: str, out: Path) -> Snapshot:
    dump = pg_tool("pg_dump")
    target, env = libpq(url)
    engine = make_engine(url)
    try:
        with _repeatable_read(engine.connect()) as conn:
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            described = _describe("postgresql", lambda sql, **p: conn.execute(text(sql), p).all())
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            run_pg_tool(
                [
                    dump,
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot_id}",
                    f"--file={out}",
                    f"--dbname={target}",
                ],
                env,
                "pg_dump",
            )
    finally:
        engine.dispose()
    return described


@contextlib.contextmanager
def _repeatable_read(conn: Connection) -> Iterator[Connection]:
    try:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text("SET TRANSACTION READ ONLY"))
            yield conn
    finally:
        conn.close()
