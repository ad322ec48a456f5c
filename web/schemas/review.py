"""Review API models (issue 15.2): a window and the sources chosen in it; what overlaps it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from recorder.review import ReviewQuery
from web.contract import OutTime, Printable, QueryModel, ResponseModel, Time


def _listed(value: Any) -> Any:
    """A query parameter given once is one string; repeated, a list of them."""
    return [value] if isinstance(value, str) else value


Ids = Annotated[list[Annotated[str, Printable(64, required=True)]], BeforeValidator(_listed)]


class ReviewQueryIn(QueryModel):
    """A window (``start``, ``end``: ISO 8601, UTC) and the sources chosen in it: fixed
    cameras (``camera``, repeated) and items (``media_id``, repeated)."""

    start: Time
    end: Time
    camera: Ids = []
    media_id: Ids = []

    def command(self) -> ReviewQuery:
        return ReviewQuery(
            start=self.start,
            end=self.end,
            camera_ids=tuple(self.camera),
            media_ids=tuple(self.media_id),
        )


class SpanOut(ResponseModel):
    start: OutTime
    end: OutTime


class InterruptionOut(ResponseModel):
    start: OutTime
    end: OutTime | None
    cause: str
    detail: str | None


class ReviewMarkerOut(ResponseModel):
    """A device marker on an item's track (OPS-3)."""

    kind: str
    at: OutTime
    reason: str | None


class ReviewSourceOut(ResponseModel):
    kind: str
    id: str
    source: str
    device_id: str
    name: str
    location: str | None
    officer_label: str | None
    title: str
    spans: list[SpanOut]
    interruptions: list[InterruptionOut]
    restricted: bool
    playable: bool
    refusal: str | None
    selected: bool
    markers: list[ReviewMarkerOut] = Field(
        default_factory=list, description="An item's device markers, time order (OPS-3)"
    )


class ReviewOut(ResponseModel):
    start: OutTime
    end: OutTime
    sources: list[ReviewSourceOut]
    truncated: bool
