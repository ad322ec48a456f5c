"""What the CLI writes where an operator tells it (``--out``) is private to the VMS's user
and never written through a name another local user planted (issue 10, item 12).

The folder an export, an audit export or a monthly audit goes to is often shared (a
hand-over folder, ``/tmp``): the temporary names the CLI wrote through were predictable
(``.<out>.tmp``, ``<out>.part``, ``verify_audit_export.py``), so whoever could write that
folder planted a link there (the CLI then wrote evidence or a report through it, over any
file the VMS's user may write) or a file of their own (the CLI filled it keeping its
owner and mode: the package readable by them, the verifier left for them to change).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.media import make_video
from vms.audit import verify_export
from vms.audit.log import Who
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

PRECIOUS = "precious\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def cli(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VMS_DATA_DIR", str(services.config.data_dir))
    monkeypatch.setenv("VMS_DATABASE_URL", services.config.effective_database_url)
    monkeypatch.setenv("VMS_INGEST_MIN_FREE_BYTES", "0")
    old = os.umask(0o022)  # restored: the CLI narrows the process's umask when it opens
    yield
    os.umask(old)


def plant(folder: Path, name: str, victim: Path) -> None:
    """A link another local user left in a shared folder, named as the CLI's temp file."""
    (folder / name).symlink_to(victim)


def planted_file(folder: Path, name: str) -> Path:
    """A file of another local user's, open to everyone, named as the CLI writes."""
    path = folder / name
    path.write_text("theirs\n")
    os.chmod(path, 0o666)
    return path


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "handover"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text(PRECIOUS)
    return folder, victim


def test_monthly_audit_out_is_not_written_through_a_planted_link(
    cli: None, shared: tuple[Path, Path]
) -> None:
    from vms.cli import main

    folder, victim = shared
    plant(folder, ".m.csv.tmp", victim)
    out = folder / "m.csv"
    assert (
        main(["audit", "monthly", "--month", "2026-10", "--format", "csv", "--out", str(out)]) == 0
    )
    assert victim.read_text() == PRECIOUS
    assert not out.is_symlink() and "metric" in out.read_text()
    assert mode(out) == 0o600


def test_audit_export_and_its_verifier_are_private_and_not_planted(
    cli: None, shared: tuple[Path, Path]
) -> None:
    from vms.cli import main

    folder, victim = shared
    plant(folder, ".audit.json.tmp", victim)
    verifier = planted_file(folder, "verify_audit_export.py")
    out = folder / "audit.json"
    assert main(["audit", "export", "--out", str(out)]) == 0
    assert victim.read_text() == PRECIOUS
    assert not out.is_symlink() and mode(out) == 0o600
    # The verifier the recipient runs is ours, and nobody else may change it.
    assert verifier.read_bytes() == Path(verify_export.__file__).read_bytes()
    assert mode(verifier) & 0o022 == 0


def test_export_package_out_is_private_and_not_written_through_a_link(
    services: Services, cli: None, shared: tuple[Path, Path]
) -> None:
    from vms.cli import main

    media_id = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=0.5)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1"),
        Who("t", "admin"),
    ).media_id
    folder, victim = shared
    plant(folder, "package.zip.part", victim)
    out = folder / "package.zip"
    args = ["export", "create", "--media", media_id, "--purpose", "court", "--out", str(out)]
    assert main(args) == 0
    assert victim.read_text() == PRECIOUS
    assert not out.is_symlink() and out.read_bytes().startswith(b"PK")
    assert mode(out) == 0o600
