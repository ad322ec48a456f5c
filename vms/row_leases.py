"""Who runs a job's row now: a lease held in the row itself (docs/design/exports.md,
"Who runs an export"; docs/design/redaction.md, "Who runs a step").

An export or a redaction step is run by one process (the jobs role of one of the jobs
hosts, or ``vms export create``). Its runner holds the row's **lease**: the row's
``runner``, ``runner_token`` and ``runner_expires_at``, taken by one conditional
``UPDATE`` (the database decides; as ``vms/leases.py`` does for jobs), renewed by a
heartbeat every third of ``[cluster] job_lease_seconds`` while it runs.

- A recovery (at the jobs role's start and before each round of the job) takes over only
  a row in a running state whose lease has expired: its runner is gone (kill -9, a lost
  machine) or stalled past the lease. A live runner's row, and its work folder, are left
  alone, whichever process or host runs it.
- **Fencing**: every take increments the token; the heartbeat, the job's progress steps
  and its last transaction name it, so a stalled runner that wakes after a takeover
  stops instead of finishing or failing the row twice, and leaves the work folder to its
  new runner.

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
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update

from vms.clock import Clock
from vms.db.engine import Database
from vms.errors import Conflict
from vms.leases import default_node_id, rows_changed
from vms.outage_log import OutageLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runner:
    """This process as a runner of jobs' rows: its name and how long its leases last."""

    name: str
    lease: dt.timedelta

    @classmethod
    def of(cls, node_id: str, lease_seconds: float) -> Runner:
        """``node_id`` (``[cluster] node_id``) with this process's id, so a CLI run and a
        jobs role sharing the configuration are told apart in the row and the logs."""
        name = f"{node_id}:{os.getpid()}" if node_id else default_node_id()
        return cls(name, dt.timedelta(seconds=lease_seconds))


class LeaseLost(Conflict):
    """The row's lease passed to another runner (it took over a stalled one)."""


@dataclass(frozen=True)
class RowLeases:
    """The leases of one table's rows. ``model`` has the columns ``id``, ``state``,
    ``runner``, ``runner_token`` and ``runner_expires_at``; ``running`` are the states a
    runner works in (a row in one of them is owned by its lease); ``what`` names a row in
    messages ("export", "redaction")."""

    model: Any
    running: tuple[str, ...]
    what: str

    def take(
        self,
        db: Database,
        clock: Clock,
        runner: Runner,
        row_id: str,
        *,
        queued: str,
        running: str,
        **values: object,
    ) -> int | None:
        """Take the lease of ``row_id`` in state ``queued``, which becomes ``running``
        (with ``values`` set too). Returns the new fencing token, or None when the row
        was not in ``queued`` (another runner claimed it)."""
        return self._take(db, clock, runner, row_id, self.model.state == queued, running, values)

    def take_over(self, db: Database, clock: Clock, runner: Runner, row_id: str) -> int | None:
        """Take over the lease of ``row_id`` in a running state whose lease expired or
        was never taken (a recovery). Returns the new token, or None when it is not
        abandoned (renewed, taken over or finished meanwhile)."""
        return self._take(db, clock, runner, row_id, self._expired(clock.now()), None, {})

    def _take(
        self,
        db: Database,
        clock: Clock,
        runner: Runner,
        row_id: str,
        free: ColumnElement[bool],
        state: str | None,
        values: dict[str, object],
    ) -> int | None:
        model = self.model
        changes: dict[str, object] = {
            **values,
            "runner": runner.name,
            "runner_token": model.runner_token + 1,
            "runner_expires_at": clock.now() + runner.lease,
        }
        if state is not None:
            changes["state"] = state
        with db.transaction() as s:
            taken = rows_changed(s, update(model).where(model.id == row_id, free).values(changes))
            if taken != 1:
                return None
            return int(s.execute(select(model.runner_token).where(model.id == row_id)).scalar_one())

    def _expired(self, now: dt.datetime) -> ColumnElement[bool]:
        model = self.model
        return model.state.in_(self.running) & or_(
            model.runner_expires_at.is_(None), model.runner_expires_at <= now
        )

    def abandoned(self, db: Database, clock: Clock) -> list[str]:
        """The rows in a running state whose runner's lease expired (or was never taken)."""
        with db.session() as s:
            return [
                str(r)
                for r in s.execute(
                    select(self.model.id).where(self._expired(clock.now()))
                ).scalars()
            ]

    def holds(self, db: Database, row_id: str, token: int) -> bool:
        """Is ``token`` still ``row_id``'s lease (nobody took it over)?"""
        with db.session() as s:
            row = s.get(self.model, row_id)
            return row is not None and row.runner_token == token

    def fence(self, row_id: str, token: int) -> ColumnElement[bool]:
        """The condition of a runner's last ``UPDATE`` (``running`` -> its end): the row
        is still under ``token`` (a takeover moved it on)."""
        return (self.model.id == row_id) & (self.model.runner_token == token)

    def held(self, db: Database, clock: Clock, runner: Runner, row_id: str, token: int) -> Held:
        """The lease ``token`` of ``row_id`` while its runner works (a context manager)."""
        return Held(self, db, clock, runner, row_id, token)


class Held:
    """A row's lease while its runner works: renewed by a heartbeat thread;
    :meth:`check` raises :class:`LeaseLost` once it was taken over."""

    def __init__(
        self,
        leases: RowLeases,
        db: Database,
        clock: Clock,
        runner: Runner,
        row_id: str,
        token: int,
    ) -> None:
        self.leases, self.db, self.clock, self.runner = leases, db, clock, runner
        self.row_id, self.token = row_id, token
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._beat = threading.Thread(
            target=self._heartbeat, name=f"{leases.what}-lease-{row_id[:8]}", daemon=True
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
        """LeaseLost once another runner took the row over (asked of the database: a
        stalled runner learns it at its next step, not at its next heartbeat)."""
        if not self.lost.is_set() and not self.leases.holds(self.db, self.row_id, self.token):
            self.lost.set()
        if self.lost.is_set():
            raise LeaseLost(
                f"{self.leases.what} {self.row_id}: its lease (token {self.token}) passed to "
                f"another runner while {self.runner.name} ran it: stopped here"
            )

    def renew(self) -> bool:
        model = self.leases.model
        with self.db.transaction() as s:
            done = rows_changed(
                s,
                update(model)
                .where(self.leases.fence(self.row_id, self.token))
                .values(runner_expires_at=self.clock.now() + self.runner.lease),
            )
        if done != 1:
            log.error(
                "%s %s: its lease was taken over while %s ran it",
                self.leases.what,
                self.row_id,
                self.runner.name,
            )
            self.lost.set()
        return done == 1

    def _heartbeat(self) -> None:
        period = self.runner.lease.total_seconds() / 3
        # The database away: once per outage, not a traceback every lease/3 s.
        renewing = OutageLog(log)
        what, row_id = self.leases.what, self.row_id
        while not self._stop.wait(period):
            try:
                if not self.renew():
                    return
            except Exception:
                renewing.failed("%s %s: renewing its lease failed", what, row_id)
                continue
            renewing.works("%s %s: renewing its lease works again", what, row_id)
