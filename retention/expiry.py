"""Expiry in the catalog: gather each item's facts, apply the pure rules, store the result.

``media_expiry`` (one narrow row per item: ``expires_at``, ``retention_rule``) is a cache
of :func:`decide_expiry` that the purge uses to find candidates and the catalog shows. It
is recomputed in the transaction of every change that can move it (ingest, tag change,
hold, case), and the purge never trusts it alone: it decides again from fresh facts
inside the transaction that writes its intent (INV-3, docs/design/retention.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    exists,
    func,
    select,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from retention.rules import Expiry, Hold, RetentionFacts, RetentionPolicy, decide_expiry
from vms.db.engine import Database
from vms.db.models import Case, CaseItem, MediaCategory, MediaExpiry, MediaHold, MediaItem

log = logging.getLogger(__name__)

OPEN = "open"

_expiry = cast(Table, MediaExpiry.__table__)
_SQLITE_UPSERT = sqlite.insert(_expiry)
UPSERT_EXPIRY = _SQLITE_UPSERT.on_conflict_do_update(
    index_elements=[_expiry.c.media_id],
    set_={
        "expires_at": _SQLITE_UPSERT.excluded.expires_at,
        "retention_rule": _SQLITE_UPSERT.excluded.retention_rule,
    },
)
# Items whose expiry was never computed (no media_expiry row).
NOT_COMPUTED = ~exists().where(MediaExpiry.media_id == MediaItem.id).correlate_except(MediaExpiry)


@dataclass(frozen=True)
class Row:
    """The columns of a media item the rules read."""

    id: str
    source: str
    recorded_start: dt.datetime
    evidence: bool
    case_number: str | None
    ingested_at: dt.datetime

    @classmethod
    def of(cls, r: Any) -> Row:
        """From a result row with these columns by name."""
        return cls(r.id, r.source, r.recorded_start, r.evidence, r.case_number, r.ingested_at)


def lock_rows(session: Session) -> bool:
    """Whether to take row locks (``SELECT ... FOR UPDATE``): PostgreSQL only; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers."""
    return session.get_bind().dialect.name == "postgresql"


class ExpiryService:
    """Computes and stores expiries with ``policy``."""

    def __init__(self, db: Database, policy: RetentionPolicy) -> None:
        self.db = db
        self.policy = policy

    # -- facts -----------------------------------------------------------------------

    def facts(
        self, session: Session, rows: Sequence[Row], *, id_range: tuple[str, str] | None = None
    ) -> dict[str, RetentionFacts]:
        """The facts of ``rows`` from three batched queries (categories, holds, cases).

        ``id_range`` (first, last id) says ``rows`` are every item in that id range: the
        queries then use the range instead of long ``IN`` lists (much cheaper).
        """
        if not rows:
            return {}
        ids = [r.id for r in rows]
        categories: dict[str, list[str]] = {}
        holds: dict[str, list[Hold]] = {}
        added: dict[str, list[str]] = {}  # cases the item was added to by hand (15.3)
        if id_range is not None:
            lo, hi = id_range
            cat_where = [MediaCategory.media_id.between(lo, hi)]
            hold_where = [MediaHold.media_id.between(lo, hi)]
            case_where = [CaseItem.media_id.between(lo, hi)]
            groups: list[tuple[list[Any], list[Any], list[Any]]] = [
                (cat_where, hold_where, case_where)
            ]
        else:
            groups = [
                (
                    [MediaCategory.media_id.in_(chunk)],
                    [MediaHold.media_id.in_(chunk)],
                    [CaseItem.media_id.in_(chunk)],
                )
                for chunk in _chunks(ids, 5000)
            ]
        for cat_where, hold_where, case_where in groups:
            for media_id, number in session.execute(
                select(CaseItem.media_id, CaseItem.case_number).where(*case_where)
            ):
                added.setdefault(media_id, []).append(number)
            for media_id, name in session.execute(
                select(MediaCategory.media_id, MediaCategory.category).where(*cat_where)
            ):
                categories.setdefault(media_id, []).append(name)
            for media_id, kind, label in session.execute(
                select(MediaHold.media_id, MediaHold.kind, MediaHold.label).where(
                    *hold_where, MediaHold.released_at.is_(None)
                )
            ):
                holds.setdefault(media_id, []).append(Hold(kind, label))
        cases = {r.case_number for r in rows if r.case_number}
        cases.update(n for numbers in added.values() for n in numbers)
        open_cases = self.open_cases(session, cases)
        return {
            r.id: RetentionFacts(
                source=r.source,
                recorded_start=r.recorded_start,
                categories=tuple(sorted(categories.get(r.id, ()))),
                evidence=r.evidence,
                open_case=_open_case(r.case_number, added.get(r.id, ()), open_cases),
                holds=tuple(holds.get(r.id, ())),
                ingested_at=r.ingested_at,
            )
            for r in rows
        }

    def open_cases(self, session: Session, numbers: Iterable[str]) -> set[str]:
        wanted = sorted(set(numbers))
        out: set[str] = set()
        for chunk in _chunks(wanted, 5000):
            out.update(
                session.execute(
                    select(Case.case_number).where(Case.case_number.in_(chunk), Case.state == OPEN)
                ).scalars()
            )
        return out

    def decide(
        self, session: Session, rows: Sequence[Row], *, id_range: tuple[str, str] | None = None
    ) -> dict[str, Expiry]:
        """Fresh decisions for ``rows`` (read in ``session``'s transaction)."""
        return {
            media_id: decide_expiry(f, self.policy)
            for media_id, f in self.facts(session, rows, id_range=id_range).items()
        }

    # -- one item (hooks) ------------------------------------------------------------

    def apply(self, session: Session, item: MediaItem) -> Expiry:
        """Recompute and set ``item``'s expiry in ``session`` (an ingest, tag, hold or
        case change); the caller's transaction commits it with the change.

        A stored item must have been loaded after its row was locked (PostgreSQL), as
        every writer of the facts does (``Catalog.update``, ``Holder``), and as the
        recompute does: a recompute that read the facts before the change then commits
        first, and this decision, from the changed facts and the fresh stored expiry, is
        the one that stays.
        """
        holds = [
            Hold(kind, label)
            for kind, label in session.execute(
                select(MediaHold.kind, MediaHold.label).where(
                    MediaHold.media_id == item.id, MediaHold.released_at.is_(None)
                )
            )
        ]
        # Its own case number (TAG-1) and the cases it was added to by hand (15.3).
        added = list(
            session.execute(
                select(CaseItem.case_number).where(CaseItem.media_id == item.id)
            ).scalars()
        )
        numbers = [item.case_number] if item.case_number else []
        open_case = _open_case(item.case_number, added, self.open_cases(session, numbers + added))
        facts = RetentionFacts(
            source=item.source,
            recorded_start=item.recorded_start,
            categories=tuple(sorted(c.category for c in item.categories)),
            evidence=item.evidence,
            open_case=open_case,
            holds=tuple(holds),
            ingested_at=item.ingested_at,
        )
        expiry = decide_expiry(facts, self.policy)
        stored = item.expiry
        if stored is None:
            item.expiry = MediaExpiry(expires_at=expiry.expires_at, retention_rule=expiry.rule)
        else:
            item.expiry = stored
            stored.expires_at = expiry.expires_at
            stored.retention_rule = expiry.rule
        return expiry

    def apply_ids(self, session: Session, ids: Iterable[str]) -> int:
        """Recompute the stored expiry of ``ids`` in ``session``; returns rows changed.

        Takes the rows' locks on PostgreSQL so a concurrent hold cannot be overwritten
        by a decision made from older facts.
        """
        changed = 0
        for chunk in _chunks(sorted(set(ids)), 5000):
            changed += self._apply_rows(session, [MediaItem.id.in_(chunk)])[2]
        return changed

    # -- everything ------------------------------------------------------------------

    def recompute_all(
        self,
        *,
        only_missing: bool = False,
        chunk_size: int = 10_000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Recompute every item's expiry (after a policy change), one transaction per
        ``chunk_size`` rows in id order; ``only_missing`` limits it to rows never
        computed (after the 0002 migration). Returns the number of rows changed.

        On PostgreSQL the id space is split in two halves recomputed by two workers at
        once: most of the cost is the server's, and the halves' rows are disjoint, so
        they do not wait for each other. SQLite serialises writers: one worker there.
        """
        workers = 2 if self.db.dialect == "postgresql" else 1
        bounds = self._split(workers, only_missing)
        if len(bounds) == 1:
            return self._recompute_range(bounds[0], only_missing, chunk_size, progress)
        results: list[int] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work(bound: tuple[str, str | None]) -> None:
            try:
                n = self._recompute_range(bound, only_missing, chunk_size, progress)
            except BaseException as exc:  # re-raised below, in the caller's thread
                with lock:
                    errors.append(exc)
                return
            with lock:
                results.append(n)

        threads = [
            threading.Thread(target=work, args=(b,), name=f"recompute-{i}")
            for i, b in enumerate(bounds)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return sum(results)

    def _split(self, parts: int, only_missing: bool) -> list[tuple[str, str | None]]:
        """``parts`` id ranges (after, up to and including) covering every row."""
        if parts <= 1:
            return [("", None)]
        with self.db.session() as s:
            stmt = select(MediaItem.id).order_by(MediaItem.id)
            if only_missing:
                stmt = stmt.where(NOT_COMPUTED)
            total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
            if total < 2 * 10_000:
                return [("", None)]
            cuts = [
                s.execute(stmt.offset(total * i // parts).limit(1)).scalar_one()
                for i in range(1, parts)
            ]
        edges = ["", *cuts]
        return [(edges[i], edges[i + 1] if i + 1 < len(edges) else None) for i in range(parts)]

    def _recompute_range(
        self,
        bound: tuple[str, str | None],
        only_missing: bool,
        chunk_size: int,
        progress: Callable[[int], None] | None,
    ) -> int:
        last, upto = bound
        changed = 0
        while True:
            with self.db.transaction() as s:
                criteria = [MediaItem.id > last]
                if upto is not None:
                    criteria.append(MediaItem.id <= upto)
                if only_missing:
                    criteria.append(NOT_COMPUTED)
                count, last_id, rows_changed = self._apply_rows(s, criteria, limit=chunk_size)
                if not count:
                    return changed
                changed += rows_changed
                last = last_id
            if progress is not None:
                progress(count)

    def _apply_rows(
        self, session: Session, criteria: list[ColumnElement[bool]], *, limit: int | None = None
    ) -> tuple[int, str, int]:
        """Decide again for the rows matching ``criteria`` (in id order, at most
        ``limit``); returns (rows, last id, rows changed)."""
        stmt = (
            select(
                MediaItem.id,
                MediaItem.source,
                MediaItem.recorded_start,
                MediaItem.evidence,
                MediaItem.case_number,
                MediaItem.ingested_at,
                MediaExpiry.expires_at,
                MediaExpiry.retention_rule,
            )
            .outerjoin(MediaExpiry, MediaExpiry.media_id == MediaItem.id)
            .where(*criteria)
            .order_by(MediaItem.id)
            .limit(limit)
        )
        if lock_rows(session):
            # The item rows, as every writer of the facts locks them (holds, cases).
            stmt = stmt.with_for_update(of=MediaItem)
        raw = session.execute(stmt).all()
        if not raw:
            return 0, "", 0
        rows = [Row(r[0], r[1], r[2], r[3], r[4], r[5]) for r in raw]
        current = {r[0]: (r[6], r[7]) for r in raw}
        # Rows come in id order: for a scan (limit given) they are every row of their id
        # range that matches, so the fact queries can use the range.
        id_range = (raw[0][0], raw[-1][0]) if limit is not None else None
        decisions = self.decide(session, rows, id_range=id_range)
        updates = [
            {"b_id": media_id, "b_expires": e.expires_at, "b_rule": e.rule}
            for media_id, e in decisions.items()
            if current[media_id] != (e.expires_at, e.rule)
        ]
        if updates:
            write_expiries(session, updates)
        return len(raw), raw[-1][0], len(updates)


# PostgreSQL: one statement per chunk, the values as three arrays (an executemany costs
# a round trip per row; a VALUES list costs SQLAlchemy a bind parameter per value). Each
# array travels as one string split on the server: adapting Python lists of 10,000
# values cost the client more than the server's update (profiled).
_SEP = "\x1f"  # ASCII unit separator: in no id, time or rule text
_PG_UPSERT = (
    "INSERT INTO media_expiry AS m (media_id, expires_at, retention_rule) "
    "SELECT * FROM unnest(string_to_array(%(ids)s, %(sep)s), "
    "string_to_array(%(exps)s, %(sep)s, '')::timestamptz[], "
    "string_to_array(%(rules)s, %(sep)s)) "
    "ON CONFLICT (media_id) DO UPDATE "
    "SET expires_at = excluded.expires_at, retention_rule = excluded.retention_rule"
)


def write_expiries(session: Session, updates: list[dict[str, Any]]) -> None:
    """Store ``[{b_id, b_expires, b_rule}]`` (aware UTC times, INV-7), inserting the
    rows of items never computed."""
    if session.get_bind().dialect.name != "postgresql":
        session.connection().execute(
            UPSERT_EXPIRY,
            [
                {"media_id": u["b_id"], "expires_at": u["b_expires"], "retention_rule": u["b_rule"]}
                for u in updates
            ],
        )
        return
    for i in range(0, len(updates), 10_000):
        part = updates[i : i + 10_000]
        session.connection().exec_driver_sql(
            _PG_UPSERT,
            {
                "sep": _SEP,
                "ids": _SEP.join(u["b_id"] for u in part),
                # '' stands for NULL (no expiry: held, RET-2/RET-10).
                "exps": _SEP.join(
                    u["b_expires"].isoformat() if u["b_expires"] is not None else "" for u in part
                ),
                "rules": _SEP.join(u["b_rule"] for u in part),
            },
        )


def _open_case(tag: str | None, added: Iterable[str], open_cases: set[str]) -> str | None:
    """The open case keeping an item (RET-5): its own case number first, then the
    cases it was added to by hand (issue 15.3), in number order."""
    if tag is not None and tag in open_cases:
        return tag
    return next((n for n in sorted(added) if n in open_cases), None)


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]
