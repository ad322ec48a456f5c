"""Signed audit checkpoints when writing their witness fails (issue 14, item 1; INV-4).

The log file ``<data_dir>/audit/checkpoints.log`` is written before the checkpoint's
transaction commits. Here its folder is a real, small tmpfs (mounted as root, like the
recorder's and the uploads' disk-full tests) that fills up: a checkpoint that cannot be
written whole is not committed, and the file keeps only whole lines. A checkpoint that
fails after its line was written (the object store down) takes its line back. So ``vms
audit verify`` raises no false alarm of a deleted checkpoint once things work again.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.vms.test_audit_checkpoints import add_entries, head_seq
from tests.vms.test_crash_safety import run_cli
from vms.audit.checkpoints import Checkpoints
from vms.db.models import AuditCheckpoint, AuditEntry
from vms.errors import InsufficientStorage, Unavailable
from vms.s3 import S3Bucket, S3Settings
from vms.services import Services

PAGE = 4096  # tmpfs hands out whole pages: a write that needs one more is cut short


@pytest.fixture
def small_log_disk(services: Services) -> Iterator[Path]:
    """The checkpoint log's folder as a 64 KiB tmpfs (unmounted after)."""
    folder = services.checkpoints.log_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Take every free page of ``folder``'s file system (ENOSPC after)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * PAGE)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_checkpoint_whose_log_line_does_not_fit_is_not_signed_and_no_torn_line_is_left_INV_4(
    services: Services, small_log_disk: Path
) -> None:
    cps = services.checkpoints
    # Sign until the next line would cross into a page the full disk cannot give.
    while True:
        add_entries(services, 1)
        made = cps.sign_now()
        assert made is not None
        text = cps.log_path.read_bytes()
        line = len(text.splitlines()[-1]) + 1
        room = PAGE - len(text) % PAGE
        if room < line - 16:
            break
    filler = fill(small_log_disk)
    before = cps.log_path.read_bytes()
    add_entries(services, 1)
    # Before: the short write was taken for the whole line: a torn line in the file and
    # a checkpoint committed that the file does not hold.
    with pytest.raises(InsufficientStorage, match=r"checkpoints\.log is full"):
        cps.sign_now()
    assert cps.log_path.read_bytes() == before  # whole lines only
    with services.db.session() as s:
        signed = s.execute(select(AuditCheckpoint.seq)).scalars().all()
    assert head_seq(services) not in signed  # nothing committed without its witness
    # Room again: the next checkpoint is signed and verify finds table and file agree.
    filler.unlink()
    made = cps.sign_now()
    assert made is not None and made.seq == head_seq(services)
    report = cps.verify()
    assert report.problems == [], report.problems


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_checkpoint_the_object_store_did_not_take_leaves_no_line_claiming_it_INV_4(
    services: Services,
) -> None:
    """The object store (the second witness) is down while the job signs: the checkpoint
    is not committed, and its line is not left in the log file either, else ``verify``
    reports it as a checkpoint deleted from the table once the job signs again."""
    cps = services.checkpoints
    add_entries(services, 3)
    assert cps.sign_now() is not None
    before = cps.log_path.read_bytes()
    down = S3Bucket(
        S3Settings(
            endpoint=f"http://127.0.0.1:{closed_port()}",
            bucket="audit",
            region="us-east-1",
            access_key_id="vms",
            secret_access_key="unused",  # nothing listens
        )
    )
    outage = Checkpoints(
        services.db,
        services.audit,
        cps.signer,
        services.clock,
        cps.log_path.parent,
        remote=down,
        every_entries=cps.every_entries,
        every_minutes=1.0,
    )
    add_entries(services, 2)
    with pytest.raises(Unavailable, match="object store"):
        outage.sign_now()
    # Before: the line stayed, and verify said "checkpoint N is in .../checkpoints.log
    # but not in the database (deleted)".
    assert cps.log_path.read_bytes() == before
    add_entries(services, 2)
    made = cps.sign_now()
    assert made is not None and made.seq == head_seq(services)
    report = cps.verify()
    assert report.problems == [], report.problems


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, as a person's destination folder (unmounted after)."""
    mount = tmp_path / "usb"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("command", [("export",), ("monthly", "--month", "2026-11")])
def test_an_audit_file_written_to_a_full_disk_is_a_one_line_error_leaving_nothing_ACC_6(
    services: Services, small_disk: Path, command: tuple[str, ...]
) -> None:
    """``vms audit export`` (and ``monthly``) with ``--out`` on a full disk: the command
    names the file and the reason (exit 9, no traceback), leaves no temporary file there,
    and audits no export that was not written."""
    add_entries(services, 3)
    filler = fill(small_disk)  # the person's disk is full
    out = small_disk / "audit.json"
    format_ = ("--format", "json") if command[0] == "monthly" else ()
    run = run_cli(services.config, "audit", *command, *format_, "--out", str(out))
    # Before: a traceback (OSError: [Errno 28] No space left on device), exit status 1.
    assert run.returncode == 9, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert f"error: {out}: No space left on device" in run.stderr, run.stderr
    assert list(small_disk.iterdir()) == [filler]
    with services.db.session() as s:
        exported = s.execute(select(AuditEntry).where(AuditEntry.action == "audit.export"))
        assert exported.all() == []
