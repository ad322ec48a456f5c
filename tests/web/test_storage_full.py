"""The embedded database on a full disk (docs/design/storage.md; SQLite is the default
and shares the data folder with the media): a request that writes gets a 507
``insufficient_storage`` saying the database's disk is full, never a bare 500, and a CLI
command one line saying so (exit status 9), never a traceback; both work again once
there is room.

Real numbers: the data folder, database included, is a 32 MiB tmpfs mounted for the
test (as root, like the uploads' and the recorder's disk-full tests), then filled.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_config
from tests.security.test_upload_storage import bearer, client_and_tokens
from tests.vms.test_audit_checkpoint_failures import fill
from tests.vms.test_crash_safety import run_cli
from vms.services import Services


@pytest.fixture
def sqlite_on_small_disk(database: tuple[str, Path], tmp_path: Path) -> Iterator[Services]:
    _url, data_dir = database
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        shutil.copytree(data_dir / "secrets", mount / "secrets")
        shutil.copy(data_dir / "vms.db", mount / "vms.db")
        services = Services.open(make_config(mount, f"sqlite:///{mount / 'vms.db'}"))
        try:
            services.migrate()
            yield services
        finally:
            services.close()
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_write_to_a_database_on_a_full_disk_is_a_507_naming_it(
    sqlite_on_small_disk: Services,
) -> None:
    services = sqlite_on_small_disk
    client, tokens = client_and_tokens(services)
    headers = bearer(tokens, "investigator")
    filler = fill(services.config.data_dir)
    refused = client.post("/api/v1/cases", json={"case_number": "C-1"}, headers=headers)
    # Before: 500 {"kind": "internal", "message": "internal error"}.
    assert refused.status_code == 507, refused.json
    assert refused.json["error"]["kind"] == "insufficient_storage"
    assert "database" in refused.json["error"]["message"]
    assert "full" in refused.json["error"]["message"]
    filler.unlink()
    made = client.post("/api/v1/cases", json={"case_number": "C-1"}, headers=headers)
    assert made.status_code == 201, made.json


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_cli_command_writing_to_a_database_on_a_full_disk_says_so_in_one_line(
    sqlite_on_small_disk: Services,
) -> None:
    services = sqlite_on_small_disk
    filler = fill(services.config.data_dir)
    run = run_cli(services.config, "user", "revoke-tokens", "officer")
    # Before: a traceback ending in sqlalchemy.exc.OperationalError, exit status 1.
    assert run.returncode == 9, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "error: the database's disk is full" in run.stderr, run.stderr
    filler.unlink()
    again = run_cli(services.config, "user", "revoke-tokens", "officer")
    assert again.returncode == 0, again.stderr
