"""Uploads on a disk whose inode table is full (#10.9; docs/design/storage.md): there are
free bytes but no new file can be made, so the free-space checks pass and the first
``open(O_CREAT)`` or ``mkdir`` fails with ENOSPC. The uploader gets a 507
``insufficient_storage`` naming the problem, never a bare 500, and the upload can be
completed once files can be made again.

Real numbers: the data folder is a tmpfs with 400 inodes mounted for the test (as root,
like tests/security/test_upload_storage.py); the database stays outside it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_config
from tests.media import make_video
from tests.security.test_upload_storage import bearer, client_and_tokens, put
from vms.services import Services


@pytest.fixture
def few_inodes(database: tuple[str, Path], tmp_path: Path) -> Iterator[Services]:
    """Services whose data folder is a 64 MiB tmpfs with 400 inodes."""
    url, data_dir = database
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=400", "tmpfs", str(mount)],
        check=True,
    )
    try:
        shutil.copytree(data_dir / "secrets", mount / "secrets")
        services = Services.open(make_config(mount, url))
        try:
            services.migrate()
            yield services
        finally:
            services.close()
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def take_every_inode(folder: Path) -> Path:
    """Empty files until the file system can make no more (ENOSPC)."""
    filler = folder / "inodes"
    filler.mkdir()
    n = 0
    try:
        while True:
            (filler / str(n)).touch()
            n += 1
    except OSError:
        pass
    return filler


def test_a_full_inode_table_is_a_507_on_create_and_complete_and_the_upload_resumes(
    few_inodes: Services,
) -> None:
    services = few_inodes
    client, tokens = client_and_tokens(services)
    headers = bearer(tokens, "officer")
    data = make_video(seconds=1.0, seed=4)
    body = {
        "filename": "a.mp4",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "bwc",
        "device_id": "BWC-0042",
    }
    r = client.post("/api/v1/uploads", json=body, headers=headers)
    assert r.status_code == 201, r.json
    upload_id = r.json["id"]
    assert put(client, headers, upload_id, data, 0, len(data)).status_code == 200
    filler = take_every_inode(services.config.data_dir)

    # Before: 500 {"kind": "internal", "message": "internal error"} for both.
    refused = client.post("/api/v1/uploads", json=body, headers=headers)
    assert refused.status_code == 507, refused.json
    assert refused.json["error"]["kind"] == "insufficient_storage"
    assert "No space left on device" in refused.json["error"]["message"]
    complete = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=headers)
    assert complete.status_code == 507, complete.json
    assert complete.json["error"]["kind"] == "insufficient_storage"
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=headers).json["state"] == "receiving"

    # Files can be made again: the same upload completes.
    shutil.rmtree(filler)
    complete = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=headers)
    assert complete.status_code == 200, complete.json
