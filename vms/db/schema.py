"""Which schema revisions this code knows, and refusing a database beyond them.

An agency that reinstalls an older release over a database a newer one upgraded (a
rolled-back upgrade) must not run against it: the older code does not know the newer
tables and columns, so it writes rows the newer release never expected (an audit entry
without its mentions, an item without what a newer table keeps beside it) or fails
midway on them. Every process opens the database through
:meth:`vms.services.Services.open`, which refuses such a database by name before
anything is read or written; :func:`vms.migrations.upgrade` refuses it as well.

Commands that do not migrate (most of the ``vms`` CLI, to start quickly) check with
:func:`require_head` that the schema is this code's, so one run after the package was
upgraded and before the first start says to run ``vms init`` rather than end in a SQL
traceback ("no such column").

The revisions are read from the migration scripts' ``revision = "..."`` lines, not
through Alembic, which costs commands that do not migrate ~0.06 s to load.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from vms.errors import FailedPrecondition

VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"
_REVISION = re.compile(r"""^revision\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN = re.compile(r"""^down_revision\s*=\s*(?:["']([^"']+)["']|None)""", re.MULTILINE)


@functools.cache
def known_revisions() -> tuple[frozenset[str], str]:
    """The revisions of this code's migrations, and the newest of them (the head)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in VERSIONS.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revision = _REVISION.search(source)
        if revision is None:
            continue
        revisions.add(revision.group(1))
        down = _DOWN.search(source)
        if down is not None and down.group(1):
            parents.add(down.group(1))
    heads = sorted(revisions - parents)
    return frozenset(revisions), ",".join(heads)


def stored_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database; None for a database never
    migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def refuse_newer(engine: Engine) -> None:
    """Raise :class:`FailedPrecondition` when the database's schema is at a revision
    this code does not know (a newer release migrated it)."""
    stored = stored_revision(engine)
    known, head = known_revisions()
    if stored is None or stored in known:
        return
    raise FailedPrecondition(
        f"the database's schema is at revision {stored!r}, newer than this VMS (whose "
        f"newest is {head!r}): a newer release upgraded it. Run that release, or restore "
        "the database backup taken before the upgrade; refusing to use it",
        revision=stored,
        head=head,
    )


def require_head(engine: Engine) -> None:
    """Raise :class:`FailedPrecondition` unless the database's schema is this code's
    newest revision (a newer one is refused by :func:`refuse_newer`)."""
    refuse_newer(engine)
    stored = stored_revision(engine)
    _, head = known_revisions()
    if stored == head:
        return
    where = "has no schema yet" if stored is None else f"is at revision {stored!r}"
    older = "" if stored is None else ", older than this VMS"
    raise FailedPrecondition(
        f"the database's schema {where}{older} (whose newest is {head!r}): run "
        "`vms init` (or start `vms serve`) to upgrade it first",
        revision=stored,
        head=head,
    )
