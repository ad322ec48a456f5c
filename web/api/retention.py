"""The retention API (``/api/v1``): preservation requests (RET-2, RET-3), legal holds
(RET-10), cases (RET-5), the destruction log and upcoming deletions (RET-13), and the
tagging reports (TAG-3, TAG-7). Handlers parse (``web/schemas/retention.py``), call a
retention service with a command value, and return its domain value."""

from __future__ import annotations

from typing import Any

from flask import request

from retention.plugin import Retention, get
from retention.records import (
    CaseRecord,
    DestructionLogPage,
    HoldRecord,
    MonthlyReport,
    PreservationRecord,
    UntaggedReport,
    UpcomingDeletions,
)
from web.contract import ApiBlueprint
from web.schemas.retention import (
    CaseOut,
    CaseStateIn,
    DestructionLogOut,
    DestructionLogQuery,
    FormQuery,
    HoldCreatedOut,
    HoldListOut,
    HoldOut,
    MonthlyOut,
    MonthlyQuery,
    NewHoldIn,
    NewPreservationIn,
    PreservationCreatedOut,
    PreservationListOut,
    PreservationOut,
    ReleaseHoldIn,
    ReleasePreservationIn,
    RequestLogQuery,
    UntaggedOut,
    UntaggedQuery,
    UpcomingOut,
    UpcomingQuery,
)
from web.security import require_actor, services

bp = ApiBlueprint("retention_api", __name__, tag="retention")

_BINARY = {"schema": {"type": "string", "format": "binary"}}
FORM_BODY = {
    "application/pdf": _BINARY,
    "application/octet-stream": _BINARY,
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        }
    },
}


def retention() -> Retention:
    return get(services())


@bp.operation(
    "POST",
    "/preservation-requests",
    body=NewPreservationIn,
    response=PreservationCreatedOut,
    status=201,
)
def create_request(body: NewPreservationIn) -> PreservationRecord:
    """Log a preservation request and pin everything in its scope.

    Pins every catalogued item in the scope now and every item ingested later that falls
    in it (RET-2, RET-3); ``already_purged`` names what was destroyed before, with its
    destruction record. Data stewards only (``preservation.manage``)."""
    actor = require_actor()
    return retention().preservation.create(actor, body.command())


@bp.operation("GET", "/preservation-requests", query=RequestLogQuery, response=PreservationListOut)
def list_requests(query: RequestLogQuery) -> dict[str, Any]:
    """The preservation request log, newest first (RET-3)."""
    actor = require_actor()
    rows = retention().preservation.log(actor, state=query.state, limit=query.limit)
    return {"requests": rows}


@bp.operation("GET", "/preservation-requests/<request_id>", response=PreservationOut)
def get_request(request_id: str) -> PreservationRecord:
    """One preservation request (by id or request number), with what it pins."""
    actor = require_actor()
    return retention().preservation.get(actor, request_id)


@bp.operation(
    "POST",
    "/preservation-requests/<request_id>/release",
    body=ReleasePreservationIn,
    response=PreservationOut,
)
def release_request(request_id: str, body: ReleasePreservationIn) -> PreservationRecord:
    """Release a preservation request with the written notice and the reason.

    Its items keep the evidence retention (RET-2, RET-7) unless another hold keeps them
    longer. 409 when released already, but to a retry with the first request's
    ``request_id``, notice and reason: answered with the request (ACC-6)."""
    actor = require_actor()
    return retention().preservation.release(actor, request_id, body.command())


@bp.operation(
    "POST",
    "/preservation-requests/<request_id>/form",
    query=FormQuery,
    raw_body=FORM_BODY,
    response=PreservationOut,
)
def attach_form(request_id: str, query: FormQuery) -> PreservationRecord:
    """Attach the scanned request form (a PDF).

    The raw PDF as the body (``?filename=`` names it), or a multipart ``file`` field; it
    is ingested and hashed like any media and kept with the request's log entry as
    evidence (RET-3, RET-7); the request holds it while it is active. A form of a released
    request is attached without a hold (RET-2)."""
    actor = require_actor()
    upload = request.files.get("file")
    if upload is not None:
        body: Any = upload.stream
        filename = upload.filename
    else:
        body = request.stream  # streamed to the store, never held whole in memory
        filename = query.filename or "preservation-form.pdf"
    return retention().preservation.attach_form(actor, request_id, body, filename)


