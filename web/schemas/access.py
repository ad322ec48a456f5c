"""Access-rule API models (issue 14.4): critical incidents and review approvals (ACC-2),
review grants (ACC-3)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vms.access import CriticalIncidentChange, NewApproval, NewGrant
from web.contract import (
    OutTime,
    Printable,
    QueryModel,
    RequestId,
    RequestModel,
    ResponseModel,
    Time,
)

Id = Annotated[str, Printable(64, required=True)]
Reason = Annotated[str, Printable(500, required=True)]


class CriticalIncidentIn(RequestModel):
    """Flag the item as recorded at an incident with death or serious bodily injury
    (``true``) or clear the flag, with the reason (ACC-2). ``request_id``: a UUID of the
    client's; a retry with it (and the same reason) after a lost answer is answered as the
    first request was (ACC-6)."""

    critical_incident: bool
    reason: Reason
    request_id: RequestId | None = None

    def command(self) -> CriticalIncidentChange:
        return CriticalIncidentChange(
            critical=self.critical_incident, reason=self.reason, form_key=self.request_id
        )


class ApprovalIn(RequestModel):
    """The written approval of the recording officer's own review (ACC-2): a document
    reference, a catalogued document's id, or both."""

    reason: Reason
    document_ref: Annotated[str, Printable(200)] | None = None
    document_media_id: Id | None = None
    expires_at: Time | None = Field(None, description="null: until revoked")

    def command(self) -> NewApproval:
        return NewApproval(
            reason=self.reason,
            document_ref=self.document_ref or None,
            document_media_id=self.document_media_id or None,
            expires_at=self.expires_at,
        )


class ApprovalOut(ResponseModel):
    id: str
    media_id: str
    officer: str
    approved_by: str
    approved_at: OutTime
    document_ref: str | None
    document_media_id: str | None
    reason: str
    expires_at: OutTime | None


class GrantIn(RequestModel):
    """Grant ``officer`` (a username) review of ``media_ids`` from ``starts_at`` (now
    when omitted) until ``ends_at`` (ACC-3)."""

    officer: Annotated[str, Printable(64, required=True, multiline=False)]
    media_ids: list[Id] = Field(min_length=1, max_length=500)
    starts_at: Time | None = None
    ends_at: Time
    reason: Reason

    def command(self) -> NewGrant:
        return NewGrant(
            officer=self.officer,
            media_ids=tuple(self.media_ids),
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            reason=self.reason,
        )


class RevokeIn(RequestModel):
    """``reason``: why the grant ends. ``request_id``: a UUID of the client's; a retry
    with it and the same reason after a lost answer gets the first answer (ACC-6)."""

    reason: Reason
    request_id: RequestId | None = None


class GrantQuery(QueryModel):
    officer: Annotated[str, Printable(64, multiline=False)] | None = None


class GrantOut(ResponseModel):
    id: str
    officer: str
    media_ids: list[str]
    granted_by: str
    granted_at: OutTime
    starts_at: OutTime
    ends_at: OutTime
    reason: str
    revoked_at: OutTime | None
    revoked_by: str | None
    revoke_reason: str | None
    active: bool


class GrantListOut(ResponseModel):
    grants: list[GrantOut]
