"""Retention API models: preservation requests (RET-2, RET-3), legal holds (RET-10), cases
(RET-5), the destruction log and upcoming deletions (RET-13), the tagging reports (TAG-3,
TAG-7). Request models build the commands of ``retention.commands``; response models
read the domain values of ``retention.records``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, WithJsonSchema, model_serializer

from retention.commands import (
    NewLegalHold,
    NewPreservationRequest,
    ReleaseLegalHold,
    ReleasePreservation,
    Requester,
    ScopePart,
    SetCaseState,
)
from web.contract import (
    OutTime,
    Printable,
    QueryModel,
    Range,
    RequestId,
    RequestModel,
    ResponseModel,
    Time,
)

MAX_MEDIA_IDS = 10_000
MAX_SCOPE_PARTS = 1_000
MAX_LIMIT = 1000

MediaId = Annotated[str, Printable(64, required=True)]
MediaIds = Annotated[list[MediaId], Field(max_length=MAX_MEDIA_IDS)]
Limit = Annotated[int, Range(1, MAX_LIMIT)]


def _absent(value: str | None) -> str | None:
    """Optional text: empty (after stripping) means absent."""
    return value or None


# -- requests ---------------------------------------------------------------------------


class RequesterIn(RequestModel):
    """Who asked: a name, and optionally an organisation and a contact."""

    name: Annotated[str, Printable(200, required=True)]
    organization: Annotated[str, Printable(200)] | None = None
    contact: Annotated[str, Printable(200)] | None = None

    def value(self) -> Requester:
        return Requester(self.name, _absent(self.organization), _absent(self.contact))


class ScopeIn(RequestModel):
    """One part of the scope: exactly one of ``device_id`` or ``officer_badge``, over
    [start, end)."""

    device_id: Annotated[str, Printable(64)] | None = None
    officer_badge: Annotated[str, Printable(32)] | None = None
    start: Time
    end: Time

    def value(self) -> ScopePart:
        return ScopePart(
            start=self.start,
            end=self.end,
            device_id=_absent(self.device_id),
            officer_badge=_absent(self.officer_badge),
        )


class NewPreservationIn(RequestModel):
    """A preservation request as received (RET-3): a scope (devices or officers over time
    windows) and/or media ids."""

    request_number: Annotated[str, Printable(64, required=True)]
    requester: RequesterIn
    received_at: Time
    received_via: Literal["written", "electronic", "oral"]
    reason: Annotated[str, Printable(4000, required=True)]
    litigation_anticipated: bool = False
    case_number: Annotated[str, Printable(64)] | None = None
    received_by: Annotated[str, Printable(64)] | None = None
    scope: Annotated[list[ScopeIn], Field(max_length=MAX_SCOPE_PARTS)] | None = None
    media_ids: MediaIds | None = None

    def command(self) -> NewPreservationRequest:
        return NewPreservationRequest(
            request_number=self.request_number,
            requester=self.requester.value(),
            received_at=self.received_at,
            received_via=self.received_via,
            reason=self.reason,
            litigation_anticipated=self.litigation_anticipated,
            case_number=_absent(self.case_number),
            received_by=_absent(self.received_by),
            scope=tuple(p.value() for p in self.scope or ()),
            media_ids=tuple(self.media_ids or ()),
        )


class ReleasePreservationIn(RequestModel):
    """The written release notice and the reason. ``request_id``: a UUID of the
    client's; a retry with it (the same notice and reason) after a lost answer is
    answered with the request it released (ACC-6)."""

    notice: Annotated[str, Printable(200, required=True)]
    reason: Annotated[str, Printable(4000, required=True)]
    request_id: RequestId | None = None

    def command(self) -> ReleasePreservation:
        return ReleasePreservation(notice=self.notice, reason=self.reason, form_key=self.request_id)


class NewHoldIn(RequestModel):
    """A legal hold on at least one media item."""

    reference: Annotated[str, Printable(64, required=True)]
    reason: Annotated[str, Printable(4000, required=True)]
    media_ids: MediaIds | None = None

    def command(self) -> NewLegalHold:
        return NewLegalHold(self.reference, self.reason, tuple(self.media_ids or ()))


class ReleaseHoldIn(RequestModel):
    """``notice``: the release notice reference (required, RET-10). ``request_id``: a
    UUID of the client's; a retry with it and the same notice after a lost answer is
    answered with the hold it released (ACC-6)."""

    notice: Annotated[str, Printable(200)] | None = None
    request_id: RequestId | None = None

    def command(self) -> ReleaseLegalHold:
        return ReleaseLegalHold(notice=_absent(self.notice), form_key=self.request_id)


class CaseStateIn(RequestModel):
    """``state``: ``open`` or ``closed``; a case already in it is refused (409, RET-5).
    ``request_id``: a UUID of the client's; a retry with it after a lost answer is
    answered with the case as the first request left it (ACC-6)."""

    state: Literal["open", "closed"]
    request_id: RequestId | None = None

    def command(self) -> SetCaseState:
        return SetCaseState(state=self.state, form_key=self.request_id)


class RequestLogQuery(QueryModel):
    state: Literal["active", "released"] | None = None
    limit: Limit = 100


class FormQuery(QueryModel):
    filename: Annotated[str, Printable(255)] | None = None


class DestructionLogQuery(QueryModel):
    before_id: Annotated[int, Range()] = Field(0, description="page backwards (0: newest)")
    device_id: Annotated[str, Printable(64)] | None = None
    limit: Limit = 100


class UpcomingQuery(QueryModel):
    days: Annotated[int, Range(1, 3660)] = 7
    limit: Limit = 500


class UntaggedQuery(QueryModel):
    limit: Limit = 500


class MonthlyQuery(QueryModel):
    month: Annotated[str, Printable(16)] | None = Field(None, description="YYYY-MM (default: now)")


# -- responses --------------------------------------------------------------------------


class RequesterOut(ResponseModel):
    name: str
    organization: str | None
    contact: str | None


# Present only when set (the scope part names one or the other).
_OnlyWhenSet = Annotated[str | None, WithJsonSchema({"type": "string"})]


class ScopeOut(ResponseModel):
    start: OutTime
    end: OutTime
    device_id: _OnlyWhenSet = None
    officer_badge: _OnlyWhenSet = None

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        for key in ("device_id", "officer_badge"):
            if out.get(key) is None:
                out.pop(key, None)
        return out


class DestructionOut(ResponseModel):
    id: int
    media_id: str
    sha256: str
    source: str
    device_id: str
    officer_badge: str | None
    recorded_start: OutTime
    recorded_end: OutTime | None
    size_bytes: int
    case_number: str | None
    rule: str
    expired_at: OutTime
    purged_at: OutTime
    run_id: str


class PurgingOut(ResponseModel):
    """Destroyed while the hold was placed; the destruction record follows (INV-3)."""

    media_id: str
    state: Literal["destruction in progress"]


class PreservationSummaryOut(ResponseModel):
    id: str
    request_number: str
    requester: RequesterOut
    received_at: OutTime
    received_via: str
    received_by: str
    reason: str
    litigation_anticipated: bool
    case_number: str | None
    scope: list[ScopeOut]
    media_ids: list[str]
    state: str
    form_media_id: str | None
    created_at: OutTime
    created_by: str
    released_at: OutTime | None
    released_by: str | None
    release_notice: str | None
    release_reason: str | None
    pinned_count: int
    already_purged_count: int


class PreservationOut(PreservationSummaryOut):
    pinned: list[str]
    already_purged: list[DestructionOut | PurgingOut]


class PreservationCreatedOut(PreservationOut):
    rescued_from_purge: list[str]


class PreservationListOut(ResponseModel):
    requests: list[PreservationSummaryOut]


class HoldOut(ResponseModel):
    id: str
    reference: str
    reason: str
    state: str
    media_ids: list[str]
    created_at: OutTime
    created_by: str
    released_at: OutTime | None
    released_by: str | None
    release_notice: str | None


class HoldCreatedOut(HoldOut):
    pinned: list[str]
    already_purged: list[DestructionOut | PurgingOut]


class HoldListOut(ResponseModel):
    holds: list[HoldOut]


class CaseOut(ResponseModel):
    case_number: str
    state: str
    opened_at: OutTime
    closed_at: OutTime | None


class DestructionLogOut(ResponseModel):
    records: list[DestructionOut]
    next_before_id: int | None


class UpcomingItemOut(ResponseModel):
    id: str
    source: str
    device_id: str
    officer_badge: str | None
    recorded_start: OutTime
    expires_at: OutTime
    retention_rule: str
    size_bytes: int


class UpcomingOut(ResponseModel):
    now: OutTime
    until: OutTime
    items: list[UpcomingItemOut]


class UntaggedItemOut(ResponseModel):
    id: str
    source: str
    device_id: str
    officer_badge: str | None
    uploaded_at: OutTime
    hours_overdue: float
    officer: str | None
    supervisor: str | None


class UntaggedOut(ResponseModel):
    now: OutTime
    deadline_hours: float
    items: list[UntaggedItemOut]
    failures_per_officer: dict[str, int]


class MonthlyOut(ResponseModel):
    month: str
    untagged_not_requiring_tags: dict[str, int]
    tagging_failures_per_officer: dict[str, int]
