"""Who runs an export (docs/design/exports.md, "Who runs an export";
vms/exports/ownership.py): a real ``vms export create`` in its own process holds its
export's lease, so a jobs role running beside it leaves the live export alone (its row
and its work folder), and once the CLI is SIGKILLed the jobs role, still running, fails
the export within a lease and a round, not only at its next start (issue 15.6)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from tests.exports.test_job_crash import LEASE, T0, cli_env, services
from tests.media import make_video
from vms.audit.log import Who
from vms.db.models import Export, MediaItem, SourceKind
from vms.exports import verify
from vms.exports.service import INTERRUPTED
from vms.ingest import IngestRequest
from vms.roles import RoleRunner, add_job_runner
from vms.services import Services

__all__ = ["services"]  # the fixture: system clock, short lease

POINT = "export.after-package"  # the package written, nothing catalogued yet


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


def paused_cli(services: Services, pause: Path, media_id: str, out: Path) -> subprocess.Popen[str]:
    """``vms export create`` paused at POINT (vms/faults.py) until ``<POINT>.go``."""
    env = cli_env(services)
    env.update(VMS_TEST_PAUSE_AT=POINT, VMS_TEST_PAUSE_DIR=str(pause))
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "vms.cli", "export", "create", "--media", media_id),
            *("--purpose", f"court {out.stem}", "--out", str(out)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: (pause / f"{POINT}.paused").exists() or proc.poll() is not None, 60, POINT)
    if proc.poll() is not None:
        raise AssertionError(proc.communicate())
    (pause / f"{POINT}.paused").unlink()
    return proc


def state_of(services: Services, purpose: str) -> Export:
    with services.db.session() as s:
        return s.execute(select(Export).where(Export.purpose == purpose)).scalar_one()


def test_a_live_cli_export_is_left_alone_and_a_killed_one_recovered_without_a_restart(
    services: Services, tmp_path: Path
) -> None:
    media_id = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, fps=10, seed=11)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    pause = tmp_path / "pause"
    pause.mkdir()
    live = paused_cli(services, pause, media_id, tmp_path / "a.zip")
    killed: subprocess.Popen[str] | None = None
    add_job_runner(services)  # as `vms serve --role jobs` does
    runner = RoleRunner(services, "jobs")
    try:
        row = state_of(services, "court a")
        folder = services.config.data_dir / "exports" / row.id
        assert row.state == "running" and folder.is_dir()
        # A jobs role starts beside the live CLI export and runs several rounds, each
        # longer than a lease: the CLI's heartbeat keeps the export its own.
        runner.start()
        time.sleep(3 * LEASE)
        assert services.exports.recover_interrupted() == []
        row = state_of(services, "court a")
        # Before: failed ("interrupted by a restart") and its work folder deleted under
        # the running CLI, which then failed too.
        assert row.state == "running", (row.state, row.error)
        assert folder.is_dir() and list(folder.glob("*.zip"))
        (pause / f"{POINT}.go").touch()
        _, err = live.communicate(timeout=120)
        assert live.returncode == 0, err
        assert verify.main([str(tmp_path / "a.zip")]) == 0
        assert state_of(services, "court a").state == "done"
        (pause / f"{POINT}.go").unlink()

        # A CLI export SIGKILLed mid-run: the running jobs role (not restarted) fails it
        # once its lease expired, within a lease and a round of the exports job, so it
        # no longer holds one of its creator's pending places (max_pending_per_user).
        killed = paused_cli(services, pause, media_id, tmp_path / "b.zip")
        doomed = state_of(services, "court b")
        assert doomed.state == "running"
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=30)
        wait_until(
            lambda: state_of(services, "court b").state == "failed",
            LEASE + 10,
            "the killed CLI's export failed by the running jobs role",
        )
        failed = state_of(services, "court b")
        assert failed.error == INTERRUPTED
        gone = services.config.data_dir / "exports" / failed.id
        wait_until(lambda: not gone.exists(), 10, "its work folder removed")
        with services.db.session() as s:
            pending = s.execute(
                select(func.count()).select_from(Export).where(Export.state == "running")
            ).scalar_one()
            derived = s.execute(
                select(func.count())
                .select_from(MediaItem)
                .where(MediaItem.source == SourceKind.EXPORT.value)
            ).scalar_one()
        assert pending == 0 and derived == 2  # the first export's clip and package
    finally:
        runner.stop()
        for proc in (live, killed):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            if proc is not None:
                proc.communicate(timeout=30)
