"""Who runs an export now (docs/design/exports.md, "Who runs an export"): the exports'
binding of the row leases of :mod:`vms.row_leases`.

An export is run by the jobs role (``run_pending``) or by ``vms export create`` in its own
process. Either way its runner holds the export's lease (the row's ``runner``,
``runner_token``, ``runner_expires_at``). The recovery
(:meth:`ExportService.recover_interrupted`, at the jobs role's start and before each round
of the ``exports`` job) takes over only a ``running`` export whose lease has expired; the
token fences a stalled runner off (its progress steps, ingests and ``done`` transaction).
"""

from __future__ import annotations

from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import Export
from vms.row_leases import Held as Held
from vms.row_leases import LeaseLost as LeaseLost
from vms.row_leases import RowLeases
from vms.row_leases import Runner as Runner

QUEUED, RUNNING = "queued", "running"
EXPORTS = RowLeases(Export, (RUNNING,), "export")


def take(db: Database, clock: Clock, runner: Runner, export_id: str, *, queued: bool) -> int | None:
    """Take ``export_id``'s lease: a ``queued`` export (``queued=True``: it becomes
    ``running``), or a ``running`` one whose lease expired or was never taken (a
    recovery). Returns the new fencing token, or None when it was not free."""
    if queued:
        return EXPORTS.take(db, clock, runner, export_id, queued=QUEUED, running=RUNNING)
    return EXPORTS.take_over(db, clock, runner, export_id)


def abandoned(db: Database, clock: Clock) -> list[str]:
    """The ``running`` exports whose runner's lease expired (or was never taken)."""
    return EXPORTS.abandoned(db, clock)


def holds(db: Database, export_id: str, token: int) -> bool:
    """Is ``token`` still ``export_id``'s lease (nobody took it over)?"""
    return EXPORTS.holds(db, export_id, token)


def held(db: Database, clock: Clock, runner: Runner, export_id: str, token: int) -> Held:
    """``export_id``'s lease ``token`` while its runner works (a context manager)."""
    return EXPORTS.held(db, clock, runner, export_id, token)
