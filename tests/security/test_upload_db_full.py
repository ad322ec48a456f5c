"""An upload refused because the database cannot take it (docs/design/storage.md,
"Resumable uploads"; #10.9): the disk holding the embedded database has a page left, so
the free-space check passes and the upload file is made, then the database refuses the
upload's row (SQLite: database or disk is full). The uploader gets a 507 and no upload
file is left behind without its row (nothing would ever remove it: the expiry job walks
rows).

Real numbers: the data folder, database included, is a 32 MiB tmpfs mounted for the
test (as root, like tests/security/test_upload_storage.py).
"""

from __future__ import annotations

import os

import pytest

from tests.security.test_upload_storage import bearer, client_and_tokens, create
from tests.vms.test_audit_checkpoint_failures import PAGE, fill
from tests.web.test_storage_full import sqlite_on_small_disk
from vms.services import Services

__all__ = ["sqlite_on_small_disk"]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_upload_the_database_refuses_leaves_no_upload_file(
    sqlite_on_small_disk: Services,
) -> None:
    services = sqlite_on_small_disk
    client, tokens = client_and_tokens(services)
    headers = bearer(tokens, "officer")
    filler = fill(services.config.data_dir)
    os.truncate(filler, filler.stat().st_size - PAGE)  # one page: room for a 1-byte upload
    refused = create(client, headers, 1)
    assert refused.status_code == 507, refused.json
    assert "database" in refused.json["error"]["message"]
    # Before: uploads/<id>.part was left, with no row naming it.
    assert list(services.uploads.directory.glob("*.part")) == []
