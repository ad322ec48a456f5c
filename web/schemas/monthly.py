"""Monthly audit and supervisor review models (OPS-6, OPS-7, TAG-7; issue 14 item 3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from vms.audit.monthly import MAX_REVIEWS, NOTE_MAX, RecordReview, ReviewQuery
from web.contract import OutTime, Printable, QueryModel, Range, RequestModel, ResponseModel

Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}$")]


class NewReviewIn(RequestModel):
    """A supervisor's review of one officer video (OPS-6)."""

    media_id: Annotated[str, Printable(64, required=True)]
    note: Annotated[str, Printable(NOTE_MAX, required=True)]

    def command(self) -> RecordReview:
        return RecordReview(media_id=self.media_id, note=self.note)


class ReviewListQuery(QueryModel):
    officer: Annotated[str, Printable(32, multiline=False)] | None = Field(
        None, description="An officer's badge"
    )
    month: Month | None = Field(None, description="YYYY-MM")
    limit: Annotated[int, Range(1, MAX_REVIEWS)] = 500

    def command(self) -> ReviewQuery:
        return ReviewQuery(officer=self.officer or None, month=self.month, limit=self.limit)


class MonthlyAuditQuery(QueryModel):
    month: Month = Field(description="YYYY-MM")
    format: Literal["json", "csv", "pdf"] = "json"


class ReviewOut(ResponseModel):
    id: int
    media_id: str
    officer_badge: str
    reviewer: str
    reviewer_role: str
    reviewed_at: OutTime
    note: str


class ReviewListOut(ResponseModel):
    items: list[ReviewOut]


class UsageOut(ResponseModel):
    user: str
    role: str
    views: int
    downloads: int
    playbacks: int
    live_views: int
    exports: int
    releases: int
    total: int


class StorageOut(ResponseModel):
    source: str
    items: int
    bytes: int
    added_items: int
    added_bytes: int
    purged_items: int
    purged_bytes: int
    growth_bytes: int
    held_items: int
    held_bytes: int
    expiring_items: int
    expiring_bytes: int


class ViewingOut(ResponseModel):
    user: str
    role: str
    camera_id: str
    live_views: int
    playbacks: int
    playback_seconds: float
    item_views: int


class PtzUseOut(ResponseModel):
    user: str
    role: str
    camera_id: str
    sessions: int
    sessions_outside_hours: int
    commands: int
    commands_refused: int
    commands_into_masks: int
    seconds_in_control: float


class ReviewCountOut(ResponseModel):
    officer_badge: str
    officer: str | None
    supervisor: str | None
    reviews: int
    required: int
    short: bool


class MonthlyAuditOut(ResponseModel):
    """The month's usage, storage, viewing, PTZ use, tagging (TAG-7) and supervisor
    reviews (OPS-6); ``ptz`` and the tagging maps are null when the package providing
    them is not installed."""

    month: str
    start: OutTime
    end: OutTime
    generated_at: OutTime
    usage: list[UsageOut]
    storage: list[StorageOut]
    viewing: list[ViewingOut]
    ptz: list[PtzUseOut] | None
    untagged_not_requiring_tags: dict[str, int] | None
    tagging_failures_per_officer: dict[str, int] | None
    reviews: list[ReviewCountOut]
    reviews_required: int
    # The agency's time zone (configuration ``time_zone``): ``start`` and ``end`` are
    # its midnights, given in UTC.
    time_zone: str
