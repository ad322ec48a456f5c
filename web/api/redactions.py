"""Redactions API (``/api/v1/redactions``, issue 16 item 3; docs/design/redaction.md).

``POST /redactions`` checks the request and queues the analysis (202 ``{id, state}``);
the jobs role runs it, publishing ``redaction.progress`` (forwarded over Socket.IO to
the creator), and leaves the job in ``review`` with its tracks; ``GET /redactions/{id}``
reads it; ``PATCH /redactions/{id}`` edits the tracks and method; ``POST
/redactions/{id}/render`` queues the render of the derived item (202).
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from privacy_masks.redaction import RedactionRecord, RedactionService
from vms.auth.permissions import Action
from web.api.media import send_media
from web.contract import ApiBlueprint, binary
from web.schemas.redactions import (
    EditRedactionIn,
    NewRedactionIn,
    RedactionCreatedOut,
    RedactionListOut,
    RedactionListQuery,
    RedactionOut,
)
from web.security import require_actor, services

bp = ApiBlueprint("redactions_api", __name__, tag="redactions")


def _service() -> RedactionService:
    return services().ports.get(RedactionService, reader="the redactions API")


def _may_redact() -> None:
    services().authoriser.require(require_actor(), Action.REDACTIONS_MANAGE, "redactions")


@bp.operation(
    "POST",
    "/redactions",
    body=NewRedactionIn,
    response=RedactionCreatedOut,
    status=202,
    before=_may_redact,
)
def create_redaction(body: NewRedactionIn) -> RedactionRecord:
    """Queue a redaction job of a video item (jobs role; progress over Socket.IO as
    ``redaction.progress`` and in ``GET /redactions/{id}``).

    Checked before anything is queued: 404 for an unknown item; 400 for an item that is
    not a video, a class the configured detector cannot find, a bad audio range; 403
    (audited) for an item the user may not redact (restricted items: admins only,
    ACC-7). A video that does not decode fails the job (``error`` names the item)."""
    return _service().create(require_actor(), body.command())


@bp.operation(
    "GET", "/redactions", query=RedactionListQuery, response=RedactionListOut, before=_may_redact
)
def list_redactions(query: RedactionListQuery) -> dict[str, Any]:
    """The redaction jobs of one item, newest first (the media page's list): for whoever
    may redact the item (403 audited otherwise; 404 an unknown item)."""
    return {"redactions": _service().of_item(require_actor(), query.media_id)}


@bp.operation(
    "GET",
    "/redactions/<redaction_id>/video",
    responses={
        200: binary("video/*", "The original's video, for the review page's player"),
        206: binary("video/*", "A byte range of it (HTTP Range)"),
    },
)
def original_video(redaction_id: str) -> Response:
    """The job's original video for the review page (issue 16 item 4), with HTTP Range:
    whoever may redact the item sees it through the job (a records commander too, who
    has no ``media.view``); the viewing is recorded like any other (custody ``viewed``,
    audit ``media.view`` with ``purpose: redaction`` and the job's id; ACC-1, ACC-6)."""
    actor = require_actor()
    ranges = request.range.ranges if request.range else []
    access = _service().original(
        actor, redaction_id, continuation=bool(ranges) and ranges[0][0] > 0
    )
    return send_media(actor, access)


@bp.operation("GET", "/redactions/<redaction_id>", response=RedactionOut)
def get_redaction(redaction_id: str) -> RedactionRecord:
    """One redaction job: state, progress 0..1, error, method, the tracks (a box per
    frame), the original's video facts, and the derived item once rendered."""
    return _service().get(require_actor(), redaction_id)


@bp.operation("PATCH", "/redactions/<redaction_id>", body=EditRedactionIn, response=RedactionOut)
def edit_redaction(redaction_id: str, body: EditRedactionIn) -> RedactionRecord:
    """Edit a job under review: enable or disable tracks, add manual tracks from
    keyframes (linear interpolation between them), remove manual tracks, change the
    method. 409 unless the job is in ``review``; 400 names the field and value."""
    return _service().edit(require_actor(), redaction_id, body.command())


@bp.operation(
    "POST",
    "/redactions/<redaction_id>/render",
    response=RedactionCreatedOut,
    status=202,
)
def render_redaction(redaction_id: str) -> RedactionRecord:
    """Queue the render: the enabled tracks burned in, audio ranges muted, a derived item
    of source ``redacted`` linked to the original, with Content Credentials naming
    every redaction. 409 unless the job is in ``review`` (analysis done)."""
    return _service().render(require_actor(), redaction_id)
