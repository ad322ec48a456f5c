"""``GET /api/v1/audit``: the audit log for auditors (ACC-6, PSCS-5), read through
:class:`~vms.audit.view.AuditViewService`; the query and the JSON are the models of
``web/schemas/audit.py`` (also used by the audit page)."""

from __future__ import annotations

from typing import Any

from vms.audit.view import AuditPage
from web.contract import ApiBlueprint
from web.schemas.audit import AuditPageOut, AuditQueryIn
from web.security import require_actor, services

bp = ApiBlueprint("audit_api", __name__, tag="audit")


def _may_read() -> Any:
    """A refusal outranks a bad filter: checked before the query is parsed."""
    services().audit_view.authorise(require_actor())


@bp.operation("GET", "/audit", query=AuditQueryIn, response=AuditPageOut, before=_may_read)
def audit_log(query: AuditQueryIn) -> dict[str, Any]:
    """Read the audit log, newest first (auditors; the reading is audited).

    A full page carries ``next_before_seq`` to continue backwards."""
    page: AuditPage = services().audit_view.search(require_actor(), query.command())
    return {"items": page.entries, "next_before_seq": page.next_before_seq}
