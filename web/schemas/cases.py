"""Case folders and bookmarks API models (issue 15.3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from retention.casefile import AddCaseItem, CaseQuery, NewCase
from vms.bookmarks import BookmarkQuery, NewBookmark
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


def _no_slash(value: str) -> str:
    # A case number is a path segment of /api/v1/cases/{number} and /cases/<number>.
    if "/" in value:
        raise PydanticCustomError("vms_text", "must not contain '/'")
    return value


CaseNumber = Annotated[str, Printable(64, required=True), AfterValidator(_no_slash)]
Id = Annotated[str, Printable(64, required=True)]
Note = Annotated[str, Printable(2000)]


# -- requests ---------------------------------------------------------------------------


class NewCaseIn(RequestModel):
    """Open a case folder under this number. ``request_id``: a UUID of the client's; a
    retry with it after a lost answer is answered with the case it opened (ACC-6)."""

    case_number: CaseNumber
    request_id: RequestId | None = None

    def command(self) -> NewCase:
        return NewCase(case_number=self.case_number, form_key=self.request_id)


class CaseListQuery(QueryModel):
    state: Literal["open", "closed"] | None = None
    limit: Annotated[int, Range(1, 500)] = 100

    def command(self) -> CaseQuery:
        return CaseQuery(state=self.state, limit=self.limit)


class AddCaseItemIn(RequestModel):
    """Add a media item to the case by hand, with a note. ``request_id``: a UUID of the
    client's; a retry with it after a lost answer is answered with the item (ACC-6)."""

    media_id: Id
    note: Note | None = None
    request_id: RequestId | None = None

    def command(self) -> AddCaseItem:
        return AddCaseItem(media_id=self.media_id, note=self.note or None, form_key=self.request_id)


class NewBookmarkIn(RequestModel):
    """A bookmark on a camera's timeline (``camera_id``) or in one item (``media_id``):
    an instant (``start``) or a range (``start``..``end``)."""

    start: Time
    end: Time | None = None
    label: Annotated[str, Printable(200, required=True)]
    note: Note | None = None
    camera_id: Id | None = None
    media_id: Id | None = None
    case_number: CaseNumber | None = None

    def command(self) -> NewBookmark:
        return NewBookmark(
            start=self.start,
            end=self.end,
            label=self.label,
            note=self.note or None,
            camera_id=self.camera_id,
            media_id=self.media_id,
            case_number=self.case_number,
        )


class BookmarkListQuery(QueryModel):
    case: Annotated[str, Printable(64)] | None = None
    camera: Annotated[str, Printable(64)] | None = None
    media_id: Annotated[str, Printable(64)] | None = None
    start: Time | None = None
    end: Time | None = None
    limit: Annotated[int, Range(1, 500)] = 100

    def command(self) -> BookmarkQuery:
        return BookmarkQuery(
            case_number=self.case or None,
            camera_id=self.camera or None,
            media_id=self.media_id or None,
            start=self.start,
            end=self.end,
            limit=self.limit,
        )


# -- responses --------------------------------------------------------------------------


class CaseSummaryOut(ResponseModel):
    case_number: str
    state: str
    opened_at: OutTime
    closed_at: OutTime | None
    updated_by: str
    item_count: int
    bookmark_count: int


class CaseListOut(ResponseModel):
    cases: list[CaseSummaryOut]


class CaseItemOut(ResponseModel):
    media_id: str
    tagged: bool
    added: bool
    note: str | None
    added_by: str | None
    added_at: OutTime | None
    in_catalog: bool
    source: str | None
    media_type: str | None
    device_id: str | None
    device_name: str | None
    device_location: str | None
    officer_badge: str | None
    officer_label: str | None
    display_title: str | None
    recorded_start: OutTime | None
    recorded_end: OutTime | None
    evidence: bool
    restricted: bool
    expires_at: OutTime | None
    retention_rule: str | None


class BookmarkOut(ResponseModel):
    id: str
    case_number: str | None
    camera_id: str | None
    media_id: str | None
    start: OutTime
    end: OutTime | None
    label: str
    note: str | None
    author: str
    created_at: OutTime


class BookmarkListOut(ResponseModel):
    bookmarks: list[BookmarkOut]


class CaseExportOut(ResponseModel):
    id: str
    state: str
    purpose: str
    created_at: OutTime
    created_by: str
    package_media_id: str | None


class CaseFileOut(ResponseModel):
    case_number: str
    state: str
    opened_at: OutTime
    closed_at: OutTime | None
    updated_by: str
    items: list[CaseItemOut]
    bookmarks: list[BookmarkOut]
    exports: list[CaseExportOut]
