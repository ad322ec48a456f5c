"""The retention table as data (pure rules, no database): RET-1, RET-2, RET-4, RET-5,
RET-7, RET-10, RET-12, TAG-4, TAG-6."""

from __future__ import annotations

import datetime as dt

import pytest

from retention.rules import (
    LEGAL,
    PRESERVATION,
    Hold,
    RetentionFacts,
    RetentionPolicy,
    decide_expiry,
    is_expired,
)
from vms.categories import DENVER_CATEGORIES, Category

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
POLICY = RetentionPolicy.build(
    categories=(*DENVER_CATEGORIES, Category("Traffic stop", retention_days=365))
)
FOREVER = None

# (case id, facts, expected days after recording or None for "while held", rule prefix)
TABLE = [
    ("RET_1 fixed 30 days", RetentionFacts("fixed", T0), 30, "RET-1 fixed 30 days"),
    ("RET_4 bwc 90 days", RetentionFacts("bwc", T0), 90, "RET-4 bwc 90 days"),
    ("RET_4 dash 90 days", RetentionFacts("dash", T0), 90, "RET-4 dash 90 days"),
    ("RET_4 handheld 90 days", RetentionFacts("handheld", T0), 90, "RET-4 handheld"),
    (
        "TAG_4 routine category keeps the source default",
        RetentionFacts("bwc", T0, categories=("Eviction",)),
        90,
        "RET-4",
    ),
    (
        "TAG_6 use of force is evidence, 4 years (RET_7)",
        RetentionFacts("bwc", T0, categories=("Use of Force - Outside Jail Facilities",)),
        1461,
        "TAG-6 evidence category",
    ),
    (
        "TAG_4 category period beats a shorter source default (RET_12)",
        RetentionFacts("fixed", T0, categories=("Traffic stop",)),
        365,
        "TAG-4 category 'Traffic stop' 365 days",
    ),
    ("RET_7 evidence flag", RetentionFacts("fixed", T0, evidence=True), 1461, "RET-7 evidence"),
    (
        "RET_12 longest wins: evidence over category over source",
        RetentionFacts("dash", T0, categories=("Traffic stop",), evidence=True),
        1461,
        "RET-7 evidence",
    ),
    ("RET_5 open case", RetentionFacts("fixed", T0, open_case="C-1"), FOREVER, "RET-5 open case"),
    (
        "RET_2 preservation request",
        RetentionFacts("fixed", T0, holds=(Hold(PRESERVATION, "PR-1"),)),
        FOREVER,
        "RET-2 preservation request PR-1",
    ),
    (
        "RET_10 legal hold beats every date",
        RetentionFacts("bwc", T0, evidence=True, holds=(Hold(LEGAL, "LH-9"),)),
        FOREVER,
        "RET-10 legal hold LH-9",
    ),
    (
        "RET_10 legal hold named before a preservation request",
        RetentionFacts("fixed", T0, holds=(Hold(PRESERVATION, "PR-1"), Hold(LEGAL, "LH-1"))),
        FOREVER,
        "RET-10 legal hold LH-1",
    ),
    (
        "REL_2 derived court copy keeps the evidence retention",
        RetentionFacts("export", T0),
        1461,
        "RET-7 derived copy",
    ),
    (
        "unknown category (removed from the list) decides nothing",
        RetentionFacts("fixed", T0, categories=("No such category",)),
        30,
        "RET-1",
    ),
]


@pytest.mark.parametrize(
    ("facts", "days", "rule"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE]
)
def test_retention_table_RET_12(facts: RetentionFacts, days: int | None, rule: str) -> None:
    expiry = decide_expiry(facts, POLICY)
    if days is None:
        assert expiry.expires_at is None and expiry.held
    else:
        assert expiry.expires_at == T0 + dt.timedelta(days=days)
    assert expiry.rule.startswith(rule)


