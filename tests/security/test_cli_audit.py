"""State-changing ``vms`` commands leave an entry in the tamper-evident audit log, as
the operating-system user who ran them (ACC-6, INV-4, PSCS-5): a command run on the
server is no way around the audit trail. Each case failed before its fix."""

from __future__ import annotations

import datetime as dt
import io
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from tests.conftest import store_env
from tests.media import make_pdf
from vms.audit.log import Who
from vms.config import Config
from vms.db.models import AuditEntry, MediaExpiry, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

WHO = Who("tester", "admin")


def vms(config: Config, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run ``vms`` on ``config``'s database and store, with extra ``VMS_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(config.data_dir),
        VMS_DATABASE_URL=config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
        **store_env(config),
        **settings,
    )
    return subprocess.run(
        [sys.executable, "-m", "vms.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def entries(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).scalars()
        )


def test_retention_recompute_is_audited_with_the_policy_it_applied_RET_12_ACC_6(
    config: Config, services: Services
) -> None:
    """After ``[retention] fixed_days`` is lowered, ``vms retention recompute`` is what
    moves the stored expiries the purge picks its candidates by (the purge never finds
    an item whose stored expiry is still ahead): it brought a street camera's clip 23
    days closer to destruction and left no trace of who did it, or with which policy."""
    recorded = services.clock.now() - dt.timedelta(hours=1)
    media_id = services.ingestor.ingest(
        io.BytesIO(make_pdf()),
        IngestRequest(source=SourceKind.FIXED, device_id="CAM-1", recorded_at=recorded),
        WHO,
    ).media_id

    r = vms(config, "retention", "recompute", VMS_RETENTION_FIXED_DAYS="7")
    assert r.returncode == 0, r.stderr
    assert "1 expiries changed" in r.stdout
    with services.db.session() as s:
        expiry = s.get(MediaExpiry, media_id)
        assert expiry is not None and expiry.expires_at == recorded + dt.timedelta(days=7)

    audited = entries(services, "retention.recompute")
    assert len(audited) == 1, "the recompute left no audit entry"
    entry = audited[0]
    assert entry.actor.startswith("cli:") and entry.outcome == "ok"
    assert entry.details["changed"] == 1
    assert entry.details["policy"]["source_days"]["fixed"] == 7
    assert services.audit.verify(services.db) is None


def test_catalog_check_repair_is_audited_with_what_it_moved_INV_1_ACC_6(
    config: Config, services: Services
) -> None:
    """``vms catalog check --repair`` moves originals that have no catalog row out of
    the store's objects (INV-1 recovery): a file whose row someone removed vanished from
    the store without a word in the audit log about who moved it, or where."""
    orphan = "f" * 64
    stored = services.store.path_for(orphan)
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"evidence whose catalog row is gone")
    old = time.time() - 24 * 3600  # settled: no ingest of it is about to commit
    os.utime(stored, (old, old))

    r = vms(config, "catalog", "check", "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (services.store.orphans / orphan).exists()  # moved, not deleted

    audited = entries(services, "catalog.repair")
    assert len(audited) == 1, "the repair left no audit entry"
    entry = audited[0]
    assert entry.actor.startswith("cli:") and entry.outcome == "ok"
    assert [o["sha256"] for o in entry.details["orphans_set_aside"]] == [orphan]
    assert entry.details["orphans_set_aside"][0]["moved_to"].endswith(orphan)
    assert services.audit.verify(services.db) is None

    # A repair with nothing to do changes nothing and writes nothing.
    assert vms(config, "catalog", "check", "--repair").returncode == 0
    assert len(entries(services, "catalog.repair")) == 1


def test_the_cli_is_audited_as_the_real_os_user_not_a_name_from_the_environment_ACC_6(
    config: Config, services: Services, tmp_path: Path
) -> None:
    """``getpass.getuser()`` takes ``LOGNAME``/``USER`` from the environment first: with
    ``USER=framed-officer`` set, disabling a user and exporting the audit log were
    recorded as ``cli:framed-officer``, whoever really ran them (PSCS-5: who did what)."""
    real = f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    spoof = {"USER": "framed-officer", "LOGNAME": "framed-officer", "USERNAME": "framed-officer"}
    disabled = vms(config, "user", "disable", "sergeant", **spoof)
    assert disabled.returncode == 0, disabled.stderr
    exported = vms(config, "audit", "export", "--out", str(tmp_path / "audit.json"), **spoof)
    assert exported.returncode == 0, exported.stderr
    actors = [
        e.actor for e in entries(services, "user.disable") + entries(services, "audit.export")
    ]
    assert actors == [real, real]


def test_a_purge_run_from_the_cli_is_audited_as_who_ran_it_RET_13_ACC_6(
    config: Config, services: Services
) -> None:
    """``vms purge`` destroyed media as ``retention-purge``, the scheduled job's name:
    the audit log could not tell a run somebody started by hand, at a moment of their
    choosing, from the job's."""
    recorded = services.clock.now() - dt.timedelta(days=40)  # past RET-1's 30 days
    media_id = services.ingestor.ingest(
        io.BytesIO(make_pdf()),
        IngestRequest(source=SourceKind.FIXED, device_id="CAM-1", recorded_at=recorded),
        WHO,
    ).media_id

    r = vms(config, "purge")
    assert r.returncode == 0, r.stderr
    assert "purged 1 items" in r.stdout
    purges = entries(services, "retention.purge")
    assert [(e.actor, e.details["media_ids"]) for e in purges] == [
        (f"cli:{pwd.getpwuid(os.getuid()).pw_name}", [media_id])
    ]
    assert services.audit.verify(services.db) is None


def test_an_admin_made_by_vms_init_is_audited_as_who_ran_it_ACC_6(
    config: Config, services: Services
) -> None:
    """``vms init --admin-user`` can be run again at any time (it is idempotent) and adds
    an administrator each time it is given a new name; that was audited as ``vms-init``,
    so the trail did not say which local user made an admin (PSCS-5: who did what)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(config.data_dir),
        VMS_DATABASE_URL=config.effective_database_url,
        **store_env(config),
    )
    r = subprocess.run(
        [sys.executable, "-m", "vms.cli", "init", "--admin-user", "ann", "--password-stdin"],
        env=env,
        input="horse battery staple\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    made = [(e.actor, e.target) for e in entries(services, "user.create")]
    assert made[-1] == (f"cli:{pwd.getpwuid(os.getuid()).pw_name}", "user:ann"), made
