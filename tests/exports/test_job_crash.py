"""``vms export create`` (issue 15.4) and a job killed mid-way (issue 15.6): a real
subprocess runs the export through the same service as the jobs role; killed while the
package is still a ``.part`` file (vms/faults.py), the export is marked failed when the
jobs role starts, the partial file is removed and nothing of it is in the catalog."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_config
from tests.media import make_video
from vms.audit.log import Who
from vms.clock import SystemClock
from vms.db.models import Export, MediaItem, SourceKind
from vms.exports import verify
from vms.exports.service import INTERRUPTED
from vms.ingest import IngestRequest
from vms.roles import RoleRunner
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
# [cluster] job_lease_seconds of the CLI and the jobs role here: a killed runner's export
# is recovered once its lease expires (vms/exports/ownership.py).
LEASE = 1.0


@pytest.fixture
def services(database: tuple[str, Path]) -> Iterator[Services]:
    """Services on the system clock (the CLI's leases are on it) with a short lease."""
    url, data_dir = database
    config = make_config(
        data_dir,
        url,
        VMS_CLUSTER_JOB_LEASE_SECONDS=str(LEASE),
        VMS_EXPORTS_POLL_SECONDS="0.2",
    )
    svc = Services.open(config, clock=SystemClock())
    svc.migrate()
    try:
        yield svc
    finally:
        svc.close()


def outlive_lease() -> None:
    """Wait until a lease taken now has expired."""
    time.sleep(LEASE + 0.3)


def cli_env(services: Services) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(services.config.data_dir),
        VMS_DATABASE_URL=services.config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
        VMS_CLUSTER_JOB_LEASE_SECONDS=str(LEASE),
    )
    return env


def run_cli(
    services: Services, *args: str, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(services)
    if crash_at:
        env["VMS_TEST_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "vms.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_export_then_a_killed_one_is_failed_on_restart_issue_15_6(
    services: Services, tmp_path: Path
) -> None:
    media_id = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, fps=10, seed=7)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    args = ("export", "create", "--media", media_id, "--purpose", "court", "--case", "C-1")
    out = tmp_path / "package.zip"
    ok = run_cli(services, *args, "--out", str(out))
    assert ok.returncode == 0, ok.stderr
    assert verify.main([str(out)]) == 0
    # Killed with the package half written.
    killed = run_cli(
        services, *args, "--out", str(tmp_path / "b.zip"), crash_at="export.package-before-rename"
    )
    assert killed.returncode == -9, killed.stderr
    with services.db.session() as s:
        row = s.execute(select(Export).where(Export.state == "running")).scalar_one()
        export_id = row.id
    folder = services.config.data_dir / "exports" / export_id
    assert list(folder.glob("*.zip.part")), list(folder.iterdir())
    outlive_lease()
    # The jobs role starts: the stale export is failed and its files are gone.
    runner = RoleRunner(services, "jobs")
    runner.start()
    try:
        with services.db.session() as s:
            failed = s.get(Export, export_id)
            assert failed is not None and failed.state == "failed" and failed.error == INTERRUPTED
            derived = s.execute(
                select(MediaItem).where(MediaItem.source == SourceKind.EXPORT.value)
            ).scalars()
            # Only the first export's clip and package are catalogued.
            assert len(list(derived)) == 2
    finally:
        runner.stop()
    assert not folder.exists()
    assert not (tmp_path / "b.zip").exists()


def test_an_export_killed_while_cataloguing_is_finished_on_restart_or_failed_if_damaged(
    services: Services, tmp_path: Path
) -> None:
    """Killed after its clip was catalogued but before the package (step 4 of the job):
    the jobs role's start catalogues the package from the work folder and writes step 5
    (links, holds, custody, ``media.export``), so the export is ``done`` and whole. One
    whose package was damaged meanwhile does not verify: failed, naming the clip it had
    catalogued (INV-1, INV-2, REL-2, ACC-10)."""
    from vms.db.models import AuditEntry, CustodyEvent, MediaLink

    media_id = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, fps=10, seed=8)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    ids = []
    for name in ("a", "b"):
        args = ("export", "create", "--media", media_id, "--purpose", f"court {name}")
        out = tmp_path / f"{name}.zip"
        killed = run_cli(services, *args, "--out", str(out), crash_at="export.mid-ingest")
        assert killed.returncode == -9, killed.stderr
        assert not out.exists()
        with services.db.session() as s:
            row = s.execute(select(Export).where(Export.purpose == f"court {name}")).scalar_one()
            assert row.state == "running" and len(row.request["catalogued"]) == 1
            ids.append((row.id, row.request["catalogued"][0]))
    (finished, clip), (damaged, damaged_clip) = ids
    [package_b] = (services.config.data_dir / "exports" / damaged).glob("*.zip")
    data = bytearray(package_b.read_bytes())
    data[len(data) // 3] ^= 0xFF
    package_b.write_bytes(bytes(data))
    outlive_lease()

    runner = RoleRunner(services, "jobs")
    runner.start()
    runner.stop()
    with services.db.session() as s:
        done = s.get(Export, finished)
        assert done is not None and done.state == "done", done and done.error
        assert done.package_media_id and done.error is None
        package = s.get(MediaItem, done.package_media_id)
        assert package is not None and package.evidence and package.sha256 == done.sha256
        clip_item = s.get(MediaItem, clip)
        assert clip_item is not None and clip_item.evidence
        source = s.get(MediaItem, media_id)
        assert source is not None and source.evidence  # REL-2: both held
        for derived in (clip, done.package_media_id):
            assert s.get(MediaLink, (derived, media_id)) is not None  # INV-2
        exported = s.execute(
            select(CustodyEvent).where(
                CustodyEvent.media_id == media_id, CustodyEvent.action == "exported"
            )
        ).scalars()
        assert [e.details["export_id"] for e in exported] == [finished]
        audit = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "media.export", AuditEntry.target == f"export:{finished}"
            )
        ).scalar_one()
        assert audit.details["clip_media_ids"] == [clip]
        bad = s.get(Export, damaged)
        assert bad is not None and bad.state == "failed" and bad.error
        assert bad.error.startswith(INTERRUPTED) and "does not verify" in bad.error
        assert damaged_clip in bad.error and bad.package_media_id is None
    assert verify.main([str(services.store.path_for(done.sha256))]) == 0
    assert not (services.config.data_dir / "exports" / finished).exists()
    assert not (services.config.data_dir / "exports" / damaged).exists()


