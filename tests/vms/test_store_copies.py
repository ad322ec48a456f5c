"""Local copies of stored originals for readers that seek (vms/store.py,
``MediaStore.local_copy``; issue 13.6): on S3 a copy checked against its SHA-256, gone
when its reader is done, and one left by a killed process removed by start-up recovery;
on local disk the original itself."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
from pathlib import Path

import pytest

from tests.media import make_video
from vms.audit.log import Who
from vms.check import recover
from vms.db.models import SourceKind
from vms.errors import DataLoss, NotFound
from vms.ingest import IngestRequest
from vms.services import Services
from vms.store import MediaStore

BOTH = pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)


def stored(services: Services, data: bytes) -> str:
    import datetime as dt

    services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-C",
            recorded_at=dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC),
        ),
        Who("setup", "admin"),
    )
    return hashlib.sha256(data).hexdigest()


def copies(store: MediaStore) -> list[Path]:
    return sorted(store.tmp.glob("*.copy.part")) if store.tmp.is_dir() else []


@BOTH
def test_a_copy_holds_the_original_while_used_and_is_gone_after(
    services: Services, store_backend: str
) -> None:
    data = make_video(seconds=0.5, seed=3)
    sha = stored(services, data)
    store = services.store
    with store.local_copy(sha) as path:
        assert path.read_bytes() == data
        held = path.open("rb")  # a reader that opened it inside the block
        if store_backend == "s3":
            assert copies(store) == [path]
            assert path.stat().st_mode & 0o077 == 0  # readable by the service user only
        else:
            assert path == store.path_for(sha)  # the original itself, not copied
    try:
        assert held.read() == data  # still readable after the block (POSIX)
    finally:
        held.close()
    assert copies(store) == []
    if store_backend == "local":
        assert store.path_for(sha).is_file()  # the original is never removed


@BOTH
def test_a_missing_original_is_not_found(services: Services, store_backend: str) -> None:
    with pytest.raises(NotFound, match="0" * 64), services.store.local_copy("0" * 64):
        pass
    with pytest.raises(NotFound, match="what was asked"):
        services.store.servable("0" * 64, "what was asked is missing")
    assert copies(services.store) == []


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_an_object_changed_in_the_bucket_is_data_loss_never_used(
    services: Services, store_backend: str
) -> None:
    """Bytes that do not hash to the object's name (altered behind the VMS's back with the
    bucket's own credentials) are refused and no copy stays."""
    sha = stored(services, make_video(seconds=0.5, seed=4))
    bucket = services.store.remote
    assert bucket is not None
    bucket.client.put_object(
        Bucket=bucket.bucket, Key=bucket.key(services.store.relative_path(sha)), Body=b"altered"
    )
    with pytest.raises(DataLoss, match=sha), services.store.local_copy(sha):
        pytest.fail("an altered original was handed to a reader")
    assert copies(services.store) == []


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_a_copy_left_by_a_killed_process_is_removed_by_recovery(
    services: Services, store_backend: str
) -> None:
    """A copy whose process died (its lock gone) is removed at start-up; one still locked
    by a live reader is left alone."""
    store = services.store
    store.tmp.mkdir(parents=True, exist_ok=True)
    dead = store.tmp / f"{'a' * 64}.000000000000.copy.part"
    dead.write_bytes(b"footage of a dead reader")
    live = store.tmp / f"{'b' * 64}.000000000000.copy.part"
    live.write_bytes(b"footage being read")
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        recover(services.db, store)
        assert not dead.exists()
        assert live.exists()
    finally:
        os.close(fd)
