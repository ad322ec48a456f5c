"""``GET /api/v1/audit``: the audit log for auditors (ACC-6, PSCS-5)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from vms.audit.log import AuditQuery, entry_json, search
from vms.auth.permissions import Action
from vms.errors import InvalidArgument
from web.api import int_arg, time_arg
from web.security import require_actor, services

bp = Blueprint("audit_api", __name__)


@bp.get("/audit")
def audit_log() -> Any:
    actor = require_actor()
    svc = services()
    svc.authoriser.require(actor, Action.AUDIT_READ, "audit")
    limit = int_arg("limit", 100)
    if not 1 <= limit <= 1000:
        raise InvalidArgument(f"limit must be 1..1000, not {limit}")
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
    with svc.db.session() as s:
        entries = search(s, query)
        items = [entry_json(e) for e in entries]
    next_before = items[-1]["seq"] if len(items) == limit else None
    return jsonify({"items": items, "next_before_seq": next_before})
