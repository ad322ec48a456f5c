"""Exports whose runner is gone (docs/design/exports.md, "Killed mid-way" and "Who runs
an export"): :meth:`ExportRunner.recover_interrupted` runs :func:`recover`."""

from __future__ import annotations

import logging
import shutil
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from vms.audit.log import Who
from vms.db.models import Export
from vms.errors import DataLoss, InsufficientStorage, VMSError
from vms.exports import ownership
from vms.exports.values import ExportRecord

if TYPE_CHECKING:
    from vms.exports.runner import ExportRunner

log = logging.getLogger(__name__)

QUEUED, RUNNING, FAILED = "queued", "running", "failed"
INTERRUPTED = "interrupted by a restart"


@dataclass(frozen=True)
class _Later:
    """An interrupted export that could not be finished now, for a temporary reason."""

    reason: str


def recover(service: ExportRunner) -> list[str]:
    """Exports left ``running`` by a runner that is gone: those whose lease expired.

    Each is taken over (its lease, a new token) first, so two recoveries never work on
    one and a live runner's export is never touched. One killed while cataloguing (its
    plan of step 4 is in the row, see :mod:`vms.exports.job`) is finished: the files not
    yet catalogued are ingested from its work folder (the package checked by its own
    verifier against our key, each clip against the hash the signed manifest gives),
    then the links, holds, custody and ``media.export`` are written and it is ``done``.
    One stopped by a temporary condition (a full disk) is left ``running`` with its
    package, tried again once its lease expires. Any other (killed earlier, or whose
    files do not check) is marked ``failed`` ("interrupted by a restart"), naming the
    items catalogued before the kill. The work folders of exports not queued or running
    are removed. Returns the ids of the exports failed."""
    # Listed before the live exports are read: a folder is made only after its export's
    # row is queued, so every folder listed here belongs to a row the query below sees.
    folders = list(service.work_dir.iterdir()) if service.work_dir.is_dir() else []
    failed: list[tuple[str, int, str]] = []
    for export_id in ownership.abandoned(service.db, service.clock):
        token = ownership.take(service.db, service.clock, service.runner, export_id, queued=False)
        if token is None:
            continue  # renewed or taken over meanwhile: not abandoned
        with ownership.held(service.db, service.clock, service.runner, export_id, token) as held:
            problem = _resume(service, export_id, held)
        if isinstance(problem, _Later):
            # A temporary condition (a full disk): the signed package and the row stay as
            # they are; the lease expires and the next round tries again.
            log.warning(
                "export %s: not finished yet, left for the next try: %s",
                export_id,
                problem.reason,
            )
        elif problem is not None:
            failed.append((export_id, token, problem))
    now = service.clock.now()
    records = []
    with service.db.transaction() as s:
        for export_id, token, problem in failed:
            row = s.get(Export, export_id)
            if row is None or row.state != RUNNING or row.runner_token != token:
                continue
            # Items catalogued before the kill (step 4) are whole items (INV-1), not
            # linked or held: named in the error and the audit entry for review.
            kept = list(row.request.get("catalogued", []))
            error = INTERRUPTED
            if problem:
                error += f" ({problem})"
            if kept:
                error += f"; catalogued before it, not linked: {', '.join(kept)}"
            row.state, row.error, row.finished_at = FAILED, error[:2000], now
            service.audit.append(
                s,
                Who("vms-jobs", "system"),
                "export.fail",
                f"export:{row.id}",
                outcome="error",
                details={"error": error[:2000], "catalogued": kept},
            )
            records.append(ExportRecord.of(row))
        live = {
            r
            for r in s.execute(
                select(Export.id).where(Export.state.in_((QUEUED, RUNNING)))
            ).scalars()
        }
    for folder in folders:
        if folder.name not in live:
            shutil.rmtree(folder, ignore_errors=True)
    for record in records:
        log.warning("export %s was interrupted by a restart: marked failed", record.id)
        service.publish(record)
    return [r.id for r in records]


def _resume(service: ExportRunner, export_id: str, held: ownership.Held) -> str | _Later | None:
    """Finish an export killed during steps 4-5; ``None`` when done, else why not ("" when
    it had not reached step 4: nothing to finish), or :class:`_Later` when a temporary
    condition (a full disk, InsufficientStorage) stopped it: its verified package is
    kept and it is tried again, not failed for good."""
    with service.db.session() as s:
        row = s.get(Export, export_id)
        if row is None:
            return ""
        plan = row.request.get("plan")
        catalogued = list(row.request.get("catalogued", []))
        record, role = ExportRecord.of(row), row.created_role
    if not plan:
        return ""
    folder = service.work_dir / export_id
    try:
        from vms.exports import verify
        from vms.exports.job import ExportJob
        from vms.exports.signing import load_or_create_signer

        if len(catalogued) < len(plan["entries"]):
            path = folder / plan["entries"][-1]["file"]
            if not path.is_file():
                raise DataLoss(f"the package {path.name} is missing from the work folder")
            try:
                package = verify.Package(path)
                pinned = load_or_create_signer(service.secrets_dir).fingerprint
                verify.check_files(package, verify.check_signature(package, pinned))
            except (OSError, zipfile.BadZipFile, verify.Problem) as exc:
                raise DataLoss(f"the package {path.name} does not verify: {exc}") from None
        ExportJob(service, record, role, folder, held).catalogue(plan, catalogued)
    except InsufficientStorage as exc:
        return _Later(exc.message)
    except ownership.LeaseLost as exc:
        return _Later(exc.message)  # taken over: its new runner decides
    except Exception as exc:
        message = exc.message if isinstance(exc, VMSError) else f"internal error: {exc!r}"
        log.exception("export %s could not be finished after a restart", export_id)
        return f"not finished: {message}"
    log.warning("export %s was interrupted while cataloguing: finished", export_id)
    with service.db.session() as s:
        done = s.get(Export, export_id)
        assert done is not None
        final = ExportRecord.of(done)
    service.publish(final)
    return None
