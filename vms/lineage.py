"""The copies made from an item (INV-2): exports, their packages and clips, redactions,
and copies of those. A copy shows its source's pictures, so a protection placed on the
source after the copy was made must reach the copy too (ACC-7, ACC-11).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vms.db.models import Export, MediaItem, MediaLink, SourceKind

# vms.media.probe.ZIP, named here without importing PyAV: the ingest path catalogues a
# ZIP for an export's package only (INV-1).
PACKAGE_TYPE = "application/zip"


@dataclass(frozen=True)
class PackageOf:
    """An item that is an export's package (the signed court ZIP): ``created_by`` made
    the export; None when no export names the item (its job still cataloguing, or its
    record gone): then no creator reads it, only who reaches every export."""

    created_by: str | None


def package_of(s: Session, item: MediaItem) -> PackageOf | None:
    """Whether ``item`` is an export's package, and whose (docs/design/exports.md,
    "Reading": its bytes go to its creator while they may export, or an admin, through
    whatever route serves them). None: it is not a package."""
    if item.source != SourceKind.EXPORT.value:
        return None
    creator = s.execute(
        select(Export.created_by).where(Export.package_media_id == item.id).limit(1)
    ).scalar()
    if creator is None and item.content_type != PACKAGE_TYPE:
        return None  # an export's clip: a copy of its sources' pictures (ACC-7, ACC-11)
    return PackageOf(creator)


def copies_of(s: Session, media_id: str, *, through_redacted: bool = True) -> list[MediaItem]:
    """Every item derived from ``media_id``, directly or through other copies (a
    ``media_links`` row or ``derived_from_id``), in the order found, without the item
    itself. ``through_redacted=False`` leaves out redacted derivatives and what was made
    from them: their pictures no longer show what the redaction covered (REL-3)."""
    found: dict[str, MediaItem] = {}
    todo = [media_id]
    while todo:
        source = todo.pop()
        linked = select(MediaLink.media_id).where(MediaLink.source_id == source)
        rows = s.execute(
            select(MediaItem)
            .where(or_(MediaItem.derived_from_id == source, MediaItem.id.in_(linked)))
            .order_by(MediaItem.id)
        ).scalars()
        for row in rows:
            if row.id == media_id or row.id in found:
                continue
            if not through_redacted and row.source == SourceKind.REDACTED:
                continue
            found[row.id] = row
            todo.append(row.id)
    return list(found.values())


def lock_with_copies(s: Session, media_id: str, *, through_redacted: bool = True) -> None:
    """Lock ``media_id`` and its copies (as :func:`copies_of` finds them) ``FOR UPDATE``,
    in id order, before a protection carried to the copies writes anything (PostgreSQL;
    SQLite's ``BEGIN IMMEDIATE`` already serialises writers). A release holds its items
    ``FOR SHARE`` in id order and then appends to the audit chain: a flag that took the
    original and the audit chain's head first, and only then a copy's row, deadlocked
    with it (REL-3, ACC-7, ACC-11). Objects already loaded in ``s`` are expired, so what
    is read next is what was locked."""
    if s.get_bind().dialect.name != "postgresql":
        return
    ids = [media_id, *(c.id for c in copies_of(s, media_id, through_redacted=through_redacted))]
    s.execute(
        select(MediaItem.id).where(MediaItem.id.in_(ids)).order_by(MediaItem.id).with_for_update()
    )
    s.expire_all()


def sources_of(s: Session, media_id: str) -> list[MediaItem]:
    """Every item ``media_id`` was made from, directly or through other copies (its
    ``derived_from_id`` and its ``media_links`` rows), without the item itself, in the
    order found: the originals whose pictures a copy shows (ACC-2: the officer's own
    review of a copy of a critical-incident recording needs the original's approval)."""
    found: dict[str, MediaItem] = {}
    todo = [media_id]
    while todo:
        copy = s.get(MediaItem, todo.pop())
        if copy is None:
            continue
        ids = set(
            s.execute(select(MediaLink.source_id).where(MediaLink.media_id == copy.id)).scalars()
        )
        if copy.derived_from_id is not None:
            ids.add(copy.derived_from_id)
        for source_id in sorted(ids):
            if source_id == media_id or source_id in found:
                continue
            row = s.get(MediaItem, source_id)
            if row is None:  # purged: its link stays as history
                continue
            found[row.id] = row
            todo.append(row.id)
    return list(found.values())
