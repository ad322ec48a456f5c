"""Case folders and bookmarks API (``/api/v1/cases``, ``/api/v1/bookmarks``; issue 15.3).

Investigators, records staff and admins manage them (``cases.manage``), auditors read
them (``cases.read``); every change and every view of a case or of bookmarks is audited
(ACC-6). Opening and closing an existing case stays ``PUT /api/v1/cases/{number}`` of
the retention API (the data steward's, RET-10).
"""

from __future__ import annotations

from retention.casefile import CaseFile, CaseFileService, CaseItemView, CaseListing, CaseSummary
from vms.bookmarks import BookmarkListing, BookmarkRecord
from web.contract import ApiBlueprint
from web.schemas.cases import (
    AddCaseItemIn,
    BookmarkListOut,
    BookmarkListQuery,
    BookmarkOut,
    CaseFileOut,
    CaseItemOut,
    CaseListOut,
    CaseListQuery,
    CaseSummaryOut,
    NewBookmarkIn,
    NewCaseIn,
)
from web.security import require_actor, services

bp = ApiBlueprint("cases_api", __name__, tag="cases")


def casefiles() -> CaseFileService:
    return services().ports.get(CaseFileService, reader="the cases API")


@bp.operation("GET", "/cases", query=CaseListQuery, response=CaseListOut)
def list_cases(query: CaseListQuery) -> CaseListing:
    """Cases, newest first, with their item and bookmark counts."""
    return casefiles().list_cases(require_actor(), query.command())


@bp.operation("POST", "/cases", body=NewCaseIn, response=CaseSummaryOut, status=201)
def create_case(body: NewCaseIn) -> CaseSummary:
    """Open a case folder.

    The items tagged with its number are kept from now on (RET-5). 409 when the case
    exists already (reopening a closed case is ``PUT /api/v1/cases/{number}``), but to a
    retry with the first request's ``request_id``: answered with the case (ACC-6)."""
    return casefiles().create(require_actor(), body.command())


@bp.operation("GET", "/cases/<number>", response=CaseFileOut)
def get_case(number: str) -> CaseFile:
    """A case: its items (tagged with its number or added by hand), bookmarks and exports.

    The viewing is audited with the ids shown (ACC-6)."""
    return casefiles().get(require_actor(), number)


@bp.operation("POST", "/cases/<number>/items", body=AddCaseItemIn, response=CaseItemOut, status=201)
def add_case_item(number: str, body: AddCaseItemIn) -> CaseItemView:
    """Add a media item to an open case by hand, with a note.

    Needs the right to tag the item (a refusal is a 403, audited); the item is then kept
    while the case is open (RET-5). 409 when it is in the case already, but to a retry
    with the first request's ``request_id``: answered with the item (ACC-6)."""
    return casefiles().add_item(require_actor(), number, body.command())


@bp.operation("POST", "/bookmarks", body=NewBookmarkIn, response=BookmarkOut, status=201)
def create_bookmark(body: NewBookmarkIn) -> BookmarkRecord:
    """Bookmark an instant or a range on a camera's timeline or in one item."""
    return services().bookmarks.create(require_actor(), body.command())


@bp.operation("GET", "/bookmarks", query=BookmarkListQuery, response=BookmarkListOut)
def list_bookmarks(query: BookmarkListQuery) -> BookmarkListing:
    """Bookmarks by case, camera or item, and overlapping ``start``..``end``, in time order.

    Audited with the ids shown (ACC-6)."""
    return services().bookmarks.search(require_actor(), query.command())
