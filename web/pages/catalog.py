"""Catalog pages: search (``/catalog``), one media item (``/media/<id>``) and the upload
page (``/upload``); the data come from the catalog service (ACC-2, ACC-8 scoping)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import redirect, render_template, request, url_for

from privacy_masks.redaction import RedactionService
from vms.access import needs_purpose
from vms.audit.view import AuditQuery
from vms.auth.permissions import Action, decide
from vms.catalog_values import MediaDetail
from vms.clock import isoformat
from vms.errors import Conflict, FailedPrecondition, InvalidArgument
from web import form_keys
from web.contract import parse_model, query_data
from web.pages.blueprint import FormRefusal, page_blueprint, refusal
from web.pages.filters import SOURCE_NAMES
from web.pages.redactions import DETECT_CHOICES, METHODS
from web.schemas.access import ApprovalIn, CriticalIncidentIn
from web.schemas.media import MediaDetailOut, MediaOut, MediaSearchQuery, RestrictionIn
from web.security import require_actor, services

# The upload page sends chunks of at most this size (and never more than the server's
# ``[web] max_chunk_bytes``): small enough that a dropped connection loses little.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024

bp = page_blueprint("catalog_pages", __name__)


@bp.get("/catalog")
def catalog() -> Any:
    actor = require_actor()
    args = request.args
    error = None
    items: list[dict[str, Any]] = []
    next_cursor = None
    try:
        query = parse_model(MediaSearchQuery, query_data()).command()
        page = services().catalog.search(actor, query)
        # The table shows what the API shows (times as ISO 8601 for the ``when`` filter).
        # With the time a made-up title ends with, for the item_title filter (the agency's
        # clock; the API's titles stay UTC).
        items = [
            {**MediaOut.model_validate(i).model_dump(mode="json"), "title_at": i.title_at}
            for i in page.items
        ]
        next_cursor = page.next_cursor
    except InvalidArgument as exc:
        error = exc.message
    filtered = any(args.get(k) for k in args if k not in ("cursor", "limit"))
    html = render_template(
        "catalog.html",
        items=items,
        next_cursor=next_cursor,
        args=args,
        filtered=filtered,
        error=error,
        categories=services().categories.categories,
        sources=SOURCE_NAMES,
    )
    return html, 400 if error else 200  # the form again, with what was wrong (#10.10)


@bp.get("/media/<media_id>")
def media_detail(media_id: str, refused: FormRefusal | None = None) -> Any:
    """The media page; ``refused``: a refusal of one of its forms posted elsewhere (the
    case pages' "Add to a case" and bookmark forms), shown inside it with what was typed."""
    actor = require_actor()
    item = services().catalog.get(actor, media_id)
    # The same decision as the content route's (an export's package: its creator's).
    item_facts, viewing = services().catalog.content_decision(actor, media_id)
    # ACC-4: outside their own scope a reviewer picks a purpose before the player loads.
    purposes = services().catalog.purposes
    needs = viewing.allowed and needs_purpose(actor, item_facts)
    purpose = request.args.get("purpose")
    purpose = purpose if purpose in purposes else None
    # Decided as the services decide, with this installation's settings: the ACC-11
    # roles ([access] privacy_sensitive_roles) are not the table's defaults everywhere. A
    # form the services refuse is not offered, and the item's redaction jobs are read
    # only by who may read them (the whole page was a 403 for a records commander
    # outside a narrowed set).
    allows = services().authoriser.allows
    history = None
    if allows(actor, Action.AUDIT_READ):  # auditors and admins (issue 14.2)
        touched = AuditQuery(target=f"media:{media_id}")
        history = services().audit_view.search(actor, touched).entries
    # Issue 16 item 4: the "Redact" form and the item's redaction jobs (where the
    # redaction plugin is installed).
    can_redact = (
        item.media_type == "video"
        and RedactionService in services().ports.provided()
        and allows(actor, Action.REDACTIONS_MANAGE, item_facts)
    )
    redactions = (
        services().ports.get(RedactionService, reader="the media page").of_item(actor, media_id)
        if can_redact
        else []
    )
    html = render_template(
        "media.html",
        refused=refused,
        form=request.form if refused else {},
        history=history,
        can_redact=can_redact,
        redactions=redactions,
        redaction_detect=DETECT_CHOICES,
        redaction_methods=METHODS,
        can_restrict=allows(actor, Action.MEDIA_RESTRICT, item_facts),
        restricted_changed=request.args.get("restricted"),
        can_flag_critical=allows(actor, Action.MEDIA_CRITICAL, item_facts),
        can_approve=allows(actor, Action.REVIEW_APPROVE, item_facts),
        critical_changed=CRITICAL_NOTICES.get(request.args.get("critical", "")),
        item={
            **MediaDetailOut.model_validate(item).model_dump(mode="json"),
            "title_at": item.title_at,  # for the item_title filter
        },
        can_view=viewing.allowed,
        view_refusal=None if viewing.allowed else viewing.reason,
        purposes=purposes if needs else (),
        purpose=purpose,
        can_edit=allows(actor, Action.MEDIA_EDIT, item_facts),
        # Filing in a case and bookmarking need media.edit on the item too (the case and
        # bookmark services check it): no form that can only be refused (ACC-7).
        can_file=allows(actor, Action.CASES_MANAGE)
        and allows(actor, Action.MEDIA_EDIT, item_facts),
        file_key=form_keys.issue("case.file", media_id),  # sent twice, filed once (ACC-6)
        # The restriction's and the flag's: sent twice, changed once (ACC-6).
        restrict_key=form_keys.issue("media.restrict", media_id),
        critical_key=form_keys.issue("media.critical", media_id),
        categories=services().categories.categories,
        marker_bar=marker_bar(item),
        continued_playlist=continued_playlist(item, purpose),
    )
    return html, refused.status if refused else 200


def continued_playlist(item: MediaDetail, purpose: str | None) -> str | None:
    """For a recorder segment continued without a keyframe (its file alone does not
    decode), the camera playback playlist of its span, which the page's player loads
    instead: it is decoded from the chain's keyframe (docs/design/playback.md, "A
    continued segment on its own"). None otherwise, or without a purpose (a camera's
    recording is nobody's own, ACC-4: the page asks for one first)."""
    if item.continues is None or item.device_id is None or not purpose:
        return None
    end = item.recorded_end or item.recorded_start + dt.timedelta(
        seconds=item.duration_seconds or 0.0
    )
    return url_for(
        "playback_api.playlist",
        camera_id=item.device_id,
        start=isoformat(item.recorded_start),
        end=isoformat(end),
        purpose=purpose,
    )


# A marker that starts a span (OPS-3) and the kind that ends it.
SPAN_ENDS = {"mute": "unmute", "deactivation": "reactivation"}


def marker_bar(item: MediaDetail) -> dict[str, Any] | None:
    """The media page's timeline of the recording (OPS-2, OPS-3): the pre-event buffer
    at its head, muted and deactivated spans (a span open at the end runs to the end) and
    a tick per marker, in percent of the duration for a server-drawn SVG (the page's
    CSP allows no inline styles). None: nothing to draw."""
    duration = item.duration_seconds
    if not duration or (not item.markers and not item.pre_event_buffer_seconds):
        return None

    def pct(seconds: float) -> float:
        return round(min(max(seconds / duration, 0.0), 1.0) * 100, 3)

    spans: list[dict[str, Any]] = []
    opened: dict[str, float] = {}
    for marker in item.markers:
        if marker.kind in SPAN_ENDS:
            opened.setdefault(marker.kind, marker.offset_seconds)
        for kind, end in SPAN_ENDS.items():
            if marker.kind == end and kind in opened:
                start = opened.pop(kind)
                spans.append(
                    {"kind": kind, "x": pct(start), "w": pct(marker.offset_seconds - start)}
                )
    spans += [{"kind": k, "x": pct(s), "w": pct(duration - s)} for k, s in opened.items()]
    return {
        "buffer": pct(item.pre_event_buffer_seconds or 0),
        "spans": spans,
        "ticks": [
            {"kind": m.kind, "x": pct(m.offset_seconds), "reason": m.reason or ""}
            for m in item.markers
        ],
    }


# A form's refusals shown inside it on the media page (what was typed kept); a refusal
# of the role or of a missing item still gets the error page.
FORM_FAULTS = (InvalidArgument, Conflict, FailedPrecondition)


@bp.post("/media/<media_id>/restricted")
def restrict(media_id: str) -> Any:
    """The media page's restricted-mark form (ACC-7, admins)."""
    actor = require_actor()
    wanted = request.form.get("restricted") == "1"
    try:
        body = parse_model(
            RestrictionIn, {"restricted": wanted, "reason": request.form.get("reason", "")}
        )
        key = form_keys.redeem_sent(request.form, "media.restrict", media_id)
        command = dataclasses.replace(body.command(), form_key=key)  # sent twice: ACC-6
        services().catalog.set_restricted(actor, media_id, command)
    except FORM_FAULTS as exc:
        return media_detail(media_id, refusal(exc, "restrict"))
    return redirect(
        url_for("catalog_pages.media_detail", media_id=media_id, restricted="1" if wanted else "0")
    )


CRITICAL_NOTICES = {
    "1": "The item is now flagged as a critical incident.",
    "0": "The critical-incident flag is cleared.",
    "approved": "The approval is recorded: the officer may review the item.",
}


@bp.post("/media/<media_id>/critical-incident")
def critical_incident(media_id: str) -> Any:
    """The media page's critical-incident form (ACC-2)."""
    actor = require_actor()
    wanted = request.form.get("critical_incident") == "1"
    try:
        body = parse_model(
            CriticalIncidentIn,
            {"critical_incident": wanted, "reason": request.form.get("reason", "")},
        )
        key = form_keys.redeem_sent(request.form, "media.critical", media_id)
        command = dataclasses.replace(body.command(), form_key=key)  # sent twice: ACC-6
        services().catalog.set_critical_incident(actor, media_id, command)
    except FORM_FAULTS as exc:
        return media_detail(media_id, refusal(exc, "critical"))
    return redirect(
        url_for("catalog_pages.media_detail", media_id=media_id, critical="1" if wanted else "0")
    )


@bp.post("/media/<media_id>/review-approval")
def review_approval(media_id: str) -> Any:
    """The media page's review-approval form (ACC-2: admins, the officer's supervisor)."""
    actor = require_actor()
    data = {k: request.form.get(k, "").strip() for k in ("reason", "document_ref", "expires_at")}
    try:
        body = parse_model(ApprovalIn, {k: v for k, v in data.items() if v})
        services().review_access.approve(actor, media_id, body.command())
    except FORM_FAULTS as exc:
        return media_detail(media_id, refusal(exc, "approval"))
    return redirect(url_for("catalog_pages.media_detail", media_id=media_id, critical="approved"))


@bp.get("/upload")
def upload() -> Any:
    actor = require_actor()
    return render_template(
        "upload.html",
        can_upload=decide(actor, Action.MEDIA_UPLOAD).allowed,
        categories=services().categories.categories,
        chunk_bytes=min(UPLOAD_CHUNK_BYTES, services().config.web.max_chunk_bytes),
    )