def test_fixed_segment_pinned_on_day_29_survives_day_31_RET_1_RET_2() -> None:
    plain = RetentionFacts("fixed", T0)
    assert not is_expired(decide_expiry(plain, POLICY), T0 + dt.timedelta(days=29))
    pinned = RetentionFacts("fixed", T0, evidence=True, holds=(Hold(PRESERVATION, "PR-7"),))
    assert not is_expired(decide_expiry(pinned, POLICY), T0 + dt.timedelta(days=31))
    assert is_expired(decide_expiry(plain, POLICY), T0 + dt.timedelta(days=31))


def test_released_hold_expires_at_the_normal_time_RET_10() -> None:
    held = RetentionFacts("bwc", T0, holds=(Hold(LEGAL, "LH-1"),))
    assert decide_expiry(held, POLICY).held
    released = RetentionFacts("bwc", T0)
    assert decide_expiry(released, POLICY).expires_at == T0 + dt.timedelta(days=90)


def test_configured_periods_are_used_RET_1_RET_4_RET_7() -> None:
    policy = RetentionPolicy.build(fixed_days=7, bwc_days=120, evidence_days=2000)
    assert decide_expiry(RetentionFacts("fixed", T0), policy).rule == "RET-1 fixed 7 days"
    assert decide_expiry(RetentionFacts("bwc", T0), policy).expires_at == T0 + dt.timedelta(120)
    evidence = decide_expiry(RetentionFacts("fixed", T0, evidence=True), policy)
    assert evidence.expires_at == T0 + dt.timedelta(days=2000)


def test_expiry_boundary_is_inclusive_RET_13() -> None:
    expiry = decide_expiry(RetentionFacts("fixed", T0), POLICY)
    assert expiry.expires_at is not None
    assert not is_expired(expiry, expiry.expires_at - dt.timedelta(microseconds=1))
    assert is_expired(expiry, expiry.expires_at)


# -- issue #10.2 / #10.4: backdated and far-future recorded times ----------------------

INGESTED = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("source", ["bwc", "dash", "handheld"])
def test_backdated_upload_is_kept_90_days_from_ingest_RET_4(source: str) -> None:
    """#10.2: an upload claiming 2000-01-01 got an expiry in 2000 and the next purge
    deleted it. User uploads count from the later of recorded and ingest time."""
    facts = RetentionFacts(source, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), ingested_at=INGESTED)
    expiry = decide_expiry(facts, POLICY)
    assert expiry.expires_at == INGESTED + dt.timedelta(days=90)
    assert not is_expired(expiry, INGESTED + dt.timedelta(days=89))


def test_backdated_evidence_upload_is_kept_4_years_from_ingest_RET_7() -> None:
    facts = RetentionFacts(
        "bwc",
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        categories=("Use of Force - Outside Jail Facilities",),
        ingested_at=INGESTED,
    )
    assert decide_expiry(facts, POLICY).expires_at == INGESTED + dt.timedelta(days=1461)


def test_recorded_after_ingest_counts_from_the_recorded_time_RET_4() -> None:
    later = INGESTED + dt.timedelta(hours=20)
    facts = RetentionFacts("bwc", later, ingested_at=INGESTED)
    assert decide_expiry(facts, POLICY).expires_at == later + dt.timedelta(days=90)


def test_fixed_segment_counts_from_its_recorded_start_RET_1() -> None:
    """The recorder stamps its segments from the system clock: RET-1 is 30 days after
    recording, whenever the segment was catalogued (a salvaged one, later)."""
    recorded = INGESTED - dt.timedelta(days=2)
    facts = RetentionFacts("fixed", recorded, ingested_at=INGESTED)
    assert decide_expiry(facts, POLICY).expires_at == recorded + dt.timedelta(days=30)


def test_expiry_at_the_end_of_the_calendar_saturates_instead_of_overflowing() -> None:
    """#10.4 defence in depth: 9999-12-31 + 90 days raised OverflowError."""
    end = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
    for facts in (
        RetentionFacts("bwc", end, ingested_at=INGESTED, evidence=True),
        RetentionFacts("fixed", end),
        RetentionFacts("export", end, ingested_at=INGESTED),
    ):
        expiry = decide_expiry(facts, POLICY)
        assert expiry.expires_at == dt.datetime.max.replace(tzinfo=dt.UTC)
        assert not is_expired(expiry, INGESTED)
