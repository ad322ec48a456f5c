"""``vms export create --out FILE`` when FILE's disk is full (issue 15.4; ACC-10): the
command says so in one line (no traceback), leaves nothing at the destination (no
``FILE.part``), and no download is audited for a copy that was not made.

The destination is a real 64 KiB tmpfs (mounted as root, like the uploads' and the
recorder's disk-full tests); the package of a 3 s clip does not fit.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.exports.test_job_crash import T0, run_cli
from tests.media import make_video
from vms.audit.log import Who
from vms.db.models import AuditEntry, Export, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "usb"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_export_create_to_a_full_disk_says_so_and_leaves_no_part_file_ACC_10(
    services: Services, small_disk: Path
) -> None:
    media_id = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=3.0, fps=10, seed=3)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    out = small_disk / "package.zip"
    run = run_cli(
        services, "export", "create", "--media", media_id, "--purpose", "court", "--out", str(out)
    )
    # Before: a Python traceback (OSError: [Errno 28]) and package.zip.part left behind.
    assert run.returncode == 9, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert f"error: {out}" in run.stderr and "No space left on device" in run.stderr, run.stderr
    assert list(small_disk.iterdir()) == []
    with services.db.session() as s:
        export = s.execute(select(Export)).scalar_one()
        assert export.state == "done"  # the package is in the catalog: copy it again later
        downloads = s.execute(
            select(AuditEntry).where(AuditEntry.action == "media.export.download")
        ).all()
        assert downloads == []
