"""INV-1: a process killed at any step of ingest leaves nothing or a complete item.

Each case runs ``vms ingest`` in a real subprocess that SIGKILLs itself at one numbered
step (vms/faults.py), then runs the startup recovery and ``vms catalog check``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import store_env
from tests.media import make_pdf, make_video
from vms.check import Level, check, recover
from vms.clock import SystemClock
from vms.config import Config
from vms.db.models import MediaItem
from vms.services import Services
from vms.store import ORPHAN_GRACE, STALE_UPLOAD

STEPS = [
    ("ingest.after-copy", False),
    ("ingest.after-probe", False),
    ("ingest.after-fsync", False),
    ("ingest.after-rename", False),
    ("ingest.after-commit", True),
]


def run_cli(
    config: Config,
    *args: str,
    crash_at: str | None = None,
    stdin: str | None = None,
    script: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``vms <args>`` in a subprocess on ``config``'s data; with ``script``, that Python
    code is run instead of ``-m vms.cli`` (it runs the CLI itself, after a change of
    its own), ``args`` after it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(config.data_dir),
        VMS_DATABASE_URL=config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
    )
    env.update(store_env(config))
    if crash_at:
        env["VMS_TEST_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, *(("-c", script) if script else ("-m", "vms.cli")), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def media_count(services: Services) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.count()).select_from(MediaItem)).scalar_one())


@pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)
@pytest.mark.parametrize(("step", "committed"), STEPS)
def test_killed_ingest_leaves_nothing_or_a_complete_item_INV_1(
    services: Services, config: Config, tmp_path: Path, step: str, committed: bool
) -> None:
    clip = tmp_path / "clip.mp4"
    make_video(clip, seconds=1)

    proc = run_cli(
        config, "ingest", str(clip), "--source", "bwc", "--device", "BWC-9", crash_at=step
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    services.startup_recovery()
    remote = services.store.remote
    orphan = 1 if step == "ingest.after-rename" else 0
    if remote is not None and orphan:
        # A young object without its row may be another node's ingest about to commit
        # (no local lock shows it): left alone, and not reported, within ORPHAN_GRACE.
        assert len(list(remote.list_objects("objects/"))) == 1
        assert check(services.db, services.store, Level.HASH).clean
        later = SystemClock().now() + ORPHAN_GRACE + dt.timedelta(minutes=1)
        assert check(services.db, services.store, Level.HASH, now=later).orphaned
        recover(services.db, services.store, now=later)
    report = check(services.db, services.store, Level.HASH)
    assert report.clean, report
    assert media_count(services) == (1 if committed else 0)
    assert services.audit.verify(services.db) is None
    # Killed between placing and cataloguing: the orphan was set aside, never deleted.
    if remote is None:
        set_aside: list[object] = list(services.store.orphans.iterdir())
    else:
        set_aside = list(remote.list_objects("orphans/"))
    assert len(set_aside) == orphan

    # The file can be ingested again afterwards: once, or reported as the duplicate.
    again = run_cli(config, "ingest", str(clip), "--source", "bwc", "--device", "BWC-9", "--json")
    assert again.returncode == 0, again.stderr
    assert ('"duplicate": true' in again.stdout) is committed
    assert media_count(services) == 1
    assert check(services.db, services.store, Level.HASH).clean
    if remote is not None:  # the original is in the bucket, nowhere on local disk
        assert len(list(remote.list_objects("objects/"))) == 1
        assert list(services.store.iter_objects()) == []


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_killed_during_a_multipart_upload_leaves_an_upload_recovery_aborts_INV_1(
    services: Services, config: Config, tmp_path: Path
) -> None:
    """S3 backend, a file above one part: killed after a part was sent. Nothing is
    visible in the bucket; the unfinished upload is left to its writer while young and
    listed by the check, then aborted by the recovery, once older than STALE_UPLOAD."""
    remote = services.store.remote
    assert remote is not None
    big = tmp_path / "big.pdf"
    pad = b"%" + b"x" * (6 * 1024**2) + b"\n"
    big.write_bytes(make_pdf().replace(b"%PDF-1.4\n", b"%PDF-1.4\n" + pad, 1))
    small_parts = dataclasses.replace(
        config, store=dataclasses.replace(config.store, part_bytes=5 * 1024**2)
    )
    proc = run_cli(
        small_parts,
        "ingest", str(big), "--source", "bwc", "--device", "BWC-9",
        crash_at="ingest.after-part",
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert list(remote.list_objects("objects/")) == [] and media_count(services) == 0
    assert len(remote.uploads("objects/")) == 1
    services.startup_recovery()  # a young upload may be a live writer's: left alone
    assert len(remote.uploads("objects/")) == 1
    later = SystemClock().now() + STALE_UPLOAD + dt.timedelta(minutes=1)
    assert len(check(services.db, services.store, now=later).temp_files) == 1
    report = recover(services.db, services.store, now=later)
    assert report.clean, report
    assert remote.uploads("objects/") == []
    again = run_cli(small_parts, "ingest", str(big), "--source", "bwc", "--device", "BWC-9")
    assert again.returncode == 0, again.stderr
    assert check(services.db, services.store, Level.HASH).clean
    assert len(list(remote.list_objects("objects/"))) == 1


def test_recovery_does_not_touch_an_ingest_in_progress(services: Services, tmp_path: Path) -> None:
    """A temp file whose writer is alive (it holds the flock) is not removed."""
    import fcntl

    services.store.create_dirs()
    part = services.store.tmp / "live.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        services.startup_recovery()
        assert part.exists()
    finally:
        os.close(fd)
    services.startup_recovery()
    assert not part.exists()
