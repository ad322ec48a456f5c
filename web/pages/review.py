"""The investigators' review page (``/review``, issue 15.2; docs/design/review.md): a time
window, the sources recorded in it that the user may see (fixed cameras, body-worn,
dash and handheld recordings), a timeline with one lane per chosen source, and up to
four of them played side by side on one clock (``static/review.js``).

The page reads the window through the review service (the same value as
``GET /api/v1/review``, audited once per page); the videos come from the playlist API
(cameras) and the content API (items), which check ``media.view`` and audit the
viewing themselves. ``register(app)`` also registers the review API (one line in
``web/pages/__init__.py``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, render_template

from vms.auth.permissions import Action
from vms.errors import InvalidArgument
from vms.names import shown_title
from web.api import review as review_api
from web.contract import parse_model, query_data
from web.pages.blueprint import page_blueprint
from web.schemas.review import ReviewOut, ReviewQueryIn
from web.security import require_actor, services

bp = page_blueprint("review_pages", __name__)

# Videos played side by side: four keep each one large enough to read on a laptop.
MAX_PLAYED = 4
EXPORTS_RULE = "/api/v1/exports"


def register(app: Flask) -> None:
    """Register the review API and page."""
    app.register_blueprint(review_api.bp, url_prefix="/api/v1")
    app.register_blueprint(bp)


def exports_available() -> bool:
    """Whether this server takes export jobs (``POST /api/v1/exports``, issue 15.4)."""
    return any(
        rule.rule == EXPORTS_RULE and "POST" in (rule.methods or ())
        for rule in current_app.url_map.iter_rules()
    )


@bp.get("/review")
def review() -> Any:
    actor = require_actor()
    authoriser = services().authoriser
    authoriser.require(actor, Action.MEDIA_SEARCH, "review")
    data = query_data()
    case_number = str(data.pop("case", "") or "")[:64]  # from the case page: fills the forms
    # ACC-4: the purpose the players send with each opening (not a review filter).
    purposes = services().config.access.purpose_list
    purpose = str(data.pop("purpose", "") or "")
    purpose = purpose if purpose in purposes else ""
    if data.pop("find", None):  # "Find sources" for a new window: nothing chosen yet
        data.pop("camera", None)
        data.pop("media_id", None)
    window = None
    error, status, too_many = None, 200, False
    if data.get("start") or data.get("end"):
        # A bad window or too many sources is said inside the form, which keeps what was
        # typed and ticked (it replaced the page with the error page).
        try:
            query = parse_model(ReviewQueryIn, data)
            chosen = len(query.camera) + len(query.media_id)
            if chosen > MAX_PLAYED:
                too_many = True
                error, status = (
                    f"{chosen} sources were chosen: the review plays at most {MAX_PLAYED} "
                    "side by side",
                    400,
                )
                # The window's sources, with the choice ticked below, to untick some.
                ticked = {*query.camera, *query.media_id}
                query = query.model_copy(update={"camera": [], "media_id": []})
            value = review_api.reviews().window(actor, query.command())
        except InvalidArgument as exc:
            error, status = exc.message, 400
        else:
            window = ReviewOut.model_validate(value, from_attributes=True).model_dump(mode="json")
            # An item's made-up title with its time on the agency's clock (the API's: UTC).
            zone = services().config.zone
            for shown, source in zip(window["sources"], value.sources, strict=True):
                shown["title"] = shown_title(source.title, source.title_at, zone)
                if too_many:
                    shown["selected"] = source.id in ticked
    selected = [s for s in window["sources"] if s["selected"]] if window and not too_many else []
    return render_template(
        "review.html",
        start=str(data.get("start", "")),
        end=str(data.get("end", "")),
        window=window,
        selected=selected,
        # No Play button where nothing chosen plays for this user (an auditor or a
        # records commander reads the timeline only: metadata, never content), and no
        # purpose to open recordings with for a role that may open none (ACC-4).
        can_play=any(s["playable"] for s in selected),
        can_view=authoriser.allows(actor, Action.MEDIA_VIEW),
        max_played=MAX_PLAYED,
        case_number=case_number,
        purposes=purposes,
        purpose=purpose,
        can_bookmark=authoriser.allows(actor, Action.CASES_MANAGE),
        can_read_bookmarks=authoriser.allows(actor, Action.CASES_READ),
        can_export=exports_available() and authoriser.allows(actor, Action.EXPORTS_CREATE),
        error=error,
    ), status
