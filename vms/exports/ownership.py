"""Who runs an export now (docs/design/exports.md, "Who runs an export").

An export is run by the jobs role (``run_pending``) or by ``vms export create`` in its own
process. Either way its runner holds the export's **lease**: the row's ``runner``,
``runner_token`` and ``runner_expires_at``, taken by one conditional ``UPDATE`` (the
database decides; as ``vms/leases.py`` does for jobs), renewed by a heartbeat every third
of ``[cluster] job_lease_seconds`` while it runs.

- The recovery (:meth:`ExportService.recover_interrupted`, at the jobs role's start and
  before each round of the ``exports`` job) takes over only a ``running`` export whose
  lease has expired: its runner is gone (kill -9, a lost machine) or stalled past the
  lease. A live runner's export, its row and its work folder, are left alone.
- **Fencing**: every take increments the token; the heartbeat, the job's progress steps
  and its last transaction (``running`` -> ``done``) name it, so a stalled runner that
  wakes after a takeover stops instead of finishing or failing the export twice, and
  leaves the work folder to its new runner.

Time is the services' clock (INV-7); processes' clocks must agree to well within the
lease (NTP), as for the job leases.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import or_, select, update

from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import Export
from vms.errors import Conflict
from vms.leases import default_node_id, rows_changed

log = logging.getLogger(__name__)

QUEUED, RUNNING = "queued", "running"


@dataclass(frozen=True)
class Runner:
    """This process as a runner of exports: its name and how long its leases last."""

    name: str
    lease: dt.timedelta

    @classmethod
    def of(cls, node_id: str, lease_seconds: float) -> Runner:
        """``node_id`` (``[cluster] node_id``) with this process's id, so a CLI run and a
        jobs role sharing the configuration are told apart in the row and the logs."""
        name = f"{node_id}:{os.getpid()}" if node_id else default_node_id()
        return cls(name, dt.timedelta(seconds=lease_seconds))


class LeaseLost(Conflict):
    """The export's lease passed to another runner (it took over a stalled one)."""


def take(db: Database, clock: Clock, runner: Runner, export_id: str, *, queued: bool) -> int | None:
    """Take ``export_id``'s lease: a ``queued`` export (``queued=True``: it becomes
    ``running``), or a ``running`` one whose lease expired or was never taken (a
    recovery). Returns the new fencing token, or None when it was not free."""
    now = clock.now()
    if queued:
        free = Export.state == QUEUED
    else:
        free = (Export.state == RUNNING) & or_(
            Export.runner_expires_at.is_(None), Export.runner_expires_at <= now
        )
    with db.transaction() as s:
        taken = rows_changed(
            s,
            update(Export)
            .where(Export.id == export_id, free)
            .values(
                state=RUNNING,
                runner=runner.name,
                runner_token=Export.runner_token + 1,
                runner_expires_at=now + runner.lease,
            ),
        )
        if taken != 1:
            return None
        return int(
            s.execute(select(Export.runner_token).where(Export.id == export_id)).scalar_one()
        )


def abandoned(db: Database, clock: Clock) -> list[str]:
    """The ``running`` exports whose runner's lease expired (or was never taken)."""
    now = clock.now()
    with db.session() as s:
        return list(
            s.execute(
                select(Export.id).where(
                    Export.state == RUNNING,
                    or_(Export.runner_expires_at.is_(None), Export.runner_expires_at <= now),
                )
            ).scalars()
        )


def holds(db: Database, export_id: str, token: int) -> bool:
    """Is ``token`` still ``export_id``'s lease (nobody took it over)?"""
    with db.session() as s:
        row = s.get(Export, export_id)
        return row is not None and row.runner_token == token


class Held:
    """An export's lease while its runner works: renewed by a heartbeat thread;
    :meth:`check` raises :class:`LeaseLost` once it was taken over."""

    def __init__(
        self, db: Database, clock: Clock, runner: Runner, export_id: str, token: int
    ) -> None:
        self.db, self.clock, self.runner = db, clock, runner
        self.export_id, self.token = export_id, token
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._beat = threading.Thread(
            target=self._heartbeat, name=f"export-lease-{export_id[:8]}", daemon=True
        )

    def __enter__(self) -> Held:
        self._beat.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._beat.join(timeout=10)

    def check(self) -> None:
        """LeaseLost once another runner took the export over (asked of the database:
        a stalled runner learns it at its next step, not at its next heartbeat)."""
        if not self.lost.is_set() and not holds(self.db, self.export_id, self.token):
            self.lost.set()
        if self.lost.is_set():
            raise LeaseLost(
                f"export {self.export_id}: its lease (token {self.token}) passed to another "
                f"runner while {self.runner.name} ran it: stopped here"
            )

    def renew(self) -> bool:
        with self.db.transaction() as s:
            done = rows_changed(
                s,
                update(Export)
                .where(Export.id == self.export_id, Export.runner_token == self.token)
                .values(runner_expires_at=self.clock.now() + self.runner.lease),
            )
        if done != 1:
            log.error(
                "export %s: its lease was taken over while %s ran it",
                self.export_id,
                self.runner.name,
            )
            self.lost.set()
        return done == 1

    def _heartbeat(self) -> None:
        period = self.runner.lease.total_seconds() / 3
        while not self._stop.wait(period):
            try:
                if not self.renew():
                    return
            except Exception:
                log.exception("export %s: renewing its lease failed", self.export_id)
