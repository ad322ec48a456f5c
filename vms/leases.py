"""One runner of each cluster-wide scheduled job (issue 13, item 5; docs/design/
ports-and-roles.md, "Jobs across nodes").

Every jobs-role process runs every job's loop, but a job marked ``cluster_once`` (purge,
tagging report, dock scan, exports, redactions, audit checkpoints, upload expiry) runs
only under a **lease**: a row of ``job_leases`` claimed by one conditional ``UPDATE``
(the database decides who wins; no process trusts its own view), held for
``[cluster] job_lease_seconds`` and renewed by a heartbeat while the job runs.

- **Once per period**: a claim succeeds only when the lease is free or expired *and* the
  job is due (its last run started ``interval`` ago) *or* its last run never finished.
- **A dead holder** (kill -9, a lost machine) stops renewing; when its lease expires the
  next node's claim sees the unfinished run and calls the job's ``recover`` first (for
  exports: finish from the saved plan or fail, issue 15.6), then runs it. The job's steps
  are idempotent, so a run cut short is not a run done twice.
- **Fencing**: every claim increments ``token``; renewals and the release name it, so a
  stalled holder that wakes after a takeover can neither extend nor close the new
  holder's lease (it finds its token gone and says so in the log).

Time is the services' clock (INV-7); nodes' clocks must agree to well within the lease
(NTP), as for every time the catalog stores.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vms.audit.log import AuditLog, Who
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import Camera, CameraLease, JobLease, MediaNode
from vms.errors import Conflict, NotFound
from vms.outage_log import OutageLog

log = logging.getLogger(__name__)


def default_node_id() -> str:
    """``host:pid``: unique per process, readable in ``job_leases`` and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    """A lease this node holds: ``token`` fences it (see the module's text)."""

    name: str
    token: int
    # The previous run had started and not finished: its holder died or was cut off.
    interrupted: bool


