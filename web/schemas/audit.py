"""Audit log models (ACC-6, PSCS-5)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from vms.audit.view import MAX_LIMIT, AuditQuery
from web.contract import OutTime, Printable, QueryModel, Range, ResponseModel, Time

Filter = Annotated[str, Printable(200, multiline=False)]


class AuditQueryIn(QueryModel):
    """Which entries to read, newest first."""

    action: Filter | None = Field(None, description='An action or family ("ptz")')
    actor: Filter | None = None
    target: Filter | None = None
    start: Time | None = None
    end: Time | None = None
    before_seq: Annotated[int, Range()] | None = Field(
        None, description="next_before_seq of the previous page"
    )
    limit: Annotated[int, Range(1, MAX_LIMIT)] = 100

    def command(self) -> AuditQuery:
        return AuditQuery(
            action=self.action or None,
            actor=self.actor or None,
            target=self.target or None,
            start=self.start,
            end=self.end,
            before_seq=self.before_seq,
            limit=self.limit,
        )


class AuditEntryOut(ResponseModel):
    """One entry: the fields the hash chain covers, and the entry's own hash."""

    seq: int
    at: OutTime
    actor: str
    role: str
    action: str
    target: str
    details: dict[str, Any]
    outcome: str
    prev_hash: str
    hash: str


class AuditPageOut(ResponseModel):
    items: list[AuditEntryOut]
    next_before_seq: int | None


def entry_view(entry: Any) -> dict[str, Any]:
    """An entry as the JSON the API shows (for the audit page's table)."""
    return AuditEntryOut.model_validate(entry).model_dump(mode="json")
