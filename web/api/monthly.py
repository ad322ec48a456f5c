"""Supervisor reviews (``/reviews``, OPS-6) and the monthly audit
(``/reports/monthly-audit``, OPS-7, TAG-7) of issue 14 item 3: handlers parse, call
:mod:`vms.audit.monthly`, serialise (JSON, CSV or PDF)."""

from __future__ import annotations

from typing import Any

from flask import Response

from vms.audit.monthly_out import to_csv, to_pdf
from web.contract import ApiBlueprint, binary, text
from web.schemas.monthly import (
    MonthlyAuditOut,
    MonthlyAuditQuery,
    NewReviewIn,
    ReviewListOut,
    ReviewListQuery,
    ReviewOut,
)
from web.security import require_actor, services

bp = ApiBlueprint("monthly_api", __name__, tag="audit")


@bp.operation("POST", "/reviews", body=NewReviewIn, response=ReviewOut, status=201)
def record_review(body: NewReviewIn) -> Any:
    """Record a review of an officer video (OPS-6): supervisors of the officers they
    supervise, admins of anyone; audited ``review.record``."""
    return services().reviews.record(require_actor(), body.command())


@bp.operation("GET", "/reviews", query=ReviewListQuery, response=ReviewListOut)
def list_reviews(query: ReviewListQuery) -> Any:
    """Reviews, newest first: auditors and admins all, supervisors their officers'."""
    return {"items": services().reviews.list(require_actor(), query.command())}


@bp.operation(
    "GET",
    "/reports/monthly-audit",
    query=MonthlyAuditQuery,
    response=MonthlyAuditOut,
    responses={
        200: {
            "description": "``format=csv``: one number a row; ``format=pdf``: the report",
            "content": {
                **text("text/csv", "")["content"],
                **binary("application/pdf", "")["content"],
            },
        }
    },
)
def monthly_audit(query: MonthlyAuditQuery) -> Any:
    """The monthly audit of ``month`` (auditors, admins; the viewing audited): usage,
    storage, viewing, PTZ use, tagging failures (TAG-7) and supervisor reviews (OPS-6);
    ``format=csv`` or ``format=pdf`` for a file."""
    report = services().monthly_audit.report(require_actor(), query.month, output=query.format)
    name = f"monthly-audit-{report.month}"
    if query.format == "csv":
        return Response(
            to_csv(report),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if query.format == "pdf":
        return Response(
            to_pdf(report),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return report
