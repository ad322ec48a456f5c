"""Placing and lifting holds on media items, shared by preservation requests, legal holds
and cases (RET-2, RET-5, RET-10; INV-3).

A hold always takes the item's row lock first (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite serialises writers with ``BEGIN IMMEDIATE``). The purge takes the same lock to
decide (intent) and again to unlink, so a hold and a purge of one item are ordered:

- the hold commits first: the purge's fresh decision sees it and skips the item;
- the purge wrote its intent first and the file is still there: the hold cancels the
  intent (the hold wins, INV-3) and the item stays;
- the purge already unlinked the file (a crash between unlink and commit): the item is
  reported as already purged, never as pinned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from retention.expiry import ExpiryService, lock_rows
from vms.db.models import DestructionRecord, MediaHold, MediaItem, PurgeIntent
from vms.store import MediaStore

# One PostgreSQL advisory lock serialises "which requests cover this new item?" (the
# ingest hook) with "which items does this new request cover?" (request creation):
# without it, each transaction could miss the other's uncommitted row (write skew) and
# a BWC video uploaded while a request is being logged would escape the request.
SCOPE_LOCK_KEY = 0x7265_7465_6E74  # "retent"


def serialise_scopes(session: Session) -> None:
    """Take the scope lock for the rest of the transaction (PostgreSQL; SQLite needs
    nothing: its writers are already serial)."""
    if lock_rows(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCOPE_LOCK_KEY})


@dataclass(frozen=True)
class Window:
    """One part of a request's scope: a device or an officer over [start, end)."""

    start: dt.datetime
    end: dt.datetime
    device_id: str | None = None
    officer_badge: str | None = None


@dataclass
class PinOutcome:
    pinned: list[str] = field(default_factory=list)
    # Items whose purge intent this hold cancelled (the hold won the race, INV-3).
    rescued: list[str] = field(default_factory=list)
    # Items the purge had already unlinked when the hold arrived (destruction pending).
    purging: list[str] = field(default_factory=list)


def overlaps(window: Window) -> object:
    """SQL condition: the item's recorded interval meets ``window``."""
    end = func.coalesce(MediaItem.recorded_end, MediaItem.recorded_start)
    who = (
        MediaItem.device_id == window.device_id
        if window.device_id is not None
        else MediaItem.officer_badge == window.officer_badge
    )
    return and_(who, MediaItem.recorded_start < window.end, end >= window.start)


def items_in(session: Session, windows: Sequence[Window]) -> list[str]:
    """Ids of catalogued items that fall in any of ``windows``."""
    if not windows:
        return []
    stmt = select(MediaItem.id).where(or_(*[overlaps(w) for w in windows]))  # type: ignore[arg-type]
    return list(session.execute(stmt.order_by(MediaItem.id)).scalars())


def destroyed_in(
    session: Session, windows: Sequence[Window], media_ids: Iterable[str] = ()
) -> list[DestructionRecord]:
    """Destruction records of items that fell in ``windows`` or had ``media_ids``."""
    conditions = []
    for w in windows:
        end = func.coalesce(DestructionRecord.recorded_end, DestructionRecord.recorded_start)
        who = (
            DestructionRecord.device_id == w.device_id
            if w.device_id is not None
            else DestructionRecord.officer_badge == w.officer_badge
        )
        conditions.append(and_(who, DestructionRecord.recorded_start < w.end, end >= w.start))
    ids = sorted(set(media_ids))
    if ids:
        conditions.append(DestructionRecord.media_id.in_(ids))
    if not conditions:
        return []
    return list(
        session.execute(
            select(DestructionRecord).where(or_(*conditions)).order_by(DestructionRecord.id)
        ).scalars()
    )


