"""A completed upload whose item the retention purge destroyed since (RET-13, TAG-5).

A repeat of ``complete`` (a client retrying, a device asking whether it may erase its
copy) is answered with the destruction record: the upload was catalogued, and its item
was destroyed under a retention rule, when, and which record says so. The purge sets the
upload's ``media_id`` to NULL with the item row (``ON DELETE SET NULL``); the record is
then found by what identified the item: one item per device and bytes (INV-1), so the
first destruction of the upload's device and SHA-256 after its completion is its item's.
The upload's status cites the same record (``UploadRecord.destruction``, :func:`purged`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select

from vms.clock import isoformat
from vms.db.engine import Database
from vms.db.models import DestructionRecord, Upload
from vms.errors import Conflict, NotFound
from vms.upload_values import Destruction

M = TypeVar("M")


def item_or_destroyed(db: Database, upload: Upload, show: Callable[[str], M]) -> M:
    """``show(media_id)`` of the item the complete ``upload`` catalogued. When the
    purge destroyed that item, before this repeat or as it ran (``show`` finding it
    gone): :func:`destroyed` citing its record; :class:`NotFound` when there is none."""
    try:
        if upload.media_id is not None:
            return show(upload.media_id)
        gone = NotFound(f"upload {upload.id}: its item is no longer catalogued")
    except NotFound as exc:
        gone = exc
    record = destruction_of(db, upload)
    if record is None:
        raise gone
    raise destroyed(upload, record) from None


def destruction_of(db: Database, upload: Upload) -> DestructionRecord | None:
    """The destruction record of the item the completed ``upload`` was catalogued as;
    None when there is none (the item is kept, or was not destroyed by a purge)."""
    if upload.media_id is not None:
        which = [DestructionRecord.media_id == upload.media_id]
    else:
        which = [
            DestructionRecord.device_id == str(upload.metadata_json.get("device_id")),
            DestructionRecord.sha256 == upload.sha256.lower(),
            DestructionRecord.purged_at >= upload.updated_at,  # completed, then purged
        ]
    with db.session() as s:
        return s.execute(
            select(DestructionRecord)
            .where(*which)
            .order_by(DestructionRecord.purged_at, DestructionRecord.id)
            .limit(1)
        ).scalar()


def purged(db: Database, upload: Upload) -> Destruction | None:
    """The destruction of the item the complete ``upload`` catalogued, which its status
    cites (RET-13); None while the item is kept (or none was destroyed by a purge)."""
    if upload.media_id is not None:
        return None  # the purge clears it with the item row: the item is kept
    record = destruction_of(db, upload)
    return None if record is None else Destruction.of(record)


def destroyed(upload: Upload, record: DestructionRecord) -> Conflict:
    """What a repeated ``complete`` of ``upload`` answers once ``record`` destroyed its
    item (409, ``state`` complete, the record in ``destruction``; RET-13)."""
    cited: dict[str, Any] = {
        k: isoformat(v) if isinstance(v, dt.datetime) else v
        for k, v in dataclasses.asdict(Destruction.of(record)).items()
    }
    return Conflict(
        f"upload {upload.id} was completed as item {record.media_id}, which was destroyed "
        f"by the retention purge on {cited['purged_at']} under {record.rule} (expired "
        f"{cited['expired_at']}; destruction record {record.id}, RET-13): its bytes are no "
        "longer kept",
        state=upload.state,
        destruction=cited,
    )
