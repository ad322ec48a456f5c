"""Release API models (issue 16, items 5 and 6): request models build the commands of
``retention.releases``; response models read its domain values."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from retention.releases import Decision, NewRelease, NewShare, SetPrivacy
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
from web.schemas.retention import RequesterIn, RequesterOut

ItemId = Annotated[str, Printable(64, required=True)]


class NewReleaseIn(RequestModel):
    """A release request as received. ``items``: export ids (their signed packages are
    released) or media ids. ``document_media_id``: the written request (``agency``) or
    the court order (``court_order``), required for those kinds (ACC-9)."""

    kind: Literal["foia", "agency", "court_order", "media", "internal_affairs"]
    request_number: Annotated[str, Printable(64, required=True)]
    requester: RequesterIn
    received_at: Time
    legal_basis: Annotated[str, Printable(4000, required=True)]
    document_media_id: Annotated[str, Printable(64)] | None = None
    items: Annotated[list[ItemId], Field(min_length=1, max_length=100)]
    due_at: Time | None = None

    def command(self) -> NewRelease:
        return NewRelease(
            kind=self.kind,
            request_number=self.request_number,
            requester=self.requester.value(),
            received_at=self.received_at,
            legal_basis=self.legal_basis,
            items=tuple(self.items),
            document_media_id=self.document_media_id or None,
            due_at=self.due_at,
        )


class DecisionIn(RequestModel):
    """The decision's reason (ACC-5). ``request_id``: a UUID of the client's; a retry
    with it and the same reason after a lost answer gets the first answer (ACC-6)."""

    reason: Annotated[str, Printable(4000, required=True)]
    request_id: RequestId | None = None

    def command(self) -> Decision:
        return Decision(self.reason, form_key=self.request_id)


# A link's id named by the client: a UUID in lower-case hex (what the server makes too).
LinkId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]


class NewShareIn(RequestModel):
    """``link_id``: the id the link is to have, a UUID of the client's. Its address is in
    the answer only (its hash is stored, REL-1): a retry after a lost answer with the same
    id makes nothing and is a 409 naming the link made, to revoke; without one, a retry
    makes a second link."""

    expires_at: Time
    max_downloads: Annotated[int, Range(1, 100_000)] = 1
    link_id: LinkId | None = None

    def command(self) -> NewShare:
        return NewShare(self.expires_at, self.max_downloads, self.link_id)


class PrivacyIn(RequestModel):
    """``privacy_sensitive``: true flags the item (ACC-11, REL-3), false clears it."""

    privacy_sensitive: bool
    reason: Annotated[str, Printable(4000, required=True)]

    def command(self) -> SetPrivacy:
        return SetPrivacy(self.privacy_sensitive, self.reason)


class PrivacyOut(ResponseModel):
    media_id: str
    privacy_sensitive: bool


class ReleaseLogQuery(QueryModel):
    state: Literal["received", "in_review", "approved", "denied", "released"] | None = None
    limit: Annotated[int, Range(1, 1000)] = 200


class ReleaseItemOut(ResponseModel):
    position: int
    export_id: str | None
    media_id: str


class ShareOut(ResponseModel):
    id: str
    created_at: OutTime
    created_by: str
    expires_at: OutTime
    max_downloads: int
    downloads: int
    revoked_at: OutTime | None
    revoked_by: str | None


class ReleaseOut(ResponseModel):
    id: str
    kind: str
    request_number: str
    requester: RequesterOut
    received_at: OutTime
    legal_basis: str
    document_media_id: str | None
    due_at: OutTime | None
    overdue: bool
    state: str
    created_at: OutTime
    created_by: str
    decided_at: OutTime | None
    decided_by: str | None
    decision_reason: str | None
    released_at: OutTime | None
    released_by: str | None
    secondary_copy: bool
    items: list[ReleaseItemOut]
    shares: list[ShareOut]


class ReleaseListOut(ResponseModel):
    now: OutTime
    releases: list[ReleaseOut]


class SharedOut(ResponseModel):
    """The new link: ``token`` is shown only here (only its SHA-256 is stored)."""

    id: str
    url: str
    token: str
    expires_at: OutTime
    max_downloads: int