@bp.operation("POST", "/legal-holds", body=NewHoldIn, response=HoldCreatedOut, status=201)
def create_hold(body: NewHoldIn) -> HoldRecord:
    """Place a legal hold on media items (RET-10).

    The items are kept until a release notice is recorded. Data stewards only
    (``retention.manage``)."""
    actor = require_actor()
    return retention().legal_holds.create(actor, body.command())


@bp.operation("GET", "/legal-holds", response=HoldListOut)
def list_holds() -> dict[str, Any]:
    """Every legal hold, newest first."""
    actor = require_actor()
    return {"holds": retention().legal_holds.log(actor)}


@bp.operation("GET", "/legal-holds/<hold_id>", response=HoldOut)
def get_hold(hold_id: str) -> HoldRecord:
    """One legal hold."""
    actor = require_actor()
    return retention().legal_holds.get(actor, hold_id)


@bp.operation("POST", "/legal-holds/<hold_id>/release", body=ReleaseHoldIn, response=HoldOut)
def release_hold(hold_id: str, body: ReleaseHoldIn) -> HoldRecord:
    """Release a legal hold; refused without the release notice reference (RET-10); 409
    when released already, but to a retry with the first request's ``request_id`` and
    notice: answered with the hold (ACC-6)."""
    actor = require_actor()
    return retention().legal_holds.release(actor, hold_id, body.command())


@bp.operation("PUT", "/cases/<case_number>", body=CaseStateIn, response=CaseOut)
def set_case(case_number: str, body: CaseStateIn) -> CaseRecord:
    """Reopen or close a case (RET-5); 404 for a case that does not exist (``POST
    /api/v1/cases`` opens one).

    Media with an open case's number are kept; the expiry of the case's items is
    recomputed. 409 when the case is in that state already (naming since when and by
    whom), but to a retry with the first request's ``request_id``: answered with the
    case (ACC-6)."""
    actor = require_actor()
    return retention().cases.set_state(actor, case_number, body.command())


@bp.operation(
    "GET", "/retention/destruction-log", query=DestructionLogQuery, response=DestructionLogOut
)
def destruction_log(query: DestructionLogQuery) -> DestructionLogPage:
    """The destruction log, newest first (RET-13); ``before_id`` pages backwards."""
    actor = require_actor()
    return retention().reports.destruction_log(
        actor, before_id=query.before_id or None, device_id=query.device_id, limit=query.limit
    )


@bp.operation("GET", "/retention/upcoming", query=UpcomingQuery, response=UpcomingOut)
def upcoming(query: UpcomingQuery) -> UpcomingDeletions:
    """Items the purge will delete within ``days`` (default 7), soonest first (RET-13)."""
    actor = require_actor()
    return retention().reports.upcoming(actor, days=query.days, limit=query.limit)


@bp.operation("GET", "/reports/untagged", query=UntaggedQuery, response=UntaggedOut)
def untagged(query: UntaggedQuery) -> UntaggedReport:
    """BWC and dash items still untagged past the deadline (TAG-3).

    With the officer and supervisor of each, and the tagging failures per officer."""
    actor = require_actor()
    return retention().reports.untagged(actor, limit=query.limit)


@bp.operation("GET", "/reports/monthly", query=MonthlyQuery, response=MonthlyOut)
def monthly(query: MonthlyQuery) -> MonthlyReport:
    """The monthly tagging report for ``month`` (YYYY-MM, default this month; TAG-7)."""
    actor = require_actor()
    month = query.month or services().clock.now().strftime("%Y-%m")
    return retention().reports.monthly(actor, month)
