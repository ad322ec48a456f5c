"""Access-rule API (issue 14.4): the critical-incident flag and review approvals
(ACC-2), review grants (ACC-3). ACC-4's ``purpose`` is a parameter of the content routes."""

from __future__ import annotations

from vms.access import Approval, Grant
from vms.catalog_values import MediaRecord
from web.contract import ApiBlueprint
from web.schemas.access import (
    ApprovalIn,
    ApprovalOut,
    CriticalIncidentIn,
    GrantIn,
    GrantListOut,
    GrantOut,
    GrantQuery,
    RevokeIn,
)
from web.schemas.media import MediaOut
from web.security import require_actor, services

bp = ApiBlueprint("access_api", __name__, tag="access")


@bp.operation(
    "PUT", "/media/<media_id>/critical-incident", body=CriticalIncidentIn, response=MediaOut
)
def set_critical_incident(media_id: str, body: CriticalIncidentIn) -> MediaRecord:
    """Flag an item as recorded at an incident with death or serious bodily injury, or
    clear the flag (ACC-2).

    Admins, investigators and the recording officer's supervisor; never the recording
    officer. While set, the officer's own review needs a recorded written approval.
    Audited with the reason; 409 when the item is already in that state, but to a retry
    with the first request's ``request_id`` and reason: answered with the item (ACC-6)."""
    return services().catalog.set_critical_incident(require_actor(), media_id, body.command())


@bp.operation(
    "POST", "/media/<media_id>/review-approvals", body=ApprovalIn, response=ApprovalOut, status=201
)
def approve_review(media_id: str, body: ApprovalIn) -> Approval:
    """Record the written approval for the recording officer to review a critical item
    (ACC-2).

    Admins or the officer's supervisor; the officer is the user whose badge recorded
    the item. Audited."""
    return services().review_access.approve(require_actor(), media_id, body.command())


@bp.operation("POST", "/review-grants", body=GrantIn, response=GrantOut, status=201)
def create_grant(body: GrantIn) -> Grant:
    """Grant an officer under investigation review of the items that capture them,
    other officers' included, for a time (ACC-3; admins only; audited).

    Each use is audited as a view with the grant's id."""
    return services().review_access.grant(require_actor(), body.command())


@bp.operation("GET", "/review-grants", query=GrantQuery, response=GrantListOut)
def list_grants(query: GrantQuery) -> dict[str, object]:
    """Review grants, newest first, optionally of one officer (admins, auditors)."""
    return {"grants": services().review_access.grants(require_actor(), query.officer)}


@bp.operation("POST", "/review-grants/<grant_id>/revoke", body=RevokeIn, response=GrantOut)
def revoke_grant(grant_id: str, body: RevokeIn) -> Grant:
    """End a review grant now, with the reason (ACC-3; admins only; audited); 409 when
    revoked already, but to a retry with the first request's ``request_id`` and reason:
    answered with the grant (ACC-6)."""
    actor = require_actor()
    return services().review_access.revoke(actor, grant_id, body.reason, body.request_id)
