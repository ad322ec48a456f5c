"""Two nodes sharing one S3 bucket and one PostgreSQL database (ARCHITECTURE.md 1: the
web role ingests uploads on one host, the jobs role purges on another): the purge never
deletes an object another node's ingest of the same bytes relies on (INV-1, INV-3).

On one machine the store's hash lock orders them (the ingest holds it from finding the
object until its row commits; the purge only tries it). That lock is a file lock of one
machine: the purge on the jobs host does not see the web host's ingest."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from retention.plugin import Retention
from tests.retention.conftest import DAY, document, exists, ingest, item
from vms.audit.log import Who
from vms.check import Level, check
from vms.clock import ManualClock
from vms.config import Config
from vms.db.engine import Database
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services


# Several hosts share a PostgreSQL database, never a SQLite file.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_purge_on_one_node_keeps_the_object_another_node_is_cataloguing_INV_3_INV_1(
    timed: Services,
    retention: Retention,
    config: Config,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)  # the lock is PostgreSQL's
def test_hash_locks_take_no_connection_from_the_pool_INV_1(database: tuple[str, Path]) -> None:
    """Every ingest of a shared bucket holds its hash lock while it takes a pooled
    connection for its transaction: with the locks' connections drawn from the pool too,
    as many ingests at once as the pool holds would each wait for a connection none of
    them gives back. The locks are held (another host cannot take them) and the pool
    still serves at once."""
    url, _ = database
    db, other = Database(url), Database(url)
    pool = db.engine.pool
    assert isinstance(pool, QueuePool)
    try:
        with contextlib.ExitStack() as stack:
            for prefix in range(pool.size() + pool._max_overflow + 1):
                assert stack.enter_context(db.hash_lock(f"{prefix:02x}" + "0" * 62))
            with other.hash_lock("00" + "0" * 62, wait=False) as taken:
                assert not taken  # held, as another host sees it
            pool._timeout = 2  # a pool left empty fails in 2 s, not 30
            with db.transaction() as s:
                assert s.execute(text("SELECT 1")).scalar() == 1
        with other.hash_lock("00" + "0" * 62, wait=False) as taken:
            assert taken  # let go with the block
    finally:
        db.dispose()
        other.dispose()
