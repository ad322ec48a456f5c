"""The PTZ-use report page for auditors (issue 4 item 7, PSCS-5): the report's table and
a timeline of sessions, drawn by ``static/ptz_report.js`` from
``GET /api/v1/audit/ptz/report``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from vms.auth.permissions import Action
from vms.errors import VMSError
from web.pages import page_error
from web.security import require_actor, services

bp = Blueprint("ptz_pages", __name__, template_folder="templates")
bp.register_error_handler(VMSError, page_error)


@bp.get("/audit/ptz")
def ptz_report() -> Any:
    actor = require_actor()
    services().authoriser.require(actor, Action.AUDIT_READ, "audit:ptz")
    return render_template("ptz_report.html")
