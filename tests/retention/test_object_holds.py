"""Held media on the S3 backend (issue 13, item 6; INV-3, RET-10): the object of a held
item carries an S3 legal hold, so the store itself refuses to delete its version while
held, whoever asks; the purge releases the hold only when the item has expired, then
deletes it. Against a real S3 server with Object Lock (SeaweedFS)."""

from __future__ import annotations

import pytest

from retention.commands import NewLegalHold, ReleaseLegalHold
from retention.plugin import Retention
from tests.retention.conftest import DAY, exists, ingest, item
from vms.check import Level, check
from vms.clock import ManualClock
from vms.db.models import SourceKind
from vms.errors import PermissionDenied
from vms.services import Services

pytestmark = pytest.mark.parametrize("store_backend", ["s3"], indirect=True)


def test_a_held_objects_version_cannot_be_deleted_through_s3_INV_3_RET_10(
    timed: Services, retention: Retention, clock: ManualClock, actors
) -> None:
    remote = timed.store.remote
    assert remote is not None and remote.object_lock()
    media = ingest(timed, source=SourceKind.BWC, device="BWC-7", recorded_at=clock.now())
    other = ingest(timed, source=SourceKind.BWC, device="BWC-7", recorded_at=clock.now())
    row = item(timed, media)
    assert row is not None
    name = timed.store.relative_path(row.sha256)
    hold = retention.legal_holds.create(
        actors["commander"], NewLegalHold("LH-S3", "suit", (media,))
    )

    assert retention.object_holds.sync() == 1  # the job: only the held item's object
    assert remote.legal_hold(name)
    other_row = item(timed, other)
    assert other_row is not None and not timed.store.is_held(other_row.sha256)
    assert retention.object_holds.sync() == 0  # idempotent

    # The bucket's own credentials, straight through the S3 API: every version refused.
    [version] = remote.versions(name)
    with pytest.raises(PermissionDenied):
        remote.delete(name)
    client = remote.client
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=remote.bucket, Key=remote.key(name), VersionId=version)
    assert b"".join(remote.read(name)) == b"".join(timed.store.read(row.sha256))

    # Past its retention but held: the purge keeps it and its object hold.
    clock.advance(200 * DAY)
    retention.purger.run()
    assert exists(timed, media) and remote.legal_hold(name)
    assert not exists(timed, other)  # the unheld one went

    # Hold released: the purge releases the object hold, then deletes every version.
    retention.legal_holds.release(actors["commander"], hold.id, ReleaseLegalHold("REL-S3"))
    report = retention.purger.run()
    assert report.purged == 1 and report.files_unlinked == 1
    assert item(timed, media) is None
    assert remote.versions(name) == []
    assert check(timed.db, timed.store, Level.HASH).clean
