"""Two nodes sharing one S3 bucket and one PostgreSQL database (ARCHITECTURE.md 1: the
web role ingests uploads on one host, the jobs role purges on another): the purge never
deletes an object another node's ingest of the same bytes relies on (INV-1, INV-3).

On one machine the store's hash lock orders them (the ingest holds it from finding the
object until its row commits; the purge only tries it). That lock is a file lock of one
machine: the purge on the jobs host does not see the web host's ingest."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from retention.plugin import Retention
from tests.retention.conftest import DAY, document, exists, ingest, item
from vms.audit.log import Who
from vms.check import Level, check
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_purge_on_one_node_keeps_the_object_another_node_is_cataloguing_INV_3_INV_1(
    timed: Services,
    retention: Retention,
    config: Config,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if timed.db.dialect != "postgresql":
        pytest.skip("several hosts share a PostgreSQL database, never a SQLite file")
    data = document()
    old = ingest(timed, recorded_at=clock.now() - 31 * DAY, data=data)  # expired (RET-1)
    # The web node: its own data folder (local temp files and hash locks), the same
    # database, bucket and secrets.
    web_dir = tmp_path / "web-node"
    web_dir.mkdir()
    shutil.copytree(config.data_dir / "secrets", web_dir / "secrets")
    web = Services.open(dataclasses.replace(config, data_dir=web_dir), clock=clock)
    try:
        catalogue = web.ingestor._catalogue

        def purge_meanwhile(*args: Any, **kwargs: Any) -> str:
            # The object is there, the web node relies on it; the jobs node purges now.
            retention.purger.run()
            return catalogue(*args, **kwargs)

        monkeypatch.setattr(web.ingestor, "_catalogue", purge_meanwhile)
        new = web.ingestor.ingest(
            io.BytesIO(data),
            IngestRequest(source=SourceKind.HANDHELD, device_id="HH-7", recorded_at=clock.now()),
            Who("officer", "officer"),
        )
    finally:
        web.close()
    report = check(timed.db, timed.store, Level.PRESENCE)
    assert new.media_id not in report.missing, "a new item's original was deleted by the purge"
    # The busy lock deferred the old item; the next run purges it, and the object the
    # new item shares stays (several rows, one object).
    assert retention.purger.run().purged == 1
    assert item(timed, old) is None
    assert exists(timed, new.media_id)
    assert check(timed.db, timed.store, Level.HASH).clean
