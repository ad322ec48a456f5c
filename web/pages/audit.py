"""Audit pages for auditors (ACC-6, PSCS-5): the audit log (``/audit``, read through
:class:`~vms.audit.view.AuditViewService`) and the PTZ-use report (``/audit/ptz``, issue
4 item 7: the report's table and a timeline of sessions, drawn by
``static/ptz_report.js`` from ``GET /api/v1/audit/ptz/report``) and the monthly audit
(``/audit/monthly``, issue 14 item 3: tables and server-rendered SVG charts)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import render_template, request

from vms.auth.permissions import Action
from vms.errors import InvalidArgument
from web.contract import parse_model, query_data
from web.pages.blueprint import page_blueprint
from web.pages.charts import bar_chart
from web.schemas.audit import AuditQueryIn, entry_view
from web.security import require_actor, services

bp = page_blueprint("audit_pages", __name__)

AUDIT_PAGE = 100


@bp.get("/audit")
def audit() -> Any:
    actor = require_actor()
    view = services().audit_view
    view.authorise(actor)  # a refusal outranks a bad filter
    entries: list[dict[str, Any]] = []
    next_before = None
    error = None
    try:
        # The page size is the page's own; a before_seq of 0 is the first page.
        args = {k: v for k, v in query_data().items() if k != "limit"}
        query = parse_model(AuditQueryIn, args).command()
        query = dataclasses.replace(query, before_seq=query.before_seq or None, limit=AUDIT_PAGE)
        page = view.search(actor, query)  # an inverted window is refused there (PSCS-5)
    except InvalidArgument as exc:
        error = exc.message
    else:
        entries = [entry_view(e) for e in page.entries]
        next_before = page.next_before_seq
    html = render_template(
        "audit.html", entries=entries, args=request.args, next_before=next_before, error=error
    )
    return html, 400 if error else 200


@bp.get("/audit/ptz")
def ptz_report() -> Any:
    actor = require_actor()
    services().authoriser.require(actor, Action.AUDIT_READ, "audit:ptz")
    return render_template("ptz_report.html")


@bp.get("/audit/monthly")
def monthly_audit() -> Any:
    """The monthly audit (OPS-6, OPS-7, TAG-7) with server-rendered SVG charts; the
    month defaults to the previous one."""
    actor = require_actor()
    s = services()
    s.authoriser.require(actor, Action.AUDIT_READ, "reports:monthly-audit")
    month = request.args.get("month") or previous_month(s.clock.now(), s.config.zone)
    try:
        report = s.monthly_audit.report(actor, month, output="html")
    except InvalidArgument as exc:
        html = render_template("audit_monthly.html", report=None, month=month, error=exc.message)
        return html, 400
    charts = {
        "usage": bar_chart("Usage per user", [(u.user, u.total) for u in report.usage]),
        "storage": bar_chart(
            "Stored at month end by source (MB)",
            [(st.source, round(st.bytes / 1e6, 1)) for st in report.storage],
            unit=" MB",
        ),
        "reviews": bar_chart(
            "Reviews per officer",
            [(c.officer_badge, c.reviews) for c in report.reviews],
            mark=report.reviews_required,
        ),
    }
    return render_template(
        "audit_monthly.html", report=report, month=report.month, charts=charts, error=None
    )


def previous_month(now: dt.datetime, zone: dt.tzinfo = dt.UTC) -> str:
    """The month before ``now``'s on the agency's calendar (``zone``)."""
    first = now.astimezone(zone).replace(day=1)
    last = first - dt.timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"
