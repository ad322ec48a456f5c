"""A redaction job killed mid-render (issue 16, item 3; the exports' pattern, issue
15.6): a real subprocess runs the render through the same service as the jobs role and
is SIGKILLed once the redacted video is written (vms/faults.py); when the jobs role
starts after the killed runner's lease expired (docs/design/redaction.md, "Who runs a
step"), the job is marked failed, its work folder removed, and nothing of it is in the
catalog."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sqlalchemy import func, select

from privacy_masks.redaction import INTERRUPTED, NewRedaction, RedactionService
from tests.privacy_masks.redaction_media import street_video
from tests.privacy_masks.test_redaction import ingest
from tests.privacy_masks.test_redaction_ownership import LEASE, services
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, MediaItem, Redaction, SourceKind
from vms.roles import RoleRunner
from vms.services import Services

__all__ = ["services"]  # the fixture: system clock, short lease

RUN = (
    "from vms.config import load_config\n"
    "from vms.services import Services\n"
    "from privacy_masks.redaction import RedactionService\n"
    "services = Services.open(load_config())\n"
    "print(services.ports.get(RedactionService).run_pending())\n"
)


def test_a_render_killed_mid_way_is_failed_when_the_jobs_role_starts(
    services: Services, actors: dict[str, Actor]
) -> None:
    media_id = ingest(services, street_video())
    service = services.ports.get(RedactionService)
    job = service.create(actors["investigator"], NewRedaction(media_id, ("faces",), "solid"))
    service.run_pending()
    service.render(actors["investigator"], job.id)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(services.config.data_dir),
        VMS_DATABASE_URL=services.config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
        VMS_CLUSTER_JOB_LEASE_SECONDS=str(LEASE),
        VMS_TEST_CRASH_AT="redaction.after-render",
    )
    killed = subprocess.run(
        [sys.executable, "-c", RUN], env=env, capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -9, killed.stderr
    folder = service.work_dir / job.id
    assert (folder / "rendered.mp4").is_file()
    with services.db.session() as s:
        row = s.get(Redaction, job.id)
        assert row is not None and row.state == "rendering"
    time.sleep(LEASE + 0.3)  # the killed runner's lease expires
    runner = RoleRunner(services, "jobs")
    runner.start()
    try:
        with services.db.session() as s:
            row = s.get(Redaction, job.id)
            assert row is not None and row.state == "failed" and row.error == INTERRUPTED
            derived = s.execute(
                select(func.count())
                .select_from(MediaItem)
                .where(MediaItem.source == SourceKind.REDACTED.value)
            ).scalar_one()
            assert derived == 0
            fail = s.execute(
                select(AuditEntry).where(AuditEntry.action == "redaction.fail")
            ).scalar_one()
            assert fail.details["redaction_id"] == job.id and fail.outcome == "error"
    finally:
        runner.stop()
    assert not folder.exists()
