"""Commands and values of release requests and share links (issue 16;
:mod:`retention.releases`, which re-exports them, runs the workflow)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Literal

from retention.commands import Requester
from vms.db.models import (
    ShareLink,
)

ReleaseKind = Literal["foia", "agency", "court_order", "media", "internal_affairs"]


@dataclass(frozen=True)
class NewRelease:
    """``POST /api/v1/releases``: ``items`` are export ids or media ids."""

    kind: ReleaseKind
    request_number: str
    requester: Requester
    received_at: dt.datetime
    legal_basis: str
    items: tuple[str, ...]
    document_media_id: str | None = None
    due_at: dt.datetime | None = None


@dataclass(frozen=True)
class Decision:
    """Approve or deny, with the reason (ACC-5); ``form_key``: the page form's one-time
    key or the API's ``request_id`` (:func:`vms.repeats.made_under_key`, ACC-6)."""

    reason: str
    form_key: str | None = None


@dataclass(frozen=True)
class NewShare:
    """A share link: until when, how many downloads; ``link_id`` the id the link is to
    have, issued with the page's form (:mod:`web.form_keys`) or named by an API client: a
    second ask with it makes nothing (a Conflict), as the first link's address was shown
    once only (REL-1)."""

    expires_at: dt.datetime
    max_downloads: int
    link_id: str | None = None
    from_form: bool = False  # the id is a page's form key (what a refusal tells)

    def with_link_id(self, link_id: str) -> NewShare:
        """The id from the page's one-time form key (:mod:`web.form_keys`)."""
        return dataclasses.replace(self, link_id=link_id, from_form=True)


@dataclass(frozen=True)
class SetPrivacy:
    """Flag (or clear) an item as privacy-sensitive (ACC-11, REL-3), with the reason."""

    sensitive: bool
    reason: str


@dataclass(frozen=True)
class PrivacyFlag:
    media_id: str
    privacy_sensitive: bool


@dataclass(frozen=True)
class ReleasedItem:
    position: int
    export_id: str | None
    media_id: str


@dataclass(frozen=True)
class ShareRecord:
    id: str
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime
    max_downloads: int
    downloads: int
    revoked_at: dt.datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, row: ShareLink) -> ShareRecord:
        return cls(
            row.id,
            row.created_at,
            row.created_by,
            row.expires_at,
            row.max_downloads,
            row.downloads,
            row.revoked_at,
            row.revoked_by,
        )


@dataclass(frozen=True)
class ReleaseRecord:
    id: str
    kind: str
    request_number: str
    requester: Requester
    received_at: dt.datetime
    legal_basis: str
    document_media_id: str | None
    due_at: dt.datetime | None
    overdue: bool
    state: str
    created_at: dt.datetime
    created_by: str
    decided_at: dt.datetime | None
    decided_by: str | None
    decision_reason: str | None
    released_at: dt.datetime | None
    released_by: str | None
    secondary_copy: bool
    items: tuple[ReleasedItem, ...]
    shares: tuple[ShareRecord, ...]


@dataclass(frozen=True)
class ReleaseListing:
    now: dt.datetime
    releases: tuple[ReleaseRecord, ...]


@dataclass(frozen=True)
class SharedLink:
    """A new link: the token is shown once and never stored."""

    link: ShareRecord
    token: str
