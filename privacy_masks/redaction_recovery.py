"""Redaction jobs whose runner is gone (docs/design/redaction.md, "Killed mid-way" and
"Who runs a step"): :meth:`RedactionRunner.recover_interrupted` runs :func:`recover`."""

from __future__ import annotations

import logging
import shutil
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from privacy_masks.redaction import (
    FAILED,
    INTERRUPTED,
    PENDING,
    REDACTIONS,
    RedactionRecord,
)
from privacy_masks.redaction_values import stamped_after
from vms.audit.log import Who
from vms.db.models import Redaction
from vms.leases import rows_changed

if TYPE_CHECKING:
    from privacy_masks.redaction_runner import RedactionRunner

log = logging.getLogger(__name__)


def recover(service: RedactionRunner) -> list[str]:
    """Jobs left ``analysing`` or ``rendering`` by a runner that is gone: those whose lease
    expired (a kill -9, a lost machine, a runner stalled past its lease), on whichever
    host. Each is taken over first (its lease, a new token), so two recoveries never fail
    one twice and a live runner's job, on this host or another, is never touched; then
    marked ``failed`` ("interrupted by a restart", naming any item catalogued before the
    kill) and audited ``redaction.fail``. The work folders of jobs not pending (queued,
    analysing, render queued, rendering) are removed. Returns the ids of the jobs failed."""
    # Listed before the pending jobs are read: a folder is made only after its job's step
    # is claimed, so every folder listed here belongs to a row the query below sees.
    folders = list(service.work_dir.iterdir()) if service.work_dir.is_dir() else []
    records = []
    for redaction_id in REDACTIONS.abandoned(service.db, service.clock):
        token = REDACTIONS.take_over(service.db, service.clock, service.runner, redaction_id)
        if token is None:
            continue  # renewed, finished or taken over meanwhile: not abandoned
        record = _fail(service, redaction_id, token)
        if record is not None:
            records.append(record)
    with service.db.session() as s:
        pending = set(s.execute(select(Redaction.id).where(Redaction.state.in_(PENDING))).scalars())
    for folder in folders:
        if folder.name not in pending:
            shutil.rmtree(folder, ignore_errors=True)
    for record in records:
        log.warning("redaction %s was interrupted by a restart: marked failed", record.id)
        service.publish(record)
    return [r.id for r in records]


def _fail(service: RedactionRunner, redaction_id: str, token: int) -> RedactionRecord | None:
    """Fail a job taken over (lease ``token``) in one transaction; None when its lease
    moved on meanwhile (another recovery took it)."""
    with service.db.transaction() as s:
        row = s.get(Redaction, redaction_id)
        if row is None:
            return None
        was = row.state
        kept = list(row.request.get("catalogued", []))
        error = INTERRUPTED
        if kept:
            error += f"; catalogued before it, not linked: {', '.join(kept)}"
        failed = rows_changed(
            s,
            update(Redaction)
            .where(REDACTIONS.fence(redaction_id, token), Redaction.state == was)
            .values(
                state=FAILED,
                error=error,
                updated_at=stamped_after(row.updated_at, service.clock.now()),
            ),
        )
        if failed != 1:
            return None
        service.audit.append(
            s,
            Who("vms-jobs", "system"),
            "redaction.fail",
            f"media:{row.media_id}",
            outcome="error",
            details={"redaction_id": redaction_id, "error": INTERRUPTED, "was": was},
        )
        s.refresh(row)
        return RedactionRecord.of(row)
