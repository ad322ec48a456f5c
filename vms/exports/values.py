"""Commands and values of exports (issue 15; :mod:`vms.exports.service`, which
re-exports them, makes and runs the exports)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vms.clock import isoformat
from vms.db.models import (
    Export,
)


@dataclass(frozen=True)
class ExportSource:
    """One source of an export: a fixed camera over ``start..end``, or one media item
    (all of it, or ``start..end`` of it)."""

    camera_id: str | None = None
    media_id: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "media_id": self.media_id,
            "start": isoformat(self.start) if self.start else None,
            "end": isoformat(self.end) if self.end else None,
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> ExportSource:
        """A source read back from the export row's stored request."""

        def when(value: Any) -> dt.datetime | None:
            return dt.datetime.fromisoformat(value) if value else None

        return cls(
            stored.get("camera_id"),
            stored.get("media_id"),
            when(stored["start"]),
            when(stored["end"]),
        )


@dataclass(frozen=True)
class NewExport:
    """``POST /api/v1/exports`` and ``vms export create``."""

    purpose: str
    sources: tuple[ExportSource, ...]
    case_number: str | None = None
    cut: str = "keyframe"
    include_audit: bool = False


@dataclass(frozen=True)
class ExportQuery:
    """``GET /api/v1/exports``: newest first; ``state`` and ``case_number`` filter."""

    state: str | None = None
    case_number: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class PackageInfo:
    media_id: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ExportRecord:
    id: str
    state: str
    progress: float
    error: str | None
    purpose: str
    case_number: str | None
    cut: str
    include_audit: bool
    sources: tuple[ExportSource, ...]
    created_by: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    package: PackageInfo | None

    @classmethod
    def of(cls, row: Export) -> ExportRecord:
        request = row.request
        package = None
        if row.package_media_id and row.sha256 and row.size_bytes is not None:
            package = PackageInfo(row.package_media_id, row.sha256, row.size_bytes)
        return cls(
            id=row.id,
            state=row.state,
            progress=row.progress,
            error=row.error,
            purpose=row.purpose,
            case_number=row.case_number,
            cut=str(request.get("cut", "keyframe")),
            include_audit=bool(request.get("include_audit", False)),
            sources=tuple(ExportSource.from_json(s) for s in request.get("sources", [])),
            created_by=row.created_by,
            created_at=row.created_at,
            finished_at=row.finished_at,
            package=package,
        )


@dataclass(frozen=True)
class ExportListing:
    exports: tuple[ExportRecord, ...]


@dataclass(frozen=True)
class PackageDownload:
    """An export's package, ready to send: the stored file and its name."""

    export_id: str
    media_id: str
    path: Path | None  # None: in the object store (stream it from there)
    size: int
    sha256: str
    filename: str
