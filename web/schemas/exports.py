"""Exports API models (issue 15, item 4)."""

from __future__ import annotations

from typing import Annotated, Literal

from vms.exports.service import ExportQuery, ExportSource, NewExport
from web.contract import (
    OutTime,
    Printable,
    QueryModel,
    Range,
    RequestModel,
    ResponseModel,
    Time,
)

Id = Annotated[str, Printable(64, required=True, multiline=False)]

# -- requests ---------------------------------------------------------------------------


class ExportSourceIn(RequestModel):
    """A fixed camera over ``start``..``end`` (``camera_id``), or one media item
    (``media_id``: all of it, or ``start``..``end`` of it)."""

    camera_id: Id | None = None
    media_id: Id | None = None
    start: Time | None = None
    end: Time | None = None

    def command(self) -> ExportSource:
        return ExportSource(self.camera_id, self.media_id, self.start, self.end)


class NewExportIn(RequestModel):
    """An export: why (``purpose``, required), for which case, from which sources, cut
    at the keyframe before each start or exactly, with the sources' audit entries or
    not."""

    purpose: Annotated[str, Printable(500, required=True, multiline=False)]
    case_number: Annotated[str, Printable(64, multiline=False)] | None = None
    sources: list[ExportSourceIn]
    cut: Literal["keyframe", "exact"] = "keyframe"
    include_audit: bool = False

    def command(self) -> NewExport:
        return NewExport(
            purpose=self.purpose,
            sources=tuple(s.command() for s in self.sources),
            case_number=self.case_number or None,
            cut=self.cut,
            include_audit=self.include_audit,
        )


class ExportListQuery(QueryModel):
    state: Literal["queued", "running", "done", "failed"] | None = None
    case: Annotated[str, Printable(64, multiline=False)] | None = None
    limit: Annotated[int, Range(1, 500)] = 100

    def command(self) -> ExportQuery:
        return ExportQuery(state=self.state, case_number=self.case or None, limit=self.limit)


# -- responses --------------------------------------------------------------------------


class PublicKeyOut(ResponseModel):
    """The export signing key recipients check ``manifest.sig`` with."""

    algorithm: str
    pem: str
    fingerprint: str


class ExportCreatedOut(ResponseModel):
    id: str
    state: str


class ExportSourceOut(ResponseModel):
    camera_id: str | None
    media_id: str | None
    start: OutTime | None
    end: OutTime | None


class PackageOut(ResponseModel):
    media_id: str
    sha256: str
    size: int


class ExportOut(ResponseModel):
    id: str
    state: str
    progress: float
    error: str | None
    purpose: str
    case_number: str | None
    cut: str
    include_audit: bool
    sources: list[ExportSourceOut]
    created_by: str
    created_at: OutTime
    finished_at: OutTime | None
    package: PackageOut | None


class ExportListOut(ResponseModel):
    exports: list[ExportOut]
