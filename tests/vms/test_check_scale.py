"""The start-up recovery and the catalog check (INV-1) at agency scale, on both
databases: what they ask of the database does not grow one statement per stored file."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import insert

from tests.statements import captured
from vms.check import CheckReport, Level, check, recover
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


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_the_s3_catalog_check_lists_the_bucket_instead_of_a_head_per_row_INV_1(
    services: Services,
) -> None:
    """INV-1, ``vms catalog check`` on S3: each catalog row was one HEAD request to the
    object store (a city's millions of segments, millions of round trips) and every
    row's hash was kept in memory to find orphans. The bucket is listed (a thousand
    objects a request) and compared with the catalog walked in the same order: no HEAD
    at presence or size level. What it finds is unchanged: a row without its object is
    missing, an object without a row orphaned, a size that differs corrupted, and two
    rows of one original are both found."""
    remote = services.store.remote
    assert remote is not None
    calls: list[str] = []
    remote._client.meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.append(model.name)
    )

    def rows(first: int, count: int, *, size: int = 1, stored: bool = True) -> list[str]:
        shas = []
        items = []
        for n in range(first, first + count):
            sha = hashlib.sha256(f"s3-{n}".encode()).hexdigest()
            if stored:
                remote.put_bytes(services.store.relative_path(sha), b"x")
            shas.append(sha)
            items.append(
                {
                    "id": f"s-{n:06d}",
                    "source": "fixed",
                    "media_type": "video",
                    "content_type": "video/mp4",
                    "device_id": "cam-1",
                    "recorded_start": T0,
                    "size_bytes": size,
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
            s.execute(insert(MediaItem), items)
        return shas

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)

    def heads() -> tuple[int, CheckReport]:
        calls.clear()
        report = check(services.db, services.store, Level.SIZE, now=later)
        return calls.count("HeadObject"), report

    shared = rows(0, 10)[0]
    with services.db.transaction() as s:  # a second row of one original (another device's)
        s.add(Device(id="cam-2", kind="fixed", name="cam-2", created_at=T0))
        s.flush()
        s.execute(
            insert(MediaItem),
            [
                {
                    "id": "s-shared",
                    "source": "fixed",
                    "media_type": "video",
                    "content_type": "video/mp4",
                    "device_id": "cam-2",
                    "recorded_start": T0,
                    "size_bytes": 1,
                    "sha256": shared,
                    "ingested_at": T0,
                    "ingested_by": "recorder",
                    "recorded_start_origin": "container",
                    "evidence": False,
                    "restricted": False,
                }
            ],
        )
    few, report = heads()
    assert report.clean and (report.rows, report.files) == (11, 10)
    rows(10, 150)
    rows(160, 1, stored=False)  # missing
    rows(161, 1, size=2)  # corrupted at size level
    orphan = hashlib.sha256(b"orphan").hexdigest()
    remote.put_bytes(services.store.relative_path(orphan), b"o")
    many, report = heads()
    assert report.missing == ["s-000160"] and report.corrupted == ["s-000161"]
    assert report.orphaned == [services.store.where(orphan)]
    assert (report.rows, report.files) == (163, 162)
    assert many == few == 0, f"{few} HEAD requests for 11 rows, {many} for 163"
