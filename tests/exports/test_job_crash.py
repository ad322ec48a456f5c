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
from pathlib import Path

from sqlalchemy import select

from tests.media import make_video
from vms.audit.log import Who
from vms.db.models import Export, MediaItem, SourceKind
from vms.exports import verify
from vms.exports.service import INTERRUPTED
from vms.ingest import IngestRequest
from vms.roles import RoleRunner
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)


def run_cli(
    services: Services, *args: str, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(services.config.data_dir),
        VMS_DATABASE_URL=services.config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
    )
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
