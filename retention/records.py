"""What the retention services answer: frozen domain values (the web layer writes them
as JSON through ``web/schemas/retention.py``; the CLI through ``vms.jsonable``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from retention.commands import CaseState, ReceivedVia, Requester
from retention.holds import Window
from vms.db.models import DestructionRecord


@dataclass(frozen=True)
class DestructionEntry:
    """One destruction record (RET-13): what a purge destroyed, kept forever."""

    id: int
    media_id: str
    sha256: str
    source: str
    device_id: str
    officer_badge: str | None
    recorded_start: dt.datetime
    recorded_end: dt.datetime | None
    size_bytes: int
    case_number: str | None
    rule: str
    expired_at: dt.datetime
    purged_at: dt.datetime
    run_id: str

    @classmethod
    def of(cls, record: DestructionRecord) -> DestructionEntry:
        return cls(
            id=record.id,
            media_id=record.media_id,
            sha256=record.sha256,
            source=record.source,
            device_id=record.device_id,
            officer_badge=record.officer_badge,
            recorded_start=record.recorded_start,
            recorded_end=record.recorded_end,
            size_bytes=record.size_bytes,
            case_number=record.case_number,
            rule=record.rule,
            expired_at=record.expired_at,
            purged_at=record.purged_at,
            run_id=record.run_id,
        )


@dataclass(frozen=True)
class PurgeInProgress:
    """An item the purge had unlinked when a hold reached it: its destruction record is
    written by the purge (or its startup replay) moments later (INV-3)."""

    media_id: str
    state: Literal["destruction in progress"] = "destruction in progress"


AlreadyPurged = DestructionEntry | PurgeInProgress


@dataclass(frozen=True)
class PreservationRecord:
    """A logged preservation request with what it pins and what was already purged
    (RET-2, RET-3). ``rescued_from_purge`` is filled only by the call that logged it."""

    id: str
    request_number: str
    requester: Requester
    received_at: dt.datetime
    received_via: ReceivedVia
    received_by: str
    reason: str
    litigation_anticipated: bool
    case_number: str | None
    scope: tuple[Window, ...]
    media_ids: tuple[str, ...]
    state: Literal["active", "released"]
    form_media_id: str | None
    created_at: dt.datetime
    created_by: str
    released_at: dt.datetime | None
    released_by: str | None
    release_notice: str | None
    release_reason: str | None
    pinned: tuple[str, ...]
    already_purged: tuple[AlreadyPurged, ...]
    rescued_from_purge: tuple[str, ...] = ()

    @property
    def pinned_count(self) -> int:
        return len(self.pinned)

    @property
    def already_purged_count(self) -> int:
        """Destruction records only (not destructions still in progress)."""
        return sum(isinstance(p, DestructionEntry) for p in self.already_purged)


@dataclass(frozen=True)
class HoldRecord:
    """A legal hold (RET-10). ``pinned`` and ``already_purged`` are filled only by the
    call that applied it."""

    id: str
    reference: str
    reason: str
    state: Literal["active", "released"]
    media_ids: tuple[str, ...]
    created_at: dt.datetime
    created_by: str
    released_at: dt.datetime | None
    released_by: str | None
    release_notice: str | None
    pinned: tuple[str, ...] = ()
    already_purged: tuple[AlreadyPurged, ...] = ()


@dataclass(frozen=True)
class CaseRecord:
    """An open or closed case (RET-5)."""

    case_number: str
    state: CaseState
    opened_at: dt.datetime
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class DestructionLogPage:
    """Destruction records newest first; ``next_before_id`` pages backwards (None: the
    last page)."""

    records: tuple[DestructionEntry, ...]
    next_before_id: int | None


@dataclass(frozen=True)
class UpcomingItem:
    id: str
    source: str
    device_id: str
    officer_badge: str | None
    recorded_start: dt.datetime
    expires_at: dt.datetime
    retention_rule: str
    size_bytes: int


@dataclass(frozen=True)
class UpcomingDeletions:
    """Items the purge will delete before ``until`` (RET-13), soonest first."""

    now: dt.datetime
    until: dt.datetime
    items: tuple[UpcomingItem, ...]


@dataclass(frozen=True)
class UntaggedItem:
    """A BWC/dash item still untagged past the deadline, with who should tag it (TAG-3)."""

    id: str
    source: str
    device_id: str
    officer_badge: str | None
    uploaded_at: dt.datetime
    hours_overdue: float
    officer: str | None
    supervisor: str | None


@dataclass(frozen=True)
class UntaggedReport:
    now: dt.datetime
    deadline_hours: float
    items: tuple[UntaggedItem, ...]
    failures_per_officer: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MonthlyReport:
    """TAG-7: untagged items not requiring tags by source, tagging failures per officer."""

    month: str
    untagged_not_requiring_tags: dict[str, int]
    tagging_failures_per_officer: dict[str, int]