class JobLeases:
    def __init__(self, db: Database, clock: Clock, node_id: str, lease: dt.timedelta) -> None:
        if lease <= dt.timedelta(0):
            raise ValueError(f"a job lease must last some time, not {lease}")
        self.db = db
        self.clock = clock
        self.node_id = node_id
        self.lease = lease
        self._known: set[str] = set()  # job names whose row exists

    def claim(self, name: str, interval: dt.timedelta) -> Claim | None:
        """Take the lease of job ``name`` when it is free (or expired) and the job is due
        or was interrupted; None when another node holds it or the job is not due."""
        now = self.clock.now()
        if name not in self._known:
            try:
                with self.db.transaction() as s:
                    if s.get(JobLease, name) is None:
                        s.add(JobLease(name=name, token=0))
            except IntegrityError:
                pass  # another node made the row at the same time: the UPDATE decides
            self._known.add(name)
        # Read first: most looks find the job held or not due, and need no write (on
        # SQLite a write takes the database's one write lock, every second per job).
        with self.db.session() as s:
            row = s.get(JobLease, name)
            assert row is not None
            seen = row.token
            interrupted = row.started_at is not None and (
                row.finished_at is None or row.finished_at < row.started_at
            )
            held = row.expires_at is not None and now < row.expires_at <= self._horizon(now)
            not_due = (
                row.started_at is not None and now - interval < row.started_at <= now + self.lease
            )
        if held or (not_due and not interrupted):
            return None
        token = seen + 1
        with self.db.transaction() as s:
            claimed = rows_changed(
                s,
                update(JobLease)
                .where(
                    JobLease.name == name,
                    JobLease.token == seen,  # nobody claimed since we read it
                    or_(
                        JobLease.expires_at.is_(None),
                        JobLease.expires_at <= now,
                        JobLease.expires_at > self._horizon(now),
                    ),
                    or_(
                        JobLease.started_at.is_(None),
                        JobLease.started_at <= now - interval,
                        JobLease.started_at > now + self.lease,
                        JobLease.finished_at.is_(None),
                        JobLease.finished_at < JobLease.started_at,
                    ),
                )
                .values(
                    holder=self.node_id,
                    token=token,
                    expires_at=now + self.lease,
                    started_at=now,
                ),
            )
        if claimed != 1:
            return None
        if interrupted:
            log.warning(
                "job %s: the previous run did not finish; %s takes it over", name, self.node_id
            )
        return Claim(name, token, interrupted)

    def _horizon(self, now: dt.datetime) -> dt.datetime:
        """The latest expiry a lease written by a clock in step with this one can have: a
        claim or renewal sets ``now + lease``, and nodes may differ by up to a lease. One
        later (and a start later than ``now + lease``) was written by a clock that ran ahead
        and was set back since: stale, or every job would wait for that clock to come
        round again (INV-7, RET-13)."""
        return now + 2 * self.lease

    def held_elsewhere(self, name: str) -> str | None:
        """The node holding job ``name``'s lease now, if not this one (else None)."""
        with self.db.session() as s:
            row = s.get(JobLease, name)
            now = self.clock.now()
            if row is None or row.expires_at is None or row.expires_at <= now:
                return None
            if row.expires_at > self._horizon(now):
                return None
            return row.holder if row.holder != self.node_id else None

    def unless_held(self, name: str, step: Callable[[], object]) -> bool:
        """Run ``step`` unless another node holds job ``name``'s lease (then log who)."""
        holder = self.held_elsewhere(name)
        if holder is not None:
            log.info(
                "job %s is held by %s: %s does not run its recovery", name, holder, self.node_id
            )
            return False
        step()
        return True

    def renew(self, claim: Claim) -> bool:
        """Extend the lease; False when it was taken over (the token moved on)."""
        with self.db.transaction() as s:
            done = rows_changed(
                s,
                update(JobLease)
                .where(JobLease.name == claim.name, JobLease.token == claim.token)
                .values(expires_at=self.clock.now() + self.lease),
            )
        if done != 1:
            log.error("job %s: the lease was taken over while %s ran it", claim.name, self.node_id)
        return done == 1

    def release(self, claim: Claim) -> bool:
        """Mark the run finished and free the lease (only if still ours)."""
        with self.db.transaction() as s:
            done = rows_changed(
                s,
                update(JobLease)
                .where(and_(JobLease.name == claim.name, JobLease.token == claim.token))
                .values(expires_at=None, holder=None, finished_at=self.clock.now()),
            )
        return done == 1

    def run(
        self,
        name: str,
        interval: dt.timedelta,
        job: Callable[[], object],
        recover: Callable[[], object] | None = None,
    ) -> bool:
        """Claim, run (``recover`` first after an interrupted run), renew meanwhile, and
        release. True when this node ran the job. A failing job still releases (its run
        ended: the next period retries it)."""
        claim = self.claim(name, interval)
        if claim is None:
            return False
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(claim, stop), name=f"lease-{name}", daemon=True
        )
        beat.start()
        try:
            if claim.interrupted and recover is not None:
                recover()
            job()
        finally:
            stop.set()
            beat.join(timeout=10)
            self.release(claim)
        return True

    def _heartbeat(self, claim: Claim, stop: threading.Event) -> None:
        period = self.lease.total_seconds() / 3
        # The database away: once per outage, not a traceback every lease/3 s.
        renewing = OutageLog(log)
        while not stop.wait(period):
            try:
                if not self.renew(claim):
                    return
            except Exception:
                renewing.failed("job %s: renewing the lease failed", claim.name)
                continue
            renewing.works("job %s: renewing the lease works again", claim.name)


def rows_changed(s: Session, statement: Executable) -> int:
    """How many rows an UPDATE changed."""
    return int(cast(CursorResult[Any], s.execute(statement)).rowcount or 0)


class LeaseLost(Conflict):
    """A recorded segment's camera lease passed to another node (issue 13.1)."""


