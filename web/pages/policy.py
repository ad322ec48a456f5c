"""The policy conformance page (``/policy``, issue 14 item 7): every rule ID of
POLICY.md with its status, the settings in force, and the code and tests citing it, as
``vms policy report`` prints it (vms/policy/conformance.py). Admins and auditors
(``audit.read``); a refusal is audited by the authoriser."""

from __future__ import annotations

from typing import Any

from flask import render_template

from vms.auth.permissions import Action
from vms.policy.conformance import build_report
from vms.policy.presets import load_preset
from web.pages.blueprint import page_blueprint
from web.security import require_actor, services

bp = page_blueprint("policy_pages", __name__)

STATUS_TEXT = {
    "enforced": "enforced",
    "configured": "configured",
    "manual": "manual",
    "not_applicable": "not applicable",
}


@bp.get("/policy")
def policy() -> Any:
    actor = require_actor()
    svc = services()
    svc.authoriser.require(actor, Action.AUDIT_READ, "policy:report")
    report = build_report(svc.config, rescan=False)
    preset = load_preset(report.preset) if report.preset else None
    return render_template("policy.html", report=report, preset=preset, status_text=STATUS_TEXT)
