"""The purge when the S3 store fails some of a batch's deletions (INV-3, INV-1).

The store is the real SeaweedFS behind a proxy that refuses or slows the deletion of
chosen objects (tests/peers/seaweedfs/faults.py). The purge deletes a batch's objects
in parallel under the hash locks of the batch, which keep an ingest of the same bytes
from relying on an object being deleted (docs/design/storage.md, "Shared files"). When
one deletion fails, the purge must not give those locks up while another deletion of
the batch is still under way: an ingest of that object's bytes would find it, catalogue
a row on it, and lose it a moment later.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retention.plugin import Retention
from tests.conftest import make_config, s3_overrides
from tests.peers.seaweedfs import SeaweedS3
from tests.peers.seaweedfs.faults import FaultyS3
from tests.retention.conftest import DAY, document, exists, ingest, item
from vms.audit.log import Who
from vms.check import Level, check
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import SourceKind
from vms.errors import PermissionDenied
from vms.ingest import IngestRequest
from vms.services import Services


@pytest.fixture
def faulty(seaweedfs: SeaweedS3) -> Iterator[FaultyS3]:
    with FaultyS3(seaweedfs.endpoint) as proxy:
        yield proxy


@pytest.fixture
def config(database: tuple[str, Path], seaweedfs: SeaweedS3, faulty: FaultyS3) -> Config:
    url, data_dir = database
    settings = s3_overrides(seaweedfs)
    settings["VMS_STORE_ENDPOINT"] = faulty.endpoint
    return make_config(data_dir, url, **settings)


def sha_of(services: Services, media_id: str) -> str:
    row = item(services, media_id)
    assert row is not None
    return row.sha256


def test_a_failed_deletion_keeps_the_batch_locked_until_the_others_end_INV_3_INV_1(
    timed: Services, retention: Retention, clock: ManualClock, faulty: FaultyS3
) -> None:
    datas = [document(), document()]
    old = [ingest(timed, recorded_at=clock.now() - 31 * DAY, data=d) for d in datas]  # RET-1
    # The batch's objects are deleted in SHA-256 order: the first is refused at once,
    # the second is slow.
    (refused, refused_data), (slow, slow_data) = sorted(
        zip((sha_of(timed, m) for m in old), datas, strict=True)
    )
    faulty.refuse_deletes_of = {refused}
    faulty.slow_deletes_of = {slow}
    with pytest.raises(PermissionDenied):
        retention.purger.run()
    # The purge has given up: its locks are free. A device brings the slow object's bytes.
    new = timed.ingestor.ingest(
        io.BytesIO(slow_data),
        IngestRequest(source=SourceKind.HANDHELD, device_id="HH-7", recorded_at=clock.now()),
        Who("officer", "officer"),
    )
    time.sleep(faulty.slow_seconds + 1)  # whatever deletion was under way has ended
    report = check(timed.db, timed.store, Level.PRESENCE)
    assert new.media_id not in report.missing, "a new item's original was deleted by the purge"
    # The store lets the refused object go again: the next run finishes the intents and
    # keeps the object the new item shares (several rows, one object).
    faulty.refuse_deletes_of = set()
    faulty.slow_deletes_of = set()
    assert refused_data != slow_data
    retention.purger.run()
    assert [item(timed, m) for m in old] == [None, None]
    assert exists(timed, new.media_id)
    assert check(timed.db, timed.store, Level.HASH).clean