def check_camera_fence(
    s: Session, camera_id: str, token: int, what: str = "segment", done: str = "catalogued"
) -> None:
    """In the transaction that catalogues a recorded segment or writes a recording gap
    (issue 13.1, recorder/ownership.py): Conflict unless ``token`` is still the camera's
    lease, so a media node that lost the camera (stalled past its lease, then woke, or
    slow to stop it) writes neither segments nor gaps of it after the takeover: the
    camera's recording, and its record of what is missing, are the new holder's (OPS-4).
    Locks the lease row until the commit (PostgreSQL; SQLite has one writer), so a claim
    waits for it."""
    row = s.execute(
        select(CameraLease).where(CameraLease.camera_id == camera_id).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.token != token:
        holder = "nobody" if row is None or row.node_id is None else row.node_id
        raise LeaseLost(
            f"camera {camera_id}: the lease this {what} was written under (token {token}) "
            f"has passed to {holder} (token {0 if row is None else row.token}): not {done}"
        )


@dataclass(frozen=True)
class NodeStatus:
    node_id: str
    internal_url: str | None
    capacity: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    alive: bool
    cameras: tuple[str, ...]


def cluster_status(db: Database, clock: Clock, lease: dt.timedelta) -> list[NodeStatus]:
    """Every media node known, alive or not, with the cameras it holds now."""
    now = clock.now()
    with db.session() as s:
        held: dict[str, list[str]] = {}
        for row in s.execute(
            select(CameraLease).where(CameraLease.expires_at > now).order_by(CameraLease.camera_id)
        ).scalars():
            if row.node_id is not None:
                held.setdefault(row.node_id, []).append(row.camera_id)
        return [
            NodeStatus(
                n.node_id,
                n.internal_url,
                n.capacity,
                n.started_at,
                n.heartbeat_at,
                n.heartbeat_at > now - lease,
                tuple(held.get(n.node_id, ())),
            )
            for n in s.execute(select(MediaNode).order_by(MediaNode.node_id)).scalars()
        ]


@dataclass(frozen=True)
class CameraOwner:
    """Where a camera is served now (issue 13.2): the media node holding its lease while
    the lease is valid (None: between nodes, or none alive), and that node's internal
    API."""

    registered: bool
    node_id: str | None = None
    internal_url: str | None = None


def camera_owner(db: Database, clock: Clock, camera_id: str) -> CameraOwner:
    """Is ``camera_id`` registered, and who holds its unexpired lease."""
    now = clock.now()
    with db.session() as s:
        if s.get(Camera, camera_id) is None:
            return CameraOwner(registered=False)
        row = s.execute(
            select(CameraLease.node_id, MediaNode.internal_url)
            .join(MediaNode, MediaNode.node_id == CameraLease.node_id, isouter=True)
            .where(CameraLease.camera_id == camera_id, CameraLease.expires_at > now)
        ).first()
    if row is None or row[0] is None:
        return CameraOwner(registered=True)
    return CameraOwner(True, row[0], row[1])


@dataclass(frozen=True)
class JobStatus:
    name: str
    holder: str | None
    expires_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def job_status(db: Database) -> list[JobStatus]:
    """Every cluster-wide job's lease row, by name."""
    with db.session() as s:
        return [
            JobStatus(j.name, j.holder, j.expires_at, j.started_at, j.finished_at)
            for j in s.execute(select(JobLease).order_by(JobLease.name)).scalars()
        ]


def pin_camera(
    db: Database, audit: AuditLog, camera_id: str, node_id: str | None, by: Who
) -> str | None:
    """Pin ``camera_id`` to media node ``node_id`` (None: unpin); audited
    ``cluster.pin`` with the old and new pin. Honoured while that node is alive: its
    holder hands the camera over at its next round (recorder/ownership.py). Returns the
    previous pin. NotFound for a camera that is not registered."""
    with db.transaction() as s:
        if s.get(Camera, camera_id) is None:
            raise NotFound(f"camera {camera_id!r} is not registered")
        row = s.get(CameraLease, camera_id)
        if row is None:
            row = CameraLease(camera_id=camera_id, token=0)
            s.add(row)
        before, row.pinned_node = row.pinned_node, node_id
        audit.append(
            s, by, "cluster.pin", f"camera:{camera_id}", details={"from": before, "to": node_id}
        )
    return before
