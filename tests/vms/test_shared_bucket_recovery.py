"""Start-up recovery on one node while another node ingests into the same S3 bucket
(ARCHITECTURE.md 1: media nodes, web and jobs hosts share one PostgreSQL database and
one bucket). INV-1: the recovery never takes another node's original, uploaded and
about to be catalogued, for an orphan.

The recovery cannot see the other host's file lock. It judged an object by its age
alone (``ORPHAN_GRACE`` on the store's ``LastModified``), but that age is no proof the
ingest is over: on AWS S3 an object made by a multipart upload is dated when the upload
*began*, so a large BWC file whose upload took longer than the grace is "old" the moment
it appears, a moment before its row commits. The ingest holds the database's lock of
the hash prefix from before the upload until the commit (``Database.hash_lock``); the
recovery must respect it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.media import make_pdf
from vms.audit.log import Who
from vms.check import Level, check, recover
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services
from vms.store import ORPHAN_GRACE, STALE_UPLOAD


# Several hosts share a PostgreSQL database, never a SQLite file.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_recovery_leaves_an_object_another_node_is_cataloguing_INV_1(
    services: Services,
    config: Config,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The uploading node: its own data folder (temp files, file locks), the same
    # database, bucket and secrets.
    web_dir = tmp_path / "web-node"
    web_dir.mkdir()
    shutil.copytree(config.data_dir / "secrets", web_dir / "secrets")
    web = Services.open(dataclasses.replace(config, data_dir=web_dir), clock=clock)
    # The object as the store dates it: its upload began longer ago than the grace.
    dated_old = dt.datetime.now(dt.UTC) + ORPHAN_GRACE + dt.timedelta(minutes=5)
    try:
        catalogue = web.ingestor._catalogue

        def recovery_meanwhile(*args: Any, **kwargs: Any) -> str:
            # Uploaded, not yet catalogued: another node starts (or an admin repairs).
            recover(services.db, services.store, now=dated_old)
            return catalogue(*args, **kwargs)

        monkeypatch.setattr(web.ingestor, "_catalogue", recovery_meanwhile)
        new = web.ingestor.ingest(
            io.BytesIO(make_pdf()),
            IngestRequest(source=SourceKind.BWC, device_id="BWC-7", recorded_at=clock.now()),
            Who("officer", "officer"),
        )
    finally:
        web.close()
    report = check(services.db, services.store, Level.PRESENCE)
    assert new.media_id not in report.missing, "the recovery set a new item's original aside"
    assert check(services.db, services.store, Level.HASH).clean


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_recovery_leaves_a_multipart_upload_another_node_is_sending_INV_1(
    services: Services,
    config: Config,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file above one part goes up as a multipart upload; one that has been under way
    longer than ``STALE_UPLOAD`` (a large file, a slow link) is no crashed writer's
    leftover while its writer holds the hash prefix's lock: not aborted."""
    web_dir = tmp_path / "web-node"
    web_dir.mkdir()
    shutil.copytree(config.data_dir / "secrets", web_dir / "secrets")
    small_parts = dataclasses.replace(
        config, data_dir=web_dir, store=dataclasses.replace(config.store, part_bytes=5 * 1024**2)
    )
    web = Services.open(small_parts, clock=clock)
    began_long_ago = dt.datetime.now(dt.UTC) + STALE_UPLOAD + dt.timedelta(minutes=5)
    try:
        remote = web.store.remote
        assert remote is not None
        send_part = remote._checksummed.upload_part
        recovered: list[bool] = []

        def recovery_meanwhile(**kwargs: Any) -> Any:
            if not recovered:  # a part is on its way: another node starts
                recovered.append(True)
                recover(services.db, services.store, now=began_long_ago)
            return send_part(**kwargs)

        monkeypatch.setattr(remote._checksummed, "upload_part", recovery_meanwhile)
        pad = b"%" + b"x" * (6 * 1024**2) + b"\n"
        new = web.ingestor.ingest(
            io.BytesIO(make_pdf().replace(b"%PDF-1.4\n", b"%PDF-1.4\n" + pad, 1)),
            IngestRequest(source=SourceKind.BWC, device_id="BWC-8", recorded_at=clock.now()),
            Who("officer", "officer"),
        )
    finally:
        web.close()
    assert recovered
    assert not new.duplicate
    assert check(services.db, services.store, Level.HASH).clean
