"""``GET /api/v1/audit``: the audit log for auditors (ACC-6, PSCS-5), read through
:class:`~vms.audit.view.AuditViewService`; this module parses the query and writes the
JSON (``entry_json``, also used by the audit page)."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, jsonify, request

from vms.audit.view import AuditQuery, AuditRecord, check_limit
from vms.clock import isoformat
from web.api import int_arg, time_arg
from web.security import require_actor, services

bp = Blueprint("audit_api", __name__)


def entry_json(entry: AuditRecord) -> dict[str, Any]:
    """The entry's fields in their order, the time as ISO 8601 UTC."""
    return {**dataclasses.asdict(entry), "at": isoformat(entry.at)}


@bp.get("/audit")
def audit_log() -> Any:
    actor = require_actor()
    view = services().audit_view
    view.authorise(actor)  # a refusal outranks a bad filter
    limit = int_arg("limit", 100)
    check_limit(limit)
    before = request.args.get("before_seq")
    query = AuditQuery(
        action=request.args.get("action") or None,
        actor=request.args.get("actor") or None,
        target=request.args.get("target") or None,
        start=time_arg("start"),
        end=time_arg("end"),
        before_seq=int_arg("before_seq", 0) if before else None,
        limit=limit,
    )
    page = view.search(actor, query)
    return jsonify(
        {"items": [entry_json(e) for e in page.entries], "next_before_seq": page.next_before_seq}
    )
