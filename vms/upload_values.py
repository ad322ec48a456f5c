"""What the upload service (:mod:`vms.uploads`) answers: an upload's state as read, a
completed upload with its item, and the destruction of that item by the retention purge
(RET-13), each a frozen value with no database session behind it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vms.catalog_values import MediaDetail, MediaRef
from vms.db.models import DestructionRecord, Upload


@dataclass(frozen=True)
class Destruction:
    """The destruction record of a completed upload's item (RET-13): which record, which
    item and bytes, the rule it expired under, when it expired and when it was purged."""

    id: int
    media_id: str
    sha256: str
    rule: str
    expired_at: dt.datetime
    purged_at: dt.datetime

    @classmethod
    def of(cls, record: DestructionRecord) -> Destruction:
        return cls(
            record.id,
            record.media_id,
            record.sha256,
            record.rule,
            record.expired_at,
            record.purged_at,
        )


@dataclass(frozen=True)
class UploadRecord:
    """An upload's state as read. ``destruction``: a complete upload whose item the
    retention purge destroyed since (its ``media_id`` then None) cites the record
    (RET-13); None otherwise."""

    id: str
    filename: str
    size: int
    received: int
    state: str
    media_id: str | None
    error: str | None
    created_at: dt.datetime
    destruction: Destruction | None = None

    @classmethod
    def of(cls, upload: Upload, destruction: Destruction | None = None) -> UploadRecord:
        return cls(
            upload.id,
            upload.filename,
            upload.size,
            upload.received,
            upload.state,
            upload.media_id,
            upload.error,
            upload.created_at,
            destruction,
        )


@dataclass(frozen=True)
class CompletedUpload:
    """A completed upload and its catalogued item (only its id when the uploader may
    not see it). ``duplicate``: the file was already catalogued; None when the upload
    had been completed before (a repeated complete)."""

    upload: UploadRecord
    media: MediaDetail | MediaRef
    duplicate: bool | None = None
