"""The release API (``/api/v1/releases``, issue 16 items 5 and 6; docs/design/
releases.md): log a request, read the log (open first, overdue first, REL-1), review,
approve or deny it (ACC-5), release it, and share it with outsiders through links
(``/s/<token>``, served by ``web.pages.releases``)."""

from __future__ import annotations

from typing import Any

from flask import request

from retention.plugin import get
from retention.release_shares import ReleaseShares
from retention.releases import (
    PrivacyFlag,
    ReleaseListing,
    ReleaseRecord,
    ReleaseService,
    ShareRecord,
)
from web.contract import ApiBlueprint, RequestIdIn
from web.schemas.releases import (
    DecisionIn,
    NewReleaseIn,
    NewShareIn,
    PrivacyIn,
    PrivacyOut,
    ReleaseListOut,
    ReleaseLogQuery,
    ReleaseOut,
    SharedOut,
    ShareOut,
)
from web.security import require_actor, services

bp = ApiBlueprint("releases_api", __name__, tag="releases")


def releases() -> ReleaseService:
    return get(services()).releases


def release_shares() -> ReleaseShares:
    return get(services()).release_shares


def share_url(token: str) -> str:
    return f"{request.host_url.rstrip('/')}/s/{token}"


@bp.operation("POST", "/releases", body=NewReleaseIn, response=ReleaseOut, status=201)
def create_release(body: NewReleaseIn) -> ReleaseRecord:
    """Log a release request (records commanders, admins: ``releases.manage``).

    400 naming the field: an agency request without its written request or a court order
    without the order (ACC-9), an unknown item or an export without a package. 403
    (audited): a privacy-sensitive item that is not a redacted derivative, unless the
    request is a court order (REL-3, ACC-11). A FOIA request without ``due_at`` is due
    ``[releases] foia_due_days`` after receipt (REL-1)."""
    return releases().create(require_actor(), body.command())


@bp.operation("GET", "/releases", query=ReleaseLogQuery, response=ReleaseListOut)
def list_releases(query: ReleaseLogQuery) -> ReleaseListing:
    """The release log: open requests first, overdue first, then by due date (REL-1)."""
    return releases().log(require_actor(), state=query.state, limit=query.limit)


@bp.operation("GET", "/releases/<release_id>", response=ReleaseOut)
def get_release(release_id: str) -> ReleaseRecord:
    """One release request with its items, decision and share links."""
    return releases().get(require_actor(), release_id)


@bp.operation(
    "POST",
    "/releases/<release_id>/review",
    body=RequestIdIn,
    body_required=False,
    response=ReleaseOut,
)
def review_release(release_id: str, body: RequestIdIn) -> ReleaseRecord:
    """``received -> in_review`` (``releases.manage``); 409 when it is not received, but
    to a retry with the first request's ``request_id``: answered with the request
    (ACC-6)."""
    return releases().review(require_actor(), release_id, body.request_id)


@bp.operation("POST", "/releases/<release_id>/approve", body=DecisionIn, response=ReleaseOut)
def approve_release(release_id: str, body: DecisionIn) -> ReleaseRecord:
    """Approve with a reason (``releases.approve``: release approvers, admins; ACC-5).

    403 (audited) for one's own request unless ``[releases] allow_self_approval``; 409
    once decided, but to a retry with the first request's ``request_id`` and reason:
    answered with the request (ACC-6)."""
    return releases().approve(require_actor(), release_id, body.command())


@bp.operation("POST", "/releases/<release_id>/deny", body=DecisionIn, response=ReleaseOut)
def deny_release(release_id: str, body: DecisionIn) -> ReleaseRecord:
    """Deny with a reason (``releases.approve``; ACC-5); a retry as for approve."""
    return releases().deny(require_actor(), release_id, body.command())


@bp.operation(
    "POST",
    "/releases/<release_id>/release",
    body=RequestIdIn,
    body_required=False,
    response=ReleaseOut,
)
def release_release(release_id: str, body: RequestIdIn) -> ReleaseRecord:
    """``approved -> released``: a custody event on every item; an internal-affairs
    release is recorded as a secondary copy (REL-4). 409 (audited) before approval or
    once released, but to a retry with the first request's ``request_id``: answered
    with the request (ACC-6)."""
    return releases().release(require_actor(), release_id, body.request_id)


@bp.operation(
    "POST", "/releases/<release_id>/share", body=NewShareIn, response=SharedOut, status=201
)
def share_release(release_id: str, body: NewShareIn) -> dict[str, Any]:
    """A link for outsiders (no account): ``GET /s/{token}`` lists the files, ``GET
    /s/{token}/package`` (the first) or ``/s/{token}/package/{n}`` downloads them.
    Only for approved or released requests (409, audited, otherwise)."""
    shared = release_shares().share(require_actor(), release_id, body.command())
    return {
        "id": shared.link.id,
        "url": share_url(shared.token),
        "token": shared.token,
        "expires_at": shared.link.expires_at,
        "max_downloads": shared.link.max_downloads,
    }


@bp.operation("DELETE", "/releases/<release_id>/share/<link_id>", response=ShareOut)
def revoke_share(release_id: str, link_id: str) -> ShareRecord:
    """Revoke a share link: its token answers 404 from now on."""
    return release_shares().revoke(require_actor(), release_id, link_id)


@bp.operation("PUT", "/media/<media_id>/privacy", body=PrivacyIn, response=PrivacyOut)
def set_privacy(media_id: str, body: PrivacyIn) -> PrivacyFlag:
    """Flag an item privacy-sensitive (ACC-11; whoever may edit the item) or clear the
    flag (``releases.approve``). A flagged item is released only as a redacted derivative
    unless a court order requires it (REL-3). Audited ``media.privacy``, custody event
    ``privacy_flag``."""
    return releases().set_privacy(require_actor(), media_id, body.command())
