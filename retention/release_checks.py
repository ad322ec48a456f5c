"""The rules of release requests and share links that both read (docs/design/releases.md):
states and kinds, the privacy-sensitive (REL-3, ACC-11) and restricted (ACC-7) checks of
the served items, a share link's token hash. Used by :mod:`retention.releases` (the
workflow), :mod:`retention.release_shares` (making links), :mod:`retention.release_log`
(the log) and :mod:`retention.share_links`.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from vms.bounded import shown
from vms.db.models import Export, MediaItem, MediaLink, ReleaseItem, SourceKind
from vms.errors import InvalidArgument

KINDS: tuple[str, ...] = ("foia", "agency", "court_order", "media", "internal_affairs")
RECEIVED, IN_REVIEW, APPROVED, DENIED, RELEASED = (
    "received",
    "in_review",
    "approved",
    "denied",
    "released",
)
OPEN_STATES = (RECEIVED, IN_REVIEW, APPROVED)
SHAREABLE = (APPROVED, RELEASED)
NEEDS_DOCUMENT = {
    "agency": "an agency release needs the written request document (document_media_id, ACC-9)",
    "court_order": "a court-order release needs the order document (document_media_id, ACC-9)",
}
MAX_ITEMS = 100
NO_LINK = "no such link"  # the one answer for every unusable token

# The log page's later pages: far beyond any agency's requests; keeps the number sane.
MAX_LOG_OFFSET = 1_000_000


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def required_text(name: str, value: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidArgument(f"{name} is required", field=name)
    if len(text) > limit or not text.isprintable():
        raise InvalidArgument(
            f"{name}: {shown(value)} must be at most {limit} printable characters", field=name
        )
    return text


def sensitive_items(s: Session, media_ids: list[str]) -> list[str]:
    """The privacy-sensitive, unredacted items among ``media_ids`` and the items they
    were made from (an export package links to its sources, INV-2). A ``redacted``
    item is the redacted derivative REL-3 asks for, whatever its source's flag."""
    found: list[str] = []
    seen: set[str] = set()
    todo = list(media_ids)
    while todo:
        media_id = todo.pop()
        if media_id in seen:
            continue
        seen.add(media_id)
        item = s.get(MediaItem, media_id)
        if item is None or item.source == SourceKind.REDACTED:
            continue
        if item.privacy_sensitive:
            found.append(media_id)
        if item.source == SourceKind.EXPORT:
            todo += s.execute(
                select(MediaLink.source_id).where(MediaLink.media_id == media_id)
            ).scalars()
            if item.derived_from_id:
                todo.append(item.derived_from_id)
    return sorted(found)


def restricted_since_approval(s: Session, release_id: str) -> list[str]:
    """The served items of an approved request that are restricted now but were not at
    the approval (ACC-7): the approval did not cover an item only administration may
    view, so it is released and shared no more. An item an admin logged restricted, and
    that was approved so, stays covered."""
    return sorted(
        s.execute(
            select(ReleaseItem.media_id)
            .join(MediaItem, MediaItem.id == ReleaseItem.media_id)
            .where(
                ReleaseItem.release_id == release_id,
                ReleaseItem.restricted_at_approval.is_(False),
                MediaItem.restricted.is_(True),
            )
        ).scalars()
    )


def restricted_since_reason(items: list[str]) -> str:
    return (
        f"items {', '.join(items)} were restricted after the approval: only administration "
        "may view them, and the approval did not cover them (ACC-7)"
    )


def resolve_item(s: Session, ref: str) -> tuple[str | None, str]:
    """An export id -> (export id, its package item); a media id -> (None, it)."""
    export = s.get(Export, ref)
    if export is not None:
        if export.state != "done" or not export.package_media_id:
            raise InvalidArgument(
                f"items: export {shown(ref)} has no package (it is {export.state})",
                field="items",
            )
        if s.get(MediaItem, export.package_media_id) is None:
            raise InvalidArgument(
                f"items: the package of export {shown(ref)} is no longer in the catalog",
                field="items",
            )
        return ref, export.package_media_id
    if s.get(MediaItem, ref) is None:
        raise InvalidArgument(f"items: no export or media item {shown(ref)}", field="items")
    return None, ref