class Holder:
    """Pins and unpins items, recomputing their expiry in the same transaction."""

    def __init__(self, store: MediaStore, expiry: ExpiryService) -> None:
        self.store = store
        self.expiry = expiry

    def pin(
        self,
        session: Session,
        media_ids: Sequence[str],
        *,
        kind: str,
        hold_id: str,
        label: str,
        now: dt.datetime,
        mark_evidence: bool,
    ) -> PinOutcome:
        """Hold ``media_ids`` (those still catalogued) by ``kind``/``hold_id``.

        ``mark_evidence``: preservation requests make pinned footage evidence (RET-2).
        """
        outcome = PinOutcome()
        ids = sorted(set(media_ids))
        if not ids:
            return outcome
        items = self._lock(session, ids)
        intents = {
            i.media_id: i
            for i in session.execute(
                select(PurgeIntent).where(PurgeIntent.media_id.in_(list(items)))
            ).scalars()
        }
        existing = set(
            session.execute(
                select(MediaHold.media_id).where(
                    MediaHold.media_id.in_(list(items)),
                    MediaHold.kind == kind,
                    MediaHold.hold_id == hold_id,
                )
            ).scalars()
        )
        for media_id, item in items.items():
            intent = intents.get(media_id)
            if intent is not None:
                if not self.store.exists(item.sha256):
                    outcome.purging.append(media_id)
                    continue
                # INV-3: the purge decided, but has not unlinked yet: the hold wins.
                session.execute(delete(PurgeIntent).where(PurgeIntent.media_id == media_id))
                outcome.rescued.append(media_id)
            if media_id not in existing:
                session.add(
                    MediaHold(
                        media_id=media_id,
                        kind=kind,
                        hold_id=hold_id,
                        label=label,
                        created_at=now,
                        released_at=None,
                    )
                )
            if mark_evidence:
                item.evidence = True  # RET-2: pinned footage is evidence
            outcome.pinned.append(media_id)
        session.flush()
        for media_id in outcome.pinned:
            self.expiry.apply(session, items[media_id])
        return outcome

    def keep_as_evidence(self, session: Session, media_ids: Sequence[str]) -> None:
        """Mark ``media_ids`` as evidence without holding them (RET-7: at least the
        evidence retention) and recompute their expiry."""
        items = self._lock(session, sorted(set(media_ids)))
        for item in items.values():
            item.evidence = True
            self.expiry.apply(session, item)

    def release(self, session: Session, *, kind: str, hold_id: str, now: dt.datetime) -> list[str]:
        """End every link of this hold and recompute the items' expiry; returns their ids."""
        ids = list(
            session.execute(
                select(MediaHold.media_id).where(
                    MediaHold.kind == kind,
                    MediaHold.hold_id == hold_id,
                    MediaHold.released_at.is_(None),
                )
            ).scalars()
        )
        items = self._lock(session, ids)
        session.execute(
            update(MediaHold)
            .where(
                MediaHold.kind == kind,
                MediaHold.hold_id == hold_id,
                MediaHold.released_at.is_(None),
            )
            .values(released_at=now)
        )
        for item in items.values():
            self.expiry.apply(session, item)
        return sorted(items)

    def lock(self, session: Session, media_ids: Sequence[str]) -> None:
        """Lock the rows of ``media_ids`` (those still catalogued) ``FOR UPDATE`` in id
        order, as :meth:`pin` does, ahead of it: before the user's row (a repeat check),
        as item 6 of docs/design/authorisation.md orders them."""
        self._lock(session, sorted(set(media_ids)))

    def _lock(self, session: Session, ids: Sequence[str]) -> dict[str, MediaItem]:
        out: dict[str, MediaItem] = {}
        for i in range(0, len(ids), 1000):
            # Locks in id order (no deadlock between two holds); fresh values after the wait.
            stmt = (
                select(MediaItem)
                .where(MediaItem.id.in_(ids[i : i + 1000]))
                .order_by(MediaItem.id)
                .execution_options(populate_existing=True)
            )
            if lock_rows(session):
                stmt = stmt.with_for_update(of=MediaItem)
            out.update({item.id: item for item in session.execute(stmt).scalars()})
        return dict(sorted(out.items()))
