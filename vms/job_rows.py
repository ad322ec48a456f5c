"""What the export and redaction jobs write on their own rows while they run, and the
event their pages follow them by (one shape for both: ``id``, ``state``, ``progress``,
``created_by``, ``error`` when there is one)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import update

from vms.db.engine import Database
from vms.db.models import Export, Redaction
from vms.events import EventBus

J = TypeVar("J", Export, Redaction)  # a job's row


def note_catalogued(db: Database, model: type[J], row_id: str, media_id: str) -> None:
    """Remember an item the job catalogued (for its recovery after a crash)."""
    with db.transaction() as s:
        job = s.get(model, row_id)
        if job is not None:
            before: dict[str, Any] = job.request
            job.request = {**before, "catalogued": [*before.get("catalogued", []), media_id]}


def set_progress(
    db: Database,
    events: EventBus,
    topic: str,
    model: type[J],
    row_id: str,
    created_by: str,
    state: str,
    value: float,
) -> None:
    """Store the job's progress (while it is still in ``state``) and announce it."""
    progress = round(value, 4)
    with db.transaction() as s:
        s.execute(
            update(model).where(model.id == row_id, model.state == state).values(progress=progress)
        )
    events.publish(topic, job_event(row_id, state, progress, created_by, None))


def job_event(
    row_id: str, state: str, progress: float, created_by: str, error: str | None
) -> dict[str, Any]:
    """The event of a job's state: what every job's page reads."""
    payload: dict[str, Any] = {
        "id": row_id,
        "state": state,
        "progress": progress,
        "created_by": created_by,
    }
    if error:
        payload["error"] = error
    return payload
