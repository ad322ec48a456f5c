"""The scheduled backup set (``[backup] folder``; docs/design/backup.md): the jobs role's
run brings the set up to date, and a failed or incomplete run raises the
``backup_failed`` alarm (audited) until a complete one clears it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_config
from tests.retention.conftest import ingest
from vms.alarms import AlarmKind
from vms.backup.restore import verify_set
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import AlarmRow, AuditEntry
from vms.errors import InvalidArgument
from vms.services import Services


@pytest.fixture
def scheduled(config: Config, clock: ManualClock, tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "nightly"
    cfg = make_config(
        config.data_dir,
        config.effective_database_url,
        VMS_BACKUP_FOLDER=str(folder),
        VMS_BACKUP_INTERVAL_HOURS="12",
    )
    services = Services.open(cfg, clock=clock)
    services.migrate()
    try:
        yield services, folder
    finally:
        services.close()


def open_backup_alarms(services: Services) -> list[AlarmRow]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AlarmRow).where(
                    AlarmRow.kind == AlarmKind.BACKUP_FAILED.value, AlarmRow.cleared_at.is_(None)
                )
            ).scalars()
        )


def test_the_jobs_role_keeps_the_set_and_raises_an_alarm_when_it_fails(scheduled) -> None:  # type: ignore[no-untyped-def]
    services, folder = scheduled
    [job] = [j for j in services.jobs if j.name == "backup"]
    assert job.cluster_once and job.interval_seconds == 12 * 3600
    ingest(services, recorded_at=services.clock.now())

    job.run()
    assert verify_set(folder, check_hash=True).ok and not open_backup_alarms(services)

    # Someone put the set aside and left a file in its place: the run fails, loudly.
    folder.rename(folder.with_name("moved"))
    folder.mkdir()
    (folder / "README").write_text("not a set")
    job.run()
    [alarm] = open_backup_alarms(services)
    assert "not empty and holds no backup set" in (alarm.detail or "")
    with services.db.session() as s:
        failed = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "system.backup", AuditEntry.outcome == "failed"
            )
        ).scalar_one()
    assert failed.details["folder"] == str(folder)

    (folder / "README").unlink()
    job.run()
    assert not open_backup_alarms(services) and verify_set(folder).ok


def test_no_schedule_without_a_folder_and_a_relative_one_is_refused(config: Config) -> None:
    services = Services.open(config)
    try:
        assert not [j for j in services.jobs if j.name == "backup"]
    finally:
        services.close()
    with pytest.raises(InvalidArgument, match="folder must be an absolute path, not 'nightly'"):
        make_config(config.data_dir, config.effective_database_url, VMS_BACKUP_FOLDER="nightly")
    with pytest.raises(InvalidArgument, match=r"interval_hours must be above 0, not 0\.0"):
        make_config(config.data_dir, config.effective_database_url, VMS_BACKUP_INTERVAL_HOURS="0")
