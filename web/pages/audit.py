"""Audit pages for auditors (ACC-6, PSCS-5): the audit log (``/audit``, read through
:class:`~vms.audit.view.AuditViewService`) and the PTZ-use report (``/audit/ptz``, issue
4 item 7: the report's table and a timeline of sessions, drawn by
``static/ptz_report.js`` from ``GET /api/v1/audit/ptz/report``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import render_template, request

from vms.auth.permissions import Action
from vms.errors import InvalidArgument
from web.contract import parse_model, query_data
from web.pages.blueprint import page_blueprint
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
    except InvalidArgument as exc:
        error = exc.message
    else:
        page = view.search(actor, query)
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
