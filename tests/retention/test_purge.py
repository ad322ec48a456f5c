"""The purge on SQLite and PostgreSQL (INV-3, RET-1, RET-4, RET-7, RET-10, RET-13)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update

from retention.commands import NewLegalHold, ReleaseLegalHold, SetCaseState
from retention.plugin import Retention
from tests.retention.conftest import DAY, document, exists, ingest, item, open_case
from vms.catalog_values import MediaChanges
from vms.check import Level, check
from vms.clock import ManualClock
from vms.db.models import (
    AuditEntry,
    DestructionRecord,
    MediaExpiry,
    PurgeIntent,
    SourceKind,
)
from vms.services import Services


def records(services: Services) -> list[DestructionRecord]:
    with services.db.session() as s:
        return list(s.execute(select(DestructionRecord).order_by(DestructionRecord.id)).scalars())


def test_expired_fixed_segment_is_purged_with_a_destruction_record_RET_1_RET_13(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    old = ingest(timed, recorded_at=clock.now() - 31 * DAY)
    young = ingest(timed, recorded_at=clock.now() - 29 * DAY)
    sha = item(timed, old).sha256  # type: ignore[union-attr]

    report = retention.purger.run()

    assert report.purged == 1 and report.files_unlinked == 1
    assert item(timed, old) is None and not timed.store.path_for(sha).exists()
    assert exists(timed, young)
    [record] = records(timed)
    assert (record.media_id, record.sha256, record.source, record.device_id) == (
        old,
        sha,
        "fixed",
        "CAM-1",
    )
    assert record.rule == "RET-1 fixed 30 days" and record.purged_at == clock.now()
    with timed.db.session() as s:
        purges = s.execute(
            select(func.count()).where(AuditEntry.action == "retention.purge")
        ).scalar_one()
        assert s.execute(select(func.count()).select_from(PurgeIntent)).scalar_one() == 0
    assert purges == 1
    assert timed.audit.verify(timed.db) is None
    assert check(timed.db, timed.store, Level.HASH).clean


def test_dry_run_deletes_nothing_RET_13(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    old = ingest(timed, recorded_at=clock.now() - 40 * DAY)
    report = retention.purger.run(dry_run=True)
    assert [p.media_id for p in report.would_purge] == [old]
    assert exists(timed, old) and records(timed) == []


def test_shared_file_is_unlinked_only_with_its_last_row(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    """Same bytes from two devices: one stored file; purging one row keeps the file."""
    data = document("shared")
    fixed = ingest(timed, recorded_at=clock.now() - 31 * DAY, data=data)
    bwc = ingest(
        timed, source=SourceKind.BWC, device="BWC-1", recorded_at=clock.now() - 31 * DAY, data=data
    )
    report = retention.purger.run()
    assert report.purged == 1 and report.files_unlinked == 0
    assert item(timed, fixed) is None and exists(timed, bwc)
    assert records(timed)[0].file_unlinked is False
    assert check(timed.db, timed.store, Level.HASH).clean

    # RET-4 counts from the later of recorded and ingest time (#10.2): 90 days after
    # the ingest the BWC item has expired too.
    clock.advance(90 * DAY)
    report = retention.purger.run(confirm_clock=True)  # months in one step (clock guard)
    assert report.purged == 1 and report.files_unlinked == 1
    assert item(timed, bwc) is None
    assert check(timed.db, timed.store, Level.HASH).clean


def test_bwc_tagged_use_of_force_outlives_90_days_TAG_6_RET_7(
    timed: Services, retention: Retention, clock: ManualClock, actors
) -> None:
    tagged = ingest(timed, source=SourceKind.BWC, device="BWC-1", recorded_at=clock.now())
    plain = ingest(timed, source=SourceKind.BWC, device="BWC-1", recorded_at=clock.now())
    timed.catalog.update(
        actors["admin"],
        tagged,
        MediaChanges(categories=("Use of Force - Outside Jail Facilities",)),
    )
    row = item(timed, tagged)
    assert row is not None and row.evidence
    assert row.retention_rule is not None and row.retention_rule.startswith("TAG-6")
    clock.advance(91 * DAY)
    retention.purger.run(confirm_clock=True)  # months in one step (RET-1 clock guard)
    assert exists(timed, tagged) and item(timed, plain) is None
    clock.advance(4 * 365 * DAY)
    retention.purger.run(confirm_clock=True)  # four years in one step (RET-1 clock guard)
    assert item(timed, tagged) is None  # gone after the evidence retention


def test_purge_decides_again_and_never_trusts_a_stale_expiry_INV_3(
    timed: Services, retention: Retention, clock: ManualClock, actors
) -> None:
    """A held item whose stored expiry is (wrongly) in the past survives the purge."""
    media = ingest(timed, recorded_at=clock.now() - 40 * DAY)
    retention.legal_holds.create(actors["commander"], NewLegalHold("LH-1", "claim", (media,)))
    with timed.db.transaction() as s:
        s.execute(
            update(MediaExpiry)
            .where(MediaExpiry.media_id == media)
            .values(expires_at=clock.now() - DAY, retention_rule="stale")
        )
    report = retention.purger.run()
    assert report.purged == 0 and report.kept == 1
    assert exists(timed, media)
    assert item(timed, media).retention_rule == "RET-10 legal hold LH-1"  # type: ignore[union-attr]


def test_released_legal_hold_lets_the_item_expire_at_its_normal_time_RET_10(
    timed: Services, retention: Retention, clock: ManualClock, actors
) -> None:
    media = ingest(timed, source=SourceKind.BWC, device="BWC-2", recorded_at=clock.now())
    hold = retention.legal_holds.create(actors["commander"], NewLegalHold("LH-2", "suit", (media,)))
    clock.advance(200 * DAY)
    retention.purger.run()
    assert exists(timed, media)  # past 90 days, held
    retention.legal_holds.release(actors["commander"], hold.id, ReleaseLegalHold("REL-55"))
    row = item(timed, media)
    assert row is not None and row.expires_at == row.recorded_start + 90 * DAY
    retention.purger.run()
    assert item(timed, media) is None
    assert records(timed)[0].rule == "RET-4 bwc 90 days"


def test_open_case_keeps_media_until_closed_RET_5(
    timed: Services, retention: Retention, clock: ManualClock, actors
) -> None:
    media = ingest(timed, recorded_at=clock.now(), case="C-77")
    open_case(timed, actors["commander"], "C-77")
    assert item(timed, media).retention_rule == "RET-5 open case C-77"  # type: ignore[union-attr]
    later = ingest(timed, recorded_at=clock.now(), case="C-77")  # ingested while open
    clock.advance(40 * DAY)
    retention.purger.run()
    assert exists(timed, media) and exists(timed, later)
    retention.cases.set_state(actors["commander"], "C-77", SetCaseState("closed"))
    retention.purger.run()
    assert item(timed, media) is None and item(timed, later) is None


def test_disk_pressure_raises_the_alarm_and_never_deletes_held_media_INV_3(
    timed: Services, retention: Retention, clock: ManualClock, actors
) -> None:
    held = ingest(timed, recorded_at=clock.now() - 40 * DAY)
    retention.legal_holds.create(actors["commander"], NewLegalHold("LH-3", "x", (held,)))
    events: list[tuple[str, dict]] = []
    timed.events.subscribe(lambda topic, payload: events.append((topic, payload)))
    retention.purger.alarm_free_bytes = 1 << 62  # any disk is "full"
    report = retention.purger.run()
    assert report.disk_alarm and report.purged == 0
    assert exists(timed, held)
    assert ("retention.disk_alarm", events[0][1]) == events[0] and events[0][1]["active"]
    # On screen (issue 12.3): the disk alarm raised once, for the site (no camera).
    raised = [p for topic, p in events if topic == "alarm.raised"]
    assert [(a["kind"], a["camera_id"]) for a in raised] == [("disk_alarm", None)]
    with timed.db.session() as s:
        outcomes = list(
            s.execute(
                select(AuditEntry.outcome).where(AuditEntry.action == "retention.disk_alarm")
            ).scalars()
        )
    assert outcomes == ["raised"]


def test_hold_meeting_a_purge_intent_wins_while_the_file_exists_INV_3(
    timed: Services, retention: Retention, clock: ManualClock, actors
) -> None:
    """Step 1 wrote the intent; a hold arrives before step 3: the hold cancels it."""
    from retention.purge import PurgeReport

    media = ingest(timed, recorded_at=clock.now() - 40 * DAY)
    report = PurgeReport(run_id="r1", dry_run=False, now=clock.now())
    decided, _ = retention.purger._decide(clock.now(), None, report, report.would_purge.append)
    assert decided == [media]
    hold = retention.legal_holds.create(actors["commander"], NewLegalHold("LH-4", "x", (media,)))
    assert hold.pinned == (media,) and hold.already_purged == ()
    retention.purger._destroy(decided, report)
    assert report.purged == 0 and exists(timed, media)


def test_evidence_tag_or_open_case_after_the_intent_keeps_the_item_INV_3_TAG_6_RET_5(
    timed: Services, retention: Retention, clock: ManualClock, actors
) -> None:
    """Step 1 wrote the intents (then the run was interrupted); before the next run one
    BWC item is tagged "Use of Force" (evidence, TAG-6) and another is put in an open
    case (RET-5). Neither change cancels an intent by itself: step 3 decides again under
    the row locks and keeps both; the third, untouched, is purged."""
    from retention.purge import PurgeReport

    start = clock.now() - 100 * DAY
    clock.set(start)  # ingested then: RET-4 counts from the later of recorded and ingest
    tagged, cased, plain = (
        ingest(timed, source=SourceKind.BWC, device="BWC-4", officer="B1", recorded_at=start)
        for _ in range(3)
    )
    clock.advance(100 * DAY)
    report = PurgeReport(run_id="r1", dry_run=False, now=clock.now())
    # intents, "crash"
    decided, _ = retention.purger._decide(clock.now(), None, report, report.would_purge.append)
    assert sorted(decided) == sorted([tagged, cased, plain])
    timed.catalog.update(
        actors["admin"],
        tagged,
        MediaChanges(categories=("Use of Force - Outside Jail Facilities",)),
    )
    open_case(timed, actors["commander"], "C-88")
    timed.catalog.update(actors["admin"], cased, MediaChanges(case_number="C-88"))
    run = retention.purger.run()
    assert exists(timed, tagged) and exists(timed, cased) and item(timed, plain) is None
    assert run.kept == 2 and run.purged == 1
    with timed.db.session() as s:
        assert s.execute(select(func.count()).select_from(PurgeIntent)).scalar_one() == 0
    assert [r.media_id for r in records(timed)] == [plain]
    assert check(timed.db, timed.store, Level.HASH).clean


def test_startup_recovery_finishes_an_interrupted_purge_INV_3(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    from retention.purge import PurgeReport

    media = ingest(timed, recorded_at=clock.now() - 40 * DAY)
    report = PurgeReport(run_id="r1", dry_run=False, now=clock.now())
    # intent, then "crash"
    retention.purger._decide(clock.now(), None, report, report.would_purge.append)
    timed.startup_recovery()
    assert item(timed, media) is None and len(records(timed)) == 1
    assert check(timed.db, timed.store, Level.HASH).clean


def test_recompute_all_fills_missing_expiries_after_the_migration(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    media = ingest(timed, recorded_at=clock.now() - 40 * DAY)
    with timed.db.transaction() as s:
        s.execute(delete(MediaExpiry))  # as the 0008 migration leaves never-computed items
    assert retention.expiry.recompute_all(only_missing=True) == 1
    assert item(timed, media).retention_rule == "RET-1 fixed 30 days"  # type: ignore[union-attr]
    assert retention.expiry.recompute_all() == 0
    retention.purger.run()
    assert item(timed, media) is None
    _ = dt


def test_backdated_item_stored_with_an_old_expiry_is_kept_by_the_purge_RET_4(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    """#10.2 after an upgrade: an upload catalogued before the fix, recorded_at
    backdated 100 days, carries the old expiry (recorded + 90 days, already past). The
    purge decides again from fresh facts (INV-3): kept, and its expiry corrected to 90
    days from the ingest."""
    media = ingest(
        timed, source=SourceKind.BWC, device="BWC-9", recorded_at=clock.now() - 100 * DAY
    )
    with timed.db.transaction() as s:
        s.execute(
            update(MediaExpiry)
            .where(MediaExpiry.media_id == media)
            .values(expires_at=clock.now() - 10 * DAY)
        )
    report = retention.purger.run()
    assert report.purged == 0 and report.kept == 1
    row = item(timed, media)
    assert row is not None and row.expires_at == row.ingested_at + 90 * DAY
