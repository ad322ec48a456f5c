"""The local media store on a volume that is not mounted (NFS, a second disk): the
folder is the bare mount point, every original looks missing, and a missing original is
what an interrupted purge leaves. The purge recorded every expired item destroyed
(``file_unlinked`` false) and deleted its rows while the footage stayed on the volume
(RET-1, RET-13, INV-3), and the ingest wrote new originals under the mount point. The
store's marker (vms/store_guard.py) makes both refuse, naming the folder. Real store on
a real folder, the purge through its real service, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from retention.plugin import get
from tests.retention.conftest import DAY, exists, ingest, item
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import AlarmRow, DestructionRecord
from vms.errors import VMSError
from vms.services import Services

MARKER = ".vms-store-id"


def destruction_records(services: Services) -> list[DestructionRecord]:
    with services.db.session() as s:
        return list(s.execute(select(DestructionRecord)).scalars())


def open_alarms(services: Services) -> list[str]:
    with services.db.session() as s:
        return list(s.execute(select(AlarmRow.kind).where(AlarmRow.cleared_at.is_(None))).scalars())


def unmount(media: Path, volume: Path) -> None:
    """The volume goes away: its files with it, the bare mount point stays."""
    media.rename(volume)
    media.mkdir()


def folders_of(media: Path, sha256: str) -> None:
    """The folders of an original under the bare mount point, as the ingests of a
    recorder that went on recording there make them (without them the unlink pass
    failed at its directory fsync, by chance, and rolled back)."""
    (media / "objects" / sha256[:2] / sha256[2:4]).mkdir(parents=True)


def mount(media: Path, volume: Path) -> None:
    shutil.rmtree(media)
    volume.rename(media)


@pytest.fixture
def restarted(config: Config, clock: ManualClock) -> Iterator[list[Services]]:
    opened: list[Services] = []
    yield opened
    for services in opened:
        services.close()


def reopen(config: Config, clock: ManualClock, opened: list[Services]) -> Services:
    services = Services.open(config, clock=clock)
    opened.append(services)
    services.startup_recovery()
    return services


def test_a_purge_on_an_unmounted_store_refuses_and_records_nothing_RET_1_INV_3(
    timed: Services, config: Config, clock: ManualClock, tmp_path: Path, restarted: list[Services]
) -> None:
    media = ingest(timed, recorded_at=clock.now() - 31 * DAY)  # expired (RET-1)
    sha = item(timed, media).sha256  # type: ignore[union-attr]
    timed.close()
    volume = tmp_path / "volume"
    unmount(config.media_dir, volume)
    folders_of(config.media_dir, sha)

    jobs = reopen(config, clock, restarted)  # the jobs role starts on the bare mount point
    with pytest.raises(VMSError, match=str(config.media_dir)):
        get(jobs).purger.run()
    assert item(jobs, media) is not None, "the purge deleted the row of footage it never saw"
    assert destruction_records(jobs) == []
    assert "store_missing" in open_alarms(jobs)
    assert not (config.media_dir / MARKER).exists(), "a bare mount point must not be marked"

    mount(config.media_dir, volume)
    report = get(jobs).purger.run()
    assert report.purged == 1 and report.files_unlinked == 1
    [record] = destruction_records(jobs)
    assert record.file_unlinked and not jobs.store.path_for(sha).exists()
    assert "store_missing" not in open_alarms(jobs)
    assert (config.media_dir / MARKER).is_file(), "a new store gets its marker"


def test_an_ingest_on_an_unmounted_store_refuses_and_writes_nothing_INV_1(
    timed: Services, config: Config, clock: ManualClock, tmp_path: Path, restarted: list[Services]
) -> None:
    ingest(timed, recorded_at=clock.now() - DAY)
    timed.close()
    unmount(config.media_dir, tmp_path / "volume")

    node = reopen(config, clock, restarted)
    with pytest.raises(VMSError, match=str(config.media_dir)):
        ingest(node, recorded_at=clock.now())
    stored = [p for p in (config.media_dir / "objects").rglob("*") if p.is_file()]
    assert stored == [], "an original was written under the bare mount point"


def test_a_store_from_before_the_marker_is_marked_at_start_and_purged_RET_1(
    timed: Services, config: Config, clock: ManualClock, restarted: list[Services]
) -> None:
    old = ingest(timed, recorded_at=clock.now() - 40 * DAY)
    young = ingest(timed, recorded_at=clock.now() - DAY)
    timed.close()
    (config.media_dir / MARKER).unlink(missing_ok=True)  # an installation made before the marker

    jobs = reopen(config, clock, restarted)
    assert (config.media_dir / MARKER).is_file(), "the upgraded store was not marked"
    assert get(jobs).purger.run().purged == 1
    assert item(jobs, old) is None and exists(jobs, young)


def test_an_empty_folder_is_not_marked_while_the_catalog_has_items_INV_3(
    timed: Services, config: Config, clock: ManualClock, tmp_path: Path, restarted: list[Services]
) -> None:
    media = ingest(timed, recorded_at=clock.now() - 31 * DAY)
    timed.close()
    unmount(config.media_dir, tmp_path / "volume")
    folders_of(config.media_dir, item(timed, media).sha256)  # type: ignore[union-attr]
    (tmp_path / "volume" / MARKER).unlink(missing_ok=True)  # even a store from before the marker

    jobs = reopen(config, clock, restarted)
    assert not (config.media_dir / MARKER).exists()
    with pytest.raises(VMSError, match=str(config.media_dir)):
        get(jobs).purger.run()
    assert not (config.media_dir / MARKER).exists()
    assert item(jobs, media) is not None and destruction_records(jobs) == []
