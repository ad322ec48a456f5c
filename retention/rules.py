"""Retention decisions: how long one media item is kept, and why (pure, no I/O).

Every rule that applies to an item proposes a date until which it must be kept, or
"while held" (no date); the longest wins (RET-12) and names itself, so the catalog can
say which rule decided (``GET /api/v1/media/{id}``). The rules, in the order that breaks
ties:

- RET-10 a legal hold, RET-2 a preservation request, RET-5 an open case: kept while
  active (no expiry);
- RET-1 / RET-4 the source default (fixed 30 days, BWC/dash/handheld 90), counted from
  the recorded start for the recorder's own fixed segments, and from the later of the
  recorded start and the ingest time for everything else (see :func:`counted_from`);
- TAG-4 each category's retention, TAG-6 evidence categories default to the evidence
  retention;
- RET-7 the evidence flag: at least the evidence retention (4 years by default).

Derived items (exports, redactions: court copies, REL-2) have no source default and
keep the evidence retention. Times are aware UTC values handed in by the caller (INV-7).
See docs/design/retention.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vms.categories import Category

PRESERVATION = "preservation"
LEGAL = "legal"


@dataclass(frozen=True)
class RetentionPolicy:
    """The configured periods. ``source_days`` maps a source kind to days (RET-1, RET-4);
    ``categories`` maps a casefolded category name to its :class:`Category` (TAG-4)."""

    source_days: Mapping[str, int]
    evidence_days: int
    categories: Mapping[str, Category] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        fixed_days: int = 30,
        bwc_days: int = 90,
        dash_days: int = 90,
        handheld_days: int = 90,
        evidence_days: int = 1461,
        categories: Iterable[Category] = (),
    ) -> RetentionPolicy:
        """A policy from the ``[retention]`` settings (defaults as in POLICY.md)."""
        return cls(
            source_days={
                "fixed": fixed_days,
                "bwc": bwc_days,
                "dash": dash_days,
                "handheld": handheld_days,
            },
            evidence_days=evidence_days,
            categories={c.name.casefold(): c for c in categories},
        )


@dataclass(frozen=True)
class Hold:
    """An active hold on an item: ``kind`` is ``preservation`` or ``legal``; ``label``
    names it for people (the request number, the hold reference)."""

    kind: str
    label: str


@dataclass(frozen=True)
class RetentionFacts:
    """What the rules need to know about one item."""

    source: str
    recorded_start: dt.datetime
    categories: tuple[str, ...] = ()
    evidence: bool = False
    open_case: str | None = None  # the case number, when that case is open (RET-5)
    holds: tuple[Hold, ...] = ()
    # When the item entered the catalog; None only for facts made without a row (tests of
    # the rules), when the recorded start alone counts.
    ingested_at: dt.datetime | None = None


@dataclass(frozen=True)
class Expiry:
    """The decision: purge after ``expires_at`` (None: kept while held), by ``rule``."""

    expires_at: dt.datetime | None
    rule: str

    @property
    def held(self) -> bool:
        return self.expires_at is None


def candidates(facts: RetentionFacts, policy: RetentionPolicy) -> list[Expiry]:
    """Every rule that applies to the item, in tie-breaking order."""
    out: list[Expiry] = []
    for hold in sorted(facts.holds, key=lambda h: (h.kind != LEGAL, h.label)):
        if hold.kind == LEGAL:
            out.append(Expiry(None, f"RET-10 legal hold {hold.label}"))
        else:
            out.append(Expiry(None, f"RET-2 preservation request {hold.label}"))
    if facts.open_case is not None:
        out.append(Expiry(None, f"RET-5 open case {facts.open_case}"))

    start = counted_from(facts)
    days = policy.source_days.get(facts.source)
    if days is not None:
        rule_id = "RET-1" if facts.source == "fixed" else "RET-4"
        out.append(_after(start, days, f"{rule_id} {facts.source} {days} days"))
    else:
        # Derived items (court copies, redactions) are held as evidence (REL-2, RET-7).
        out.append(
            _after(start, policy.evidence_days, f"RET-7 derived copy {policy.evidence_days} days")
        )
    for name in facts.categories:
        category = policy.categories.get(name.casefold())
        if category is None:
            continue  # a category removed from the list no longer decides anything
        if category.retention_days is not None:
            out.append(
                _after(
                    start,
                    category.retention_days,
                    f"TAG-4 category {category.name!r} {category.retention_days} days",
                )
            )
        elif category.evidence:
            out.append(
                _after(
                    start,
                    policy.evidence_days,
                    f"TAG-6 evidence category {category.name!r} {policy.evidence_days} days",
                )
            )
    if facts.evidence:
        out.append(
            _after(start, policy.evidence_days, f"RET-7 evidence {policy.evidence_days} days")
        )
    return out


def counted_from(facts: RetentionFacts) -> dt.datetime:
    """When the item's retention periods start.

    The recorder's own fixed segments count from their recorded start (RET-1): the
    recorder stamps it from the system clock. Everything else (uploads, dock and CLI
    imports, derived copies) counts from the later of the recorded start and the ingest
    time: the recorded time there is the uploader's word or the device's clock, and a
    backdated one must not shorten the minimum kept from ingest (RET-4, issue #10.2).
    """
    if facts.source == "fixed" or facts.ingested_at is None:
        return facts.recorded_start
    return max(facts.recorded_start, facts.ingested_at)


def decide_expiry(facts: RetentionFacts, policy: RetentionPolicy) -> Expiry:
    """The longest applicable rule (RET-12); a hold or open case beats every date."""
    best: Expiry | None = None
    for candidate in candidates(facts, policy):
        if candidate.expires_at is None:
            return candidate  # kept while held: nothing is longer
        if best is None or (best.expires_at is not None and candidate.expires_at > best.expires_at):
            best = candidate
    assert best is not None  # the source (or derived) rule always applies
    return best


def is_expired(expiry: Expiry, now: dt.datetime) -> bool:
    """True when the item may be purged at ``now`` (RET-13)."""
    return expiry.expires_at is not None and expiry.expires_at <= now


# The latest expiry a date rule can give: a start too close to the end of the calendar
# saturates here instead of raising OverflowError (issue #10.4, defence in depth).
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


def _after(start: dt.datetime, days: int, rule: str) -> Expiry:
    try:
        return Expiry(start + dt.timedelta(days=days), rule)
    except OverflowError:
        return Expiry(LATEST, rule)
