"""The review API (issue 15.2; docs/design/review.md): what was recorded in a window
across fixed cameras and body-worn, dash and handheld recordings, for the review page."""

from __future__ import annotations

from recorder.review import ReviewService, ReviewWindow
from vms.errors import Unavailable
from web.contract import ApiBlueprint
from web.schemas.review import ReviewOut, ReviewQueryIn
from web.security import require_actor, services

bp = ApiBlueprint("review_api", __name__, tag="review")


def reviews() -> ReviewService:
    found = services().ports.find(ReviewService)
    if found is None:
        raise Unavailable("recording is not installed")
    return found


@bp.operation("GET", "/review", query=ReviewQueryIn, response=ReviewOut)
def review(query: ReviewQueryIn) -> ReviewWindow:
    """The sources overlapping ``start``..``end`` that the caller may see.

    Fixed cameras with their recorded spans and recording interruptions (with their
    cause), and body-worn, dash and handheld recordings; ``selected`` marks the ones
    chosen with ``camera`` and ``media_id``, ``playable`` whether the caller may play
    each. Same role check as catalog search (an officer sees only their own
    recordings); the reading is audited (``review.view``) with the ids listed."""
    return reviews().window(require_actor(), query.command())
