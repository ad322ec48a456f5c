"""Who runs an export, and its row as it runs (docs/design/exports.md, "The service and
the job" and "Who runs an export"): :class:`ExportRunner` is the jobs-role half of
:class:`vms.exports.service.ExportService`, which adds the requests (create, package
downloads) and the reads for people.

The jobs role runs queued exports one after another (:meth:`ExportRunner.run_pending`;
the export itself is :class:`vms.exports.job.ExportJob`), holding each one's lease
meanwhile (:mod:`vms.exports.ownership`). The job notes its plan and what it catalogued
in the row (:meth:`ExportRunner.note_plan`, :meth:`ExportRunner.note_catalogued`), so a
runner killed mid-way is finished or failed by :func:`vms.exports.recovery.recover` once
its lease expires. Progress (0..1) is written to the row and published as
``export.progress``.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vms import job_rows
from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser
from vms.bounded import shown
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import Export, MediaItem
from vms.errors import InvalidArgument, NotFound, VMSError
from vms.events import EventBus
from vms.exports import ownership
from vms.exports.reads import ExportReads
from vms.exports.recovery import recover
from vms.exports.values import ExportRecord
from vms.ingest import Ingestor, IngestResult
from vms.store import MediaStore

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)
PROGRESS_TOPIC = "export.progress"


class ExportRunner(ExportReads):
    """The jobs role's side of the exports: claim, run, fail, the row's notes, events."""

    def __init__(
        self,
        db: Database,
        store: MediaStore,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        events: EventBus,
        ingestor: Ingestor,
        *,
        secrets_dir: Path,
        work_dir: Path,
        max_span: dt.timedelta,
        max_pending_per_user: int = 0,
        reserve_bytes: int = 0,
        change_hooks: Sequence[Callable[[Session, MediaItem, dt.datetime], None]] = (),
        runner: ownership.Runner | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.events = events
        self.ingestor = ingestor
        self.secrets_dir = secrets_dir
        self.work_dir = work_dir
        self.max_span = max_span
        # Unfinished (queued or running) exports one user may have (0: no limit).
        self.max_pending_per_user = max_pending_per_user
        # What an export leaves free for recording ([ingest] upload_min_free_bytes): a
        # person's work, like an upload, never takes the recorder's room.
        self.reserve_bytes = reserve_bytes
        # The catalog's change hooks (retention recomputes the expiry of items marked
        # evidence here); the list is the catalog's own, so plugins' hooks are seen.
        self.change_hooks = change_hooks
        # This process as a runner of exports (its leases: vms/exports/ownership.py).
        self.runner = runner or ownership.Runner.of("", 60.0)

    def recover_interrupted(self) -> list[str]:
        """Exports left ``running`` by a runner that is gone (its lease expired): finished
        from their plan or failed, their work folders removed
        (:func:`vms.exports.recovery.recover`). Returns the ids of the exports failed."""
        return recover(self)

    def run_pending(self) -> int:
        """Recover the exports whose runner is gone (their lease expired), then run the
        queued ones one after another, oldest first (the jobs role's job; blocks).
        Returns how many ran."""
        self.recover_interrupted()
        count = 0
        while (claimed := self._claim()) is not None:
            self.run(*claimed)
            count += 1
        return count

    def _claim(self) -> tuple[str, int] | None:
        with self.db.session() as s:
            candidates = list(
                s.execute(
                    select(Export.id)
                    .where(Export.state == QUEUED)
                    .order_by(Export.created_at, Export.id)
                    .limit(5)
                ).scalars()
            )
        for export_id in candidates:
            token = ownership.take(self.db, self.clock, self.runner, export_id, queued=True)
            if token is not None:
                return export_id, token
        return None

    def run(self, export_id: str, token: int | None = None) -> ExportRecord:
        """Run one queued export (or one this runner took, ``token``) to ``done`` or
        ``failed``, holding its lease (:mod:`vms.exports.ownership`) meanwhile."""
        if token is None:
            token = ownership.take(self.db, self.clock, self.runner, export_id, queued=True)
            if token is None:
                with self.db.session() as s:
                    row = s.get(Export, export_id)
                    if row is None:
                        raise NotFound(f"export {shown(export_id)} does not exist")
                    raise InvalidArgument(f"export {export_id} is {row.state}, not queued")
        with self.db.session() as s:
            row = s.get(Export, export_id)
            assert row is not None
            record = ExportRecord.of(row)
            created_role = row.created_role
        folder = self.work_dir / export_id
        with ownership.held(self.db, self.clock, self.runner, export_id, token) as held:
            try:
                from vms.exports.job import ExportJob  # c2pa and av load with the job only

                ExportJob(self, record, created_role, folder, held).run()
            except Exception as exc:
                message = exc.message if isinstance(exc, VMSError) else f"internal error: {exc!r}"
                if not isinstance(exc, VMSError):
                    log.exception("export %s failed", export_id)
                self._fail(export_id, token, message)
            finally:
                # Not once it was taken over: the work folder is its new runner's.
                if ownership.holds(self.db, export_id, token):
                    shutil.rmtree(folder, ignore_errors=True)
        with self.db.session() as s:
            done = s.get(Export, export_id)
            assert done is not None
            final = ExportRecord.of(done)
        self.publish(final)
        return final

    def _fail(self, export_id: str, token: int, message: str) -> None:
        with self.db.transaction() as s:
            row = s.get(Export, export_id)
            if row is None or row.state not in (QUEUED, RUNNING) or row.runner_token != token:
                return  # finished or taken over meanwhile (a recovery): not failed here
            # Items catalogued before the failure (step 4) are whole items (INV-1), not
            # linked or held: named, as recover_interrupted names them, for review.
            kept = list(row.request.get("catalogued", []))
            if kept:
                message += f"; catalogued before it, not linked: {', '.join(kept)}"
            row.state, row.error, row.finished_at = FAILED, message[:2000], self.clock.now()
            self.audit.append(
                s,
                Who(row.created_by, row.created_role),
                "export.fail",
                f"export:{export_id}",
                outcome="error",
                details={"error": message[:2000], "catalogued": kept},
            )

    def note_plan(self, export_id: str, plan: dict[str, Any]) -> None:
        """Note the plan of steps 4-5 (files to catalogue, links) in the row, before the
        first file is catalogued: a restart finishes it (:meth:`recover_interrupted`)."""
        with self.db.transaction() as s:
            row = s.get(Export, export_id)
            if row is not None:
                row.request = {**row.request, "plan": plan}

    def catalogued_item(self, media_id: str) -> IngestResult:
        """An item the job catalogued before (a resumed export), as ingest returned it."""
        with self.db.session() as s:
            item = s.get(MediaItem, media_id)
            if item is None:
                raise NotFound(f"media {media_id}, catalogued by the export, no longer exists")
            return IngestResult(item.id, item.sha256, item.size_bytes, duplicate=True)

    def note_catalogued(self, export_id: str, media_id: str) -> None:
        """Remember an item the job catalogued (for :meth:`recover_interrupted`)."""
        job_rows.note_catalogued(self.db, Export, export_id, media_id)

    def set_progress(self, record: ExportRecord, value: float) -> None:
        job_rows.set_progress(
            self.db,
            self.events,
            PROGRESS_TOPIC,
            Export,
            record.id,
            record.created_by,
            RUNNING,
            value,
        )

    def publish(self, record: ExportRecord) -> None:
        payload = job_rows.job_event(
            record.id, record.state, record.progress, record.created_by, record.error
        )
        if record.package is not None:
            payload["package"] = {
                "media_id": record.package.media_id,
                "sha256": record.package.sha256,
                "size": record.package.size,
            }
        self.events.publish(PROGRESS_TOPIC, payload)
