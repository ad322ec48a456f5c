"""Crash safety of the purge (INV-3): a real ``vms purge`` subprocess is killed
(SIGKILL) at every step of the procedure, then restarted; nothing held is lost, no
orphan file or row remains, the destruction log is consistent, the catalog check is
clean and the audit chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from retention.commands import NewLegalHold
from retention.plugin import get
from tests.conftest import store_env
from tests.retention.conftest import DAY, document, exists, ingest
from vms.check import Level, check
from vms.config import Config
from vms.db.models import DestructionRecord, MediaItem, PurgeIntent, SourceKind
from vms.services import Services

CRASH_POINTS = [
    "purge.after-intent",
    "purge.after-unlink",
    "purge.after-fsync",
    "purge.after-commit",
]


def run_purge(config: Config, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(config.data_dir),
        VMS_DATABASE_URL=config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
        VMS_RETENTION_PURGE_BATCH_SIZE="2",  # several batches: the crash lands mid-run
        VMS_RETENTION_DISK_ALARM_FREE_BYTES="0",
    )
    env.update(store_env(config))
    if crash_at:
        env["VMS_TEST_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "vms.cli", "purge"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("store_backend", "crash_at"),
    [
        *(("local", point) for point in CRASH_POINTS),
        # S3 (issue 13.6): the same points, and between the release of the object's legal
        # hold and its deletion.
        *(("s3", point) for point in [*CRASH_POINTS, "purge.after-release"]),
    ],
    indirect=["store_backend"],
)
def test_purge_killed_at_every_step_loses_nothing_held_INV_3(
    services: Services, config: Config, actors, crash_at: str
) -> None:
    now = services.clock.now()  # the subprocess runs on the real clock too
    expired = [ingest(services, recorded_at=now - 40 * DAY) for _ in range(5)]
    held = ingest(services, recorded_at=now - 40 * DAY)
    young = ingest(services, recorded_at=now - DAY)
    shared = document("shared-bytes")
    expired_shared = ingest(services, recorded_at=now - 40 * DAY, data=shared)
    kept_shared = ingest(
        services, source=SourceKind.BWC, device="BWC-1", recorded_at=now - DAY, data=shared
    )
    get(services).legal_holds.create(actors["commander"], NewLegalHold("LH-CRASH", "r", (held,)))
    doomed = {*expired, expired_shared}

    crashed = run_purge(config, crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    # Even mid-crash, held and unexpired media are intact.
    for media in (held, young, kept_shared):
        assert exists(services, media)

    # Restart: what `vms serve` does first (startup replay), then the next scheduled run.
    restarted = Services.open(config)
    try:
        restarted.startup_recovery()
        get(restarted).purger.run()
    finally:
        restarted.close()

    for media in (held, young, kept_shared):
        assert exists(services, media)
    with services.db.session() as s:
        remaining = set(s.execute(select(MediaItem.id)).scalars())
        destroyed = list(s.execute(select(DestructionRecord.media_id)).scalars())
        intents = s.execute(select(func.count()).select_from(PurgeIntent)).scalar_one()
    assert remaining.isdisjoint(doomed)
    assert sorted(destroyed) == sorted(doomed)  # one record per item, none twice
    assert intents == 0
    report = check(services.db, services.store, Level.HASH)
    assert report.clean, report
    assert list(services.store.orphans.iterdir()) == []
    if services.store.remote is not None:
        assert list(services.store.remote.list_objects("orphans/")) == []
    assert services.audit.verify(services.db) is None


def test_restarted_cli_purge_replays_the_intents_of_a_killed_one_INV_3(
    services: Services, config: Config
) -> None:
    """Killed after unlinking the first file of a batch of two: the second item is in
    limbo (intent, file present) and the third was never decided; ``vms purge`` again
    finishes the batch first (step 0), then purges the rest."""
    now = services.clock.now()
    doomed = [ingest(services, recorded_at=now - 40 * DAY) for _ in range(3)]
    crashed = run_purge(config, "purge.after-unlink")
    assert crashed.returncode == -signal.SIGKILL
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(PurgeIntent)).scalar_one() == 2
    assert check(services.db, services.store).missing  # the unlinked file's row, for now
    restarted = run_purge(config, None)
    assert restarted.returncode == 0, restarted.stderr
    assert all(not exists(services, m) for m in doomed)
    assert check(services.db, services.store, Level.HASH).clean
