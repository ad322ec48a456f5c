"""Who runs a redaction job's steps, and the job's row as they run (docs/design/redaction.md,
"The job" and "Who runs a step"): :class:`RedactionRunner` is the jobs-role half of
:class:`privacy_masks.redaction.RedactionService`, which adds the requests (create, edit,
render) and the reads.

The jobs role analyses queued jobs and renders the ones queued for rendering
(:meth:`RedactionRunner.run_pending`; the step itself is
:class:`privacy_masks.redaction_job.RedactionJob`), holding the job's lease meanwhile
(:data:`REDACTIONS`, :mod:`vms.row_leases`). One killed mid-way leaves the job in that
state: once its lease expires :meth:`RedactionRunner.recover_interrupted` marks it failed
(:mod:`privacy_masks.redaction_recovery`). The job's progress is written to its row and
published as ``redaction.progress``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from sqlalchemy import select

from privacy_masks.detection import build_detector
from privacy_masks.redaction_values import RedactionRecord, stamped_after
from vms import job_rows
from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser
from vms.bounded import shown
from vms.clock import Clock
from vms.config import RedactionConfig
from vms.db.engine import Database
from vms.db.models import Redaction
from vms.errors import NotFound, VMSError
from vms.events import EventBus
from vms.ingest import Ingestor
from vms.row_leases import RowLeases, Runner
from vms.store import MediaStore

log = logging.getLogger(__name__)

QUEUED, ANALYSING, REVIEW = "queued", "analysing", "review"
RENDER_QUEUED, RENDERING, DONE, FAILED = "render_queued", "rendering", "done", "failed"
STATES = (QUEUED, ANALYSING, REVIEW, RENDER_QUEUED, RENDERING, DONE, FAILED)
# Waiting for or in the job role (counted against [redaction] max_pending_per_user).
PENDING = (QUEUED, ANALYSING, RENDER_QUEUED, RENDERING)
INTERRUPTED = "interrupted by a restart"
PROGRESS_TOPIC = "redaction.progress"
#: Who runs a job's step: the lease in its row (docs/design/redaction.md, "Who runs a step").
REDACTIONS = RowLeases(Redaction, (ANALYSING, RENDERING), "redaction")


class RedactionRunner:
    """The jobs role's side of the redaction jobs: claim, run, fail, progress, events."""

    def __init__(
        self,
        db: Database,
        store: MediaStore,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        events: EventBus,
        ingestor: Ingestor,
        config: RedactionConfig,
        *,
        secrets_dir: Path,
        work_dir: Path,
        settings_dir: Path,
        reserve_bytes: int = 0,
        runner: Runner | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.events = events
        self.ingestor = ingestor
        self.config = config
        self.secrets_dir = secrets_dir
        self.work_dir = work_dir
        self.settings_dir = settings_dir
        # What a render leaves free for recording ([ingest] upload_min_free_bytes).
        self.reserve_bytes = reserve_bytes
        # This process as a runner of the jobs' steps (their leases: REDACTIONS).
        self.runner = runner or Runner.of("", 60.0)

    def check_detector(self) -> None:
        """At the jobs role's start: the configured detector loads (a bad model file is a
        configuration error here, not at the first job; issue 16 items 1 and 8)."""
        build_detector(self.config, None, settings_dir=self.settings_dir)

    def recover_interrupted(self) -> list[str]:
        """Jobs left ``analysing`` or ``rendering`` by a runner that is gone (its lease
        expired): taken over and marked ``failed`` ("interrupted by a restart"), their
        work folders removed (:func:`privacy_masks.redaction_recovery.recover`). A live
        runner's job is left alone. Returns the ids of the jobs failed."""
        from privacy_masks.redaction_recovery import recover

        return recover(self)

    def run_pending(self) -> int:
        """Recover the jobs whose runner is gone (their lease expired), then analyse the
        queued jobs and render the ones queued for rendering, oldest first (the jobs
        role's job; blocks). Returns how many ran."""
        self.recover_interrupted()
        count = 0
        while (claimed := self._claim()) is not None:
            self.run(*claimed)
            count += 1
        return count

    def _claim(self) -> tuple[str, str, int] | None:
        """Take the lease of the oldest queued step: ``(id, running state, token)``."""
        with self.db.session() as s:
            candidates = s.execute(
                select(Redaction.id, Redaction.state)
                .where(Redaction.state.in_((QUEUED, RENDER_QUEUED)))
                .order_by(Redaction.updated_at, Redaction.id)
                .limit(5)
            ).all()
        for redaction_id, state in candidates:
            running = ANALYSING if state == QUEUED else RENDERING
            token = REDACTIONS.take(
                self.db,
                self.clock,
                self.runner,
                redaction_id,
                queued=state,
                running=running,
                progress=0.0,
            )
            if token is not None:
                return str(redaction_id), running, token
        return None

    def run(self, redaction_id: str, state: str, token: int) -> RedactionRecord:
        """Run one claimed step (``analysing`` or ``rendering``, under the lease
        ``token``) to its end or ``failed``, renewing the lease meanwhile; a runner whose
        lease was taken over stops where it is (:class:`vms.row_leases.LeaseLost`)."""
        from privacy_masks.redaction_job import RedactionJob  # c2pa and av with the job

        with self.db.session() as s:
            row = s.get(Redaction, redaction_id)
            if row is None:
                raise NotFound(f"redaction {shown(redaction_id)} does not exist")
            record = RedactionRecord.of(row)
            creator = Who(row.created_by, row.created_role)
        folder = self.work_dir / redaction_id
        with REDACTIONS.held(self.db, self.clock, self.runner, redaction_id, token) as held:
            try:
                job = RedactionJob(self, record, creator, folder, held)
                if state == ANALYSING:
                    job.analyse()
                else:
                    job.render()
            except Exception as exc:
                message = exc.message if isinstance(exc, VMSError) else f"internal error: {exc!r}"
                if not isinstance(exc, VMSError):
                    log.exception("redaction %s failed", redaction_id)
                self._fail(redaction_id, token, message)
            finally:
                # Not once it was taken over: the job and its folder are its new runner's.
                if REDACTIONS.holds(self.db, redaction_id, token):
                    shutil.rmtree(folder, ignore_errors=True)
        with self.db.session() as s:
            done = s.get(Redaction, redaction_id)
            assert done is not None
            final = RedactionRecord.of(done)
        self.publish(final)
        return final

    def _fail(self, redaction_id: str, token: int, message: str) -> None:
        with self.db.transaction() as s:
            row = s.get(Redaction, redaction_id, with_for_update=True)
            if row is None or row.state not in REDACTIONS.running or row.runner_token != token:
                return  # taken over meanwhile (a recovery failed it): not failed twice
            row.state, row.error = FAILED, message[:2000]
            row.updated_at = stamped_after(row.updated_at, self.clock.now())
            self.audit.append(
                s,
                Who(row.created_by, row.created_role),
                "redaction.fail",
                f"media:{row.media_id}",
                outcome="error",
                details={"redaction_id": redaction_id, "error": message[:2000]},
            )

    def note_catalogued(self, redaction_id: str, media_id: str) -> None:
        """Remember an item the job catalogued (for :meth:`recover_interrupted`)."""
        job_rows.note_catalogued(self.db, Redaction, redaction_id, media_id)

    def set_progress(self, record: RedactionRecord, state: str, value: float) -> None:
        job_rows.set_progress(
            self.db,
            self.events,
            PROGRESS_TOPIC,
            Redaction,
            record.id,
            record.created_by,
            state,
            value,
        )

    def publish(self, record: RedactionRecord) -> None:
        payload = job_rows.job_event(
            record.id, record.state, record.progress, record.created_by, record.error
        )
        if record.rendered_media_id:
            payload["rendered_media_id"] = record.rendered_media_id
        self.events.publish(PROGRESS_TOPIC, payload)
