"""Redaction pages (issue 16, item 4; docs/design/redaction.md, "The review page"):
``POST /media/<id>/redactions`` (the media page's "Redact" form: queue a job, go to its
page) and ``/redactions/<id>``, the review page (``web/static/redaction.js`` draws the
tracks over the video, toggles them, adds manual keyframed tracks, previews the method
and renders, all through ``/api/v1/redactions``)."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from privacy_masks.redaction import RedactionService
from web.contract import parse_model
from web.pages.blueprint import page_blueprint
from web.schemas.redactions import NewRedactionIn, RedactionOut
from web.security import require_actor, services

bp = page_blueprint("redaction_pages", __name__)

#: What the review page offers to detect (the opencv backend finds these three).
DETECT_CHOICES = ("faces", "plates", "persons")
METHODS = ("blur", "pixelate", "solid")


def _service() -> RedactionService:
    return services().ports.get(RedactionService, reader="the redaction pages")


@bp.post("/media/<media_id>/redactions")
def start(media_id: str) -> Any:
    """Queue a redaction job of the item (REDACTIONS_MANAGE; the service checks and
    audits) and open its review page. CSRF is checked by ``require_actor``."""
    actor = require_actor()
    body = parse_model(
        NewRedactionIn,
        {
            "media_id": media_id,
            "detect": request.form.getlist("detect"),
            "method": request.form.get("method") or None,
        },
    )
    record = _service().create(actor, body.command())
    return redirect(url_for("redaction_pages.review", redaction_id=record.id))


@bp.get("/redactions/<redaction_id>")
def review(redaction_id: str) -> Any:
    """The review page of one job (whoever may redact its item; 403 audited, 404)."""
    record = _service().get(require_actor(), redaction_id)
    job = RedactionOut.model_validate(record).model_dump(mode="json", by_alias=True)
    return render_template("redaction.html", job=job, methods=METHODS)