def test_a_full_disk_while_finishing_leaves_the_export_to_finish_at_the_next_try(
    services: Services, tmp_path: Path
) -> None:
    """Killed while cataloguing, then finished at a restart on a disk that is full for a
    while: InsufficientStorage is a temporary condition, not a damaged export. The signed,
    verified package stays in the work folder and the export stays ``running`` (its
    reason logged), and the next try, with room again, finishes it (INV-1, INV-2, REL-2).
    Before, it was failed for good and its package deleted."""
    media_id = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, fps=10, seed=9)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    args = ("export", "create", "--media", media_id, "--purpose", "court full")
    killed = run_cli(
        services, *args, "--out", str(tmp_path / "a.zip"), crash_at="export.mid-ingest"
    )
    assert killed.returncode == -9, killed.stderr
    with services.db.session() as s:
        export_id = s.execute(select(Export.id).where(Export.state == "running")).scalar_one()
    folder = services.config.data_dir / "exports" / export_id
    [package] = folder.glob("*.zip")
    outlive_lease()
    # The store is full for now: every ingest is refused with InsufficientStorage.
    reserve = services.ingestor.reserve_bytes
    services.ingestor.reserve_bytes = 1 << 62
    try:
        assert services.exports.recover_interrupted() == []
    finally:
        services.ingestor.reserve_bytes = reserve
    with services.db.session() as s:
        row = s.get(Export, export_id)
        # Before: failed ("interrupted by a restart (not finished: media store ... has
        # ... bytes free ...)") and the package deleted.
        assert row is not None and row.state == "running", (row and row.state, row and row.error)
    assert package.is_file() and verify.main([str(package)]) == 0
    # Room again: the next try, once the first try's lease expired, finishes it.
    outlive_lease()
    services.exports.recover_interrupted()
    with services.db.session() as s:
        row = s.get(Export, export_id)
        assert row is not None and row.state == "done", row and row.error
        assert row.package_media_id is not None
    assert not folder.exists()
