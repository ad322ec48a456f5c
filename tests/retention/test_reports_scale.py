"""The daily TAG-3 notice at agency scale: what it holds in memory and asks of the
database does not grow with the BWC/dash items overdue for tagging."""

from __future__ import annotations

import datetime as dt
import tracemalloc

from sqlalchemy import func, insert, select

from retention.plugin import get
from tests.statements import captured
from vms.db.models import AuditEntry, Device, MediaItem, TaggingNotice
from vms.services import Services


def _overdue(services: Services, first: int, count: int) -> None:
    """``count`` BWC items of officer B1, uploaded four days ago and never tagged."""
    at = services.clock.now() - dt.timedelta(days=4)
    rows = [
        {
            "id": f"bwc-{n:06d}",
            "source": "bwc",
            "media_type": "video",
            "content_type": "video/mp4",
            "device_id": "BWC-1",
            "officer_badge": "B1",
            "recorded_start": at,
            "size_bytes": 1,
            "sha256": f"{n:064x}",
            "ingested_at": at,
            "ingested_by": "dock",
            "recorded_start_origin": "container",
            "evidence": False,
            "restricted": False,
        }
        for n in range(first, first + count)
    ]
    with services.db.transaction() as s:
        if first == 0:
            s.add(Device(id="BWC-1", kind="bwc", name="BWC-1", created_at=at))
            s.flush()
        s.execute(insert(MediaItem), rows)


def test_the_daily_untagged_notice_holds_no_item_in_memory_TAG_3(services: Services) -> None:
    """TAG-3: the daily job read every overdue BWC/dash item (with officer and
    supervisor) into memory, and the day's notices besides, to write one notice per item
    (and stopped at 100,000 items, leaving the rest unreported). The notices are now
    written by the database from the catalog: the same statements and memory for 5,000
    overdue items as for 50, each item notified once a day, counted per officer."""
    reports = get(services).reports

    def run() -> tuple[int, int, int]:
        tracemalloc.start()
        try:
            with captured(services.db.engine) as sent:
                notified = reports.notify_untagged()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return notified, len(sent), peak

    _overdue(services, 0, 50)
    notified, few, few_peak = run()
    assert notified == 50
    _overdue(services, 50, 5_000)
    notified, many, many_peak = run()
    assert notified == 5_000  # the first 50 were notified today already
    assert run()[0] == 0
    assert many == few, f"{few} statements for 50 overdue items, {many} for 5,050"
    grown = many_peak - few_peak
    assert grown < 500_000, f"peak memory {few_peak} B for 50 items, {many_peak} B for 5,050"
    with services.db.session() as s:
        notices = s.execute(
            select(TaggingNotice.officer_badge, TaggingNotice.supervisor, func.count()).group_by(
                TaggingNotice.officer_badge, TaggingNotice.supervisor
            )
        ).all()
        overdue = s.execute(
            select(AuditEntry.details)
            .where(AuditEntry.action == "tagging.overdue")
            .order_by(AuditEntry.seq)
        ).scalars()
        assert [d["per_officer"] for d in overdue] == [{"B1": 50}, {"B1": 5_000}]
    assert notices == [("B1", "sergeant", 5_050)]
