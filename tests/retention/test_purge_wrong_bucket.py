"""The purge of a jobs node whose S3 settings name a bucket that does not exist (a typo,
an environment of another site): every original would look missing (HEAD 404), and a
missing original is what an interrupted purge leaves, so the purge recorded each
expired item destroyed without deleting anything (RET-13 records that lie; the footage
stays past RET-1 in the real bucket). It must refuse to run instead, naming the bucket.
Against real SeaweedFS."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from retention.plugin import get
from tests.retention.conftest import DAY, exists, ingest, item
from vms.clock import ManualClock
from vms.config import Config
from vms.errors import VMSError
from vms.services import Services


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_a_purge_against_a_missing_bucket_refuses_and_destroys_nothing_RET_13(
    timed: Services, config: Config, clock: ManualClock, tmp_path: Path
) -> None:
    media = ingest(timed, recorded_at=clock.now() - 31 * DAY)  # expired (RET-1)
    row = item(timed, media)
    assert row is not None
    jobs_dir = tmp_path / "jobs-node"
    jobs_dir.mkdir()
    shutil.copytree(config.data_dir / "secrets", jobs_dir / "secrets")
    wrong = dataclasses.replace(
        config,
        data_dir=jobs_dir,
        database_url=config.effective_database_url,
        store=dataclasses.replace(config.store, bucket=config.store.bucket + "-typo"),
    )
    jobs = Services.open(wrong, clock=clock)
    try:
        with pytest.raises(VMSError, match="-typo"):
            get(jobs).purger.run()
    finally:
        jobs.close()
    assert exists(timed, media), "the purge recorded a destruction it did not do"
