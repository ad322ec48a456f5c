"""The start-up recovery and the catalog check (INV-1) at agency scale, on both
databases: what they ask of the database does not grow one statement per stored file."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import insert

from tests.statements import captured
from vms.check import recover
from vms.db.models import Device, MediaItem
from vms.services import Services

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _stored(services: Services, first: int, count: int) -> None:
    """``count`` catalogued originals: a file in the store and its row."""
    rows = []
    for n in range(first, first + count):
        sha = hashlib.sha256(str(n).encode()).hexdigest()
        path = services.store.path_for(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        rows.append(
            {
                "id": f"m-{n:06d}",
                "source": "fixed",
                "media_type": "video",
                "content_type": "video/mp4",
                "device_id": "cam-1",
                "recorded_start": T0,
                "size_bytes": 1,
                "sha256": sha,
                "ingested_at": T0,
                "ingested_by": "recorder",
                "recorded_start_origin": "container",
                "evidence": False,
                "restricted": False,
            }
        )
    with services.db.transaction() as s:
        if first == 0:
            s.add(Device(id="cam-1", kind="fixed", name="cam-1", created_at=T0))
            s.flush()
        s.execute(insert(MediaItem), rows)


def test_start_up_recovery_looks_stored_originals_up_in_batches_INV_1(
    services: Services,
) -> None:
    """INV-1: every start reconciles the store with the catalog (orphans set aside). It
    took each stored original's ingest locks and asked the database about it alone:
    one statement per file, so a city's millions of segments were millions of queries
    at every start of every process. Only the originals the catalog does not know are
    locked and asked about again; an orphan is still set aside."""
    _stored(services, 0, 20)
    orphan = hashlib.sha256(b"orphan").hexdigest()
    services.store.path_for(orphan).parent.mkdir(parents=True, exist_ok=True)
    services.store.path_for(orphan).write_bytes(b"o")

    def statements() -> tuple[int, list[str]]:
        with captured(services.db.engine) as sent:
            report = recover(services.db, services.store)
        assert report.repaired is not None
        return len(sent), [o["sha256"] for o in report.repaired.orphans_set_aside]

    few, set_aside = statements()
    assert set_aside == [orphan]
    _stored(services, 20, 1_200)
    many, set_aside = statements()
    assert set_aside == []
    assert many - few <= 5, f"{few} statements for 20 stored files, {many} for 1,220"
