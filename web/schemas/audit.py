"""Audit log models (ACC-6, PSCS-5)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from vms.audit.view import MAX_LIMIT, AuditQuery
from vms.errors import InvalidArgument
from web.contract import OutTime, Printable, QueryModel, Range, ResponseModel, Time

Filter = Annotated[str, Printable(200, multiline=False)]
Kind = Annotated[str, Printable(32, multiline=False), StringConstraints(pattern=r"^[a-z_]*$")]


class AuditQueryIn(QueryModel):
    """Which entries to read, newest first."""

    action: Filter | None = Field(None, description='An action or family ("ptz")')
    actor: Filter | None = None
    target: Filter | None = Field(
        None, description='One target, e.g. "media:<id>": its entries and those that showed it'
    )
    target_type: Kind | None = Field(
        None, description='Entries whose target is of this kind ("media", "camera", "case" ...)'
    )
    target_id: Filter | None = Field(
        None,
        description="With target_type: everything that touched that one item or camera "
        "(its entries and those that showed it, ACC-6)",
    )
    start: Time | None = None
    end: Time | None = None
    before_seq: Annotated[int, Range()] | None = Field(
        None, description="next_before_seq of the previous page"
    )
    limit: Annotated[int, Range(1, MAX_LIMIT)] = 100

    def command(self) -> AuditQuery:
        target, target_type = self.target or None, self.target_type or None
        if self.target_id:
            if not target_type:
                raise InvalidArgument(
                    f"target_id {self.target_id!r} needs target_type (media, camera ...)",
                    field="target_type",
                )
            if target and target != f"{target_type}:{self.target_id}":
                raise InvalidArgument(
                    f"target {target!r} contradicts target_type and target_id", field="target"
                )
            target, target_type = f"{target_type}:{self.target_id}", None
        return AuditQuery(
            action=self.action or None,
            actor=self.actor or None,
            target=target,
            target_type=target_type,
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
