"""The purge on a bucket whose versioning was turned on after originals were stored
(RET-1, RET-13; docs/design/storage.md, "S3 backend"). Against real SeaweedFS.

A site that enables versioning (or Object Lock, which needs it) on the bucket it
already uses keeps its older objects as the *null* version. Deleting such an object
without naming that version only lays a delete marker over it; removing the marker
brings the footage back. The purge must delete the null version itself: a destruction
record says the file is gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from retention.plugin import Retention
from tests.conftest import make_config, s3_overrides
from tests.peers.seaweedfs import SeaweedS3
from tests.retention.conftest import DAY, ingest, item
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import DestructionRecord
from vms.services import Services


@pytest.fixture
def config(database: tuple[str, Path], seaweedfs: SeaweedS3) -> Config:
    url, data_dir = database
    return make_config(data_dir, url, **s3_overrides(seaweedfs, object_lock=False))


def test_an_object_stored_before_versioning_is_destroyed_by_the_purge_RET_1(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    remote = timed.store.remote
    assert remote is not None
    media = ingest(timed, recorded_at=clock.now() - 31 * DAY)  # a fixed camera's: RET-1
    row = item(timed, media)
    assert row is not None
    sha256 = row.sha256
    remote.client.put_bucket_versioning(
        Bucket=remote.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    assert retention.purger.run().purged == 1
    with timed.db.session() as s:
        record = s.execute(
            select(DestructionRecord).where(DestructionRecord.media_id == media)
        ).scalar_one()
    assert record.file_unlinked
    assert not timed.store.exists(sha256), "the purge recorded a destruction; the footage stays"
