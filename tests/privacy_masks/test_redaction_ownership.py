"""Who runs a redaction job (docs/design/redaction.md, "Who runs a step"; the exports'
design, vms/row_leases.py): the process running a job's step holds the job's lease, so a
jobs role starting beside it (another jobs host, or this one restarted) leaves the live
step alone, its row and its work folder; a runner SIGKILLed mid-render is failed by the
running jobs role within a lease and a round, without a restart; and a runner stalled
past its lease and taken over stops instead of failing (or finishing) the job again.

The runner is a real process running the service's ``run_pending`` (as the jobs role's
``redactions`` job does), paused at ``redaction.after-render`` (vms/faults.py); the jobs
role beside it is a real RoleRunner with its job runner, on the same database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from privacy_masks.redaction import INTERRUPTED, NewRedaction, RedactionService
from tests.conftest import make_config
from tests.privacy_masks.redaction_media import street_video
from tests.privacy_masks.test_redaction import ingest
from vms.auth.permissions import Actor
from vms.clock import SystemClock
from vms.db.models import AuditEntry, MediaItem, Redaction, SourceKind
from vms.roles import RoleRunner, add_job_runner
from vms.services import Services

# [cluster] job_lease_seconds of the runner and the jobs role here.
LEASE = 1.0
POINT = "redaction.after-render"  # the redacted video written, nothing signed yet
RUN = (
    "from vms.config import load_config\n"
    "from vms.services import Services\n"
    "from privacy_masks.redaction import RedactionService\n"
    "services = Services.open(load_config())\n"
    "print(services.ports.get(RedactionService).run_pending())\n"
)


@pytest.fixture
def services(database: tuple[str, Path]) -> Iterator[Services]:
    """Services on the system clock (the runner's leases are on it), a short lease and a
    short poll of the redactions job."""
    url, data_dir = database
    config = make_config(
        data_dir,
        url,
        VMS_CLUSTER_JOB_LEASE_SECONDS=str(LEASE),
        VMS_CLUSTER_NODE_ID="jobs-b",
        VMS_REDACTION_POLL_SECONDS="0.2",
    )
    svc = Services.open(config, clock=SystemClock())
    svc.migrate()
    try:
        yield svc
    finally:
        svc.close()


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


def paused_runner(services: Services, pause: Path) -> subprocess.Popen[str]:
    """Another process (node ``jobs-a``) running the oldest queued render, paused at POINT
    until ``<POINT>.go`` appears in ``pause`` (a folder of its own)."""
    pause.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(services.config.data_dir),
        VMS_DATABASE_URL=services.config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
        VMS_CLUSTER_JOB_LEASE_SECONDS=str(LEASE),
        VMS_CLUSTER_NODE_ID="jobs-a",
        VMS_TEST_PAUSE_AT=POINT,
        VMS_TEST_PAUSE_DIR=str(pause),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: (pause / f"{POINT}.paused").exists() or proc.poll() is not None, 120, POINT)
    if proc.poll() is not None:
        raise AssertionError(proc.communicate())
    return proc


def stop_outside_a_write(proc: subprocess.Popen[str], services: Services, job_id: str) -> None:
    """SIGSTOP ``proc`` at a moment it holds no write lock. Paused, it still renews its
    job's lease every third of a lease; stopped inside that write, it would hold SQLite's
    one write lock (PostgreSQL: the job's row) until it woke, and nothing could take the
    job over: not what is examined (a stalled runner is taken over), and under load it
    made the takeover miss its deadline (CI, session 30: ``database is locked``)."""
    for _ in range(200):
        os.kill(proc.pid, signal.SIGSTOP)
        tasks = Path(f"/proc/{proc.pid}/task")
        wait_until(
            lambda: all(
                (t / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
                for t in tasks.iterdir()
            ),
            10,
            "the runner stopped",
        )
        if not write_locked(services, job_id):
            return
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the runner was inside a write each of 200 times it was stopped")


def write_locked(services: Services, job_id: str) -> bool:
    """Whether another connection holds the write lock a takeover of ``job_id`` needs."""
    if services.db.dialect == "sqlite":
        path = services.db.engine.url.database
        assert path
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    with services.db.engine.connect() as c:
        try:
            c.execute(
                text("SELECT id FROM redactions WHERE id = :id FOR UPDATE NOWAIT"), {"id": job_id}
            )
            return False
        except OperationalError:
            return True
        finally:
            c.rollback()


def reviewed_jobs(services: Services, actor: Actor, media_id: str, n: int) -> list[str]:
    """``n`` jobs analysed (in this process) and queued for rendering, oldest first: each
    of its own method (the same request again while queued is the same job)."""
    service = services.ports.get(RedactionService)
    methods = ("solid", "pixelate", "blur")
    jobs = [service.create(actor, NewRedaction(media_id, ("faces",), methods[i])) for i in range(n)]
    service.run_pending()
    for job in jobs:
        service.render(actor, job.id)
        time.sleep(0.01)  # rendered in this order
    return [job.id for job in jobs]


def row_of(services: Services, redaction_id: str) -> Redaction:
    with services.db.session() as s:
        row = s.get(Redaction, redaction_id)
        assert row is not None
        return row


def audited(services: Services, action: str) -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            ).scalar_one()
        )


def redacted_items(services: Services) -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count())
                .select_from(MediaItem)
                .where(MediaItem.source == SourceKind.REDACTED.value)
            ).scalar_one()
        )


def stop(proc: subprocess.Popen[str] | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def test_a_live_render_is_left_alone_by_a_starting_jobs_role_a_killed_one_failed_unrestarted(
    services: Services, actors: dict[str, Actor], tmp_path: Path
) -> None:
    actor = actors["investigator"]
    media_id = ingest(services, street_video())
    service = services.ports.get(RedactionService)
    live_id, doomed_id = reviewed_jobs(services, actor, media_id, 2)
    live = paused_runner(services, tmp_path / "live")
    killed = paused_runner(services, tmp_path / "killed")
    add_job_runner(services)  # as `vms serve --role jobs` does
    runner = RoleRunner(services, "jobs")
    try:
        folders = [service.work_dir / live_id, service.work_dir / doomed_id]
        for job_id, folder in zip((live_id, doomed_id), folders, strict=True):
            assert row_of(services, job_id).state == "rendering"
            assert (folder / "rendered.mp4").is_file()
        # A second jobs host starts beside the live renders and runs rounds of the
        # redactions job for several leases: each runner's heartbeat keeps its job.
        runner.start()
        time.sleep(3 * LEASE)
        assert service.recover_interrupted() == []
        for job_id, folder in zip((live_id, doomed_id), folders, strict=True):
            row = row_of(services, job_id)
            # Before: failed ("interrupted by a restart") at the start, its work folder
            # deleted under the running render.
            assert row.state == "rendering", (row.state, row.error)
            assert (folder / "rendered.mp4").is_file()
        (tmp_path / "live" / f"{POINT}.go").touch()
        _, err = live.communicate(timeout=120)
        assert live.returncode == 0, err
        row = row_of(services, live_id)
        assert (row.state, row.error) == ("done", None)
        assert redacted_items(services) == 1

        # A runner SIGKILLed mid-render: the running jobs role (not restarted) fails its
        # job once its lease expired, within a lease and a round of the redactions job,
        # so it no longer holds one of its creator's pending places.
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=30)
        wait_until(
            lambda: row_of(services, doomed_id).state == "failed",
            LEASE + 10,
            "the killed runner's redaction failed by the running jobs role",
        )
        assert row_of(services, doomed_id).error == INTERRUPTED
        wait_until(lambda: not folders[1].exists(), 10, "its work folder removed")
        assert audited(services, "redaction.fail") == 1
        assert redacted_items(services) == 1
    finally:
        runner.stop()
        stop(live)
        stop(killed)


def test_a_stalled_runner_taken_over_stops_instead_of_failing_or_finishing_it_again(
    services: Services, actors: dict[str, Actor], tmp_path: Path
) -> None:
    actor = actors["investigator"]
    media_id = ingest(services, street_video())
    service = services.ports.get(RedactionService)
    (job_id,) = reviewed_jobs(services, actor, media_id, 1)
    stalled = paused_runner(services, tmp_path / "stalled")
    add_job_runner(services)
    runner = RoleRunner(services, "jobs")
    try:
        runner.start()
        # The runner's whole process stops (SIGSTOP: a machine paused, swapping): its
        # lease runs out and the jobs role takes the job over and fails it.
        stop_outside_a_write(stalled, services, job_id)
        wait_until(
            lambda: row_of(services, job_id).state == "failed",
            LEASE + 10,
            "the stalled runner's redaction taken over",
        )
        assert row_of(services, job_id).error == INTERRUPTED
        # It wakes and goes on: fenced by its lost lease, it stops where it is.
        os.kill(stalled.pid, signal.SIGCONT)
        (tmp_path / "stalled" / f"{POINT}.go").touch()
        _, err = stalled.communicate(timeout=120)
        assert stalled.returncode == 0, err
        row = row_of(services, job_id)
        assert (row.state, row.error) == ("failed", INTERRUPTED)
        # Failed once (before: a second "redaction.fail" from the woken runner).
        assert audited(services, "redaction.fail") == 1
        assert audited(services, "media.redact") == 0
        assert redacted_items(services) == 0
        wait_until(lambda: not (service.work_dir / job_id).exists(), 10, "its folder removed")
    finally:
        runner.stop()
        stop(stalled)
