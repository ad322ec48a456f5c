"""The S3 adapter and its settings without a server (issue 13.6): credentials from the
secrets folder, never shown; settings checked at load; a store that does not answer is
``Unavailable`` naming the object, never a 500 of botocore's."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import pytest

from tests.peers.seaweedfs import SeaweedS3
from vms.config import load_config
from vms.errors import InvalidArgument, Unavailable
from vms.s3 import S3Bucket, S3Settings
from vms.store import SECRET_KEY_FILE, open_bucket

SECRET = "wJalrXUtnFEMI-very-secret"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def s3_settings(tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        "VMS_DATA_DIR": str(tmp_path),
        "VMS_STORE_BACKEND": "s3",
        "VMS_STORE_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
        "VMS_STORE_BUCKET": "evidence",
        "VMS_STORE_ACCESS_KEY_ID": "vms",
        **more,
    }


def test_the_secret_key_comes_from_the_secrets_folder_and_is_never_shown(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / SECRET_KEY_FILE).write_text(SECRET + "\n")
    config = load_config(environ={}, overrides=s3_settings(tmp_path))
    bucket = open_bucket(config)
    assert bucket is not None and bucket.settings.secret_access_key == SECRET
    assert SECRET not in repr(bucket.settings)
    given = load_config(
        environ={}, overrides=s3_settings(tmp_path, VMS_STORE_SECRET_ACCESS_KEY=SECRET)
    )
    assert SECRET not in repr(given) and SECRET not in repr(given.store)


def test_local_disk_stays_the_default(tmp_path: Path) -> None:
    config = load_config(environ={}, overrides={"VMS_DATA_DIR": str(tmp_path)})
    assert config.store.backend == "local" and open_bucket(config) is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"VMS_STORE_BACKEND": "ftp"}, "'ftp'"),
        ({"VMS_STORE_BUCKET": ""}, "needs \\[store\\] bucket"),
        ({"VMS_STORE_PART_BYTES": "1024"}, "part_bytes must be at least 5 MiB"),
        # read whole into memory below it (a 6 GiB file: 6 GiB of RAM), and S3 takes no
        # single upload or part above 5 GiB: every larger file failed at the store
        ({"VMS_STORE_PART_BYTES": str(6 * 1024**3)}, "and at most 5 GiB .*not 6442450944"),
    ],
)
def test_bad_store_settings_are_refused_naming_them(
    tmp_path: Path, override: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load_config(environ={}, overrides={**s3_settings(tmp_path), **override})


def test_an_access_key_without_its_secret_is_refused_naming_where_to_put_it(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidArgument, match=f"'vms' has no secret.*{SECRET_KEY_FILE}"):
        open_bucket(load_config(environ={}, overrides=s3_settings(tmp_path)))


def test_a_store_that_does_not_answer_is_unavailable_naming_the_object(tmp_path: Path) -> None:
    settings = s3_settings(tmp_path, VMS_STORE_SECRET_ACCESS_KEY=SECRET)
    bucket = open_bucket(load_config(environ={}, overrides=settings))
    assert bucket is not None
    with pytest.raises(Unavailable, match="objects/ab/cd/abcd"):
        bucket.head("objects/ab/cd/abcd")


@pytest.mark.parametrize(
    ("timeout", "attempts"), [("60", "2"), ("5", "6"), ("1000", "1")], ids=["long", "many", "huge"]
)
def test_a_segment_upload_that_may_outlast_the_writer_queue_is_refused_INV_1(
    tmp_path: Path, timeout: str, attempts: str
) -> None:
    """[store] segment_timeout_seconds x segment_attempts had no upper bound: a segment
    upload to a store that does not answer holds the camera's segment writer up to
    2 requests (PUT, HEAD) x 2 waits (connect, read) x timeout x attempts, while its queue
    holds 3,000 packets (100 s at 30 fps); past that the packets are dropped (INV-1)."""
    env = {
        "VMS_DATA_DIR": str(tmp_path),
        "VMS_STORE_SEGMENT_TIMEOUT_SECONDS": timeout,
        "VMS_STORE_SEGMENT_ATTEMPTS": attempts,
    }
    with pytest.raises(
        InvalidArgument,
        match=r"\[store\] segment_timeout_seconds .* x segment_attempts .* at most 100 s",
    ):
        load_config(environ=env)
    # The longest accepted: 25 s x 1 try, 5 s x 5 tries.
    for timeout, attempts in (("25", "1"), ("5", "5")):
        env["VMS_STORE_SEGMENT_TIMEOUT_SECONDS"] = timeout
        env["VMS_STORE_SEGMENT_ATTEMPTS"] = attempts
        load_config(environ=env)


def new_bucket(server: SeaweedS3, part_bytes: int = S3Settings.part_bytes) -> S3Settings:
    """Settings of a bucket of its own on ``server`` (not created yet)."""
    import uuid

    name = f"vms-{uuid.uuid4().hex[:12]}"
    return S3Settings(
        server.endpoint,
        name,
        "us-east-1",
        server.access_key,
        server.secret_key,
        part_bytes=part_bytes,
    )


def test_an_object_larger_than_one_copy_is_copied_part_by_part(
    seaweedfs: SeaweedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An orphaned original is set aside by a server-side copy (vms.store
    set_aside_original), but S3's CopyObject copies at most 5 GiB (vms.s3.MAX_COPY_BYTES,
    lowered here to 5 MiB): a longer BWC recording was refused ('copy source is larger
    than the maximum allowable size') and never set aside. Larger objects are now copied
    in ranges (UploadPartCopy), byte for byte."""
    import vms.s3

    settings = new_bucket(seaweedfs, part_bytes=16 * 1024**2)
    S3Bucket(settings).ensure_bucket()
    source = tmp_path / "original"
    source.write_bytes(os.urandom(12 * 1024**2))
    S3Bucket(settings).put_file("objects/a", source, source.stat().st_size)  # one PUT
    monkeypatch.setattr(vms.s3, "MAX_COPY_BYTES", 5 * 1024**2)
    bucket = S3Bucket(dataclasses.replace(settings, part_bytes=5 * 1024**2))
    bucket.copy("objects/a", "orphans/a")
    assert bucket.read_bytes("orphans/a") == source.read_bytes()
    head = bucket.client.head_object(Bucket=bucket.bucket, Key=bucket.key("orphans/a"))
    assert head["ETag"].strip('"').endswith("-3")  # three 5 MiB ranges
    assert bucket.uploads("orphans/") == []


def test_every_unfinished_upload_is_listed_and_aborted_page_by_page(
    seaweedfs: SeaweedS3, tmp_path: Path
) -> None:
    """A crashed writer's unfinished multipart uploads are listed by the store check and
    aborted by its repair (vms.store stale_uploads, abort_stale_uploads). S3 answers
    ListMultipartUploads a page at a time (1,000 at most on AWS, 10,000 on SeaweedFS)
    and says when more are left: only the first page was read, so the uploads past it
    were never reported nor aborted, run after run. Here the client asks for pages of 2
    (S3's max-uploads, what any server may also answer with) from the real server."""
    import datetime as dt
    import hashlib

    from vms.store import MediaStore

    bucket = S3Bucket(new_bucket(seaweedfs))
    bucket.ensure_bucket()
    store = MediaStore(tmp_path, bucket)
    names = []
    for n in range(5):  # two under one name (the 2nd and 3rd): a page ends between them
        sha = hashlib.sha256(str(n % 4).encode()).hexdigest()
        key = bucket.key(store.relative_path(sha))
        bucket.client.create_multipart_upload(Bucket=bucket.bucket, Key=key)
        names.append(key)

    def pages_of_two(params: dict[str, object], **_: object) -> None:
        params["MaxUploads"] = min(int(str(params.get("MaxUploads") or 2)), 2)

    bucket.client.meta.events.register(
        "provide-client-params.s3.ListMultipartUploads", pages_of_two
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    found = bucket.uploads("objects/")
    assert len(found) == 5
    assert sorted(u.key for u in found) == sorted(names)
    assert len(store.stale_uploads(later)) == 5
    assert len(store.abort_stale_uploads(later)) == 5
    assert bucket.uploads("objects/") == []


def test_every_version_of_an_object_is_deleted_page_by_page(seaweedfs: SeaweedS3) -> None:
    """Deleting an original (the purge, RET-1) deletes every version of it, then every
    delete marker. S3 answers ListObjectVersions a page at a time (1,000 at most) and
    only the first page was read: the versions past it stayed, the footage readable
    after its destruction was recorded. Here the client asks for pages of 2 (S3's
    max-keys, set by a hook as in the test above) from the real server, over 3 versions."""
    bucket = S3Bucket(new_bucket(seaweedfs))
    bucket.ensure_bucket(object_lock=False)
    bucket.client.put_bucket_versioning(
        Bucket=bucket.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    key = bucket.key("objects/a")
    for n in range(3):
        bucket.client.put_object(Bucket=bucket.bucket, Key=key, Body=b"v%d" % n)

    def pages_of_two(params: dict[str, object], **_: object) -> None:
        params["MaxKeys"] = min(int(str(params.get("MaxKeys") or 2)), 2)

    bucket.client.meta.events.register("provide-client-params.s3.ListObjectVersions", pages_of_two)
    assert len(bucket.versions("objects/a")) == 3
    bucket.delete("objects/a")
    left = S3Bucket(bucket.settings).client.list_object_versions(Bucket=bucket.bucket, Prefix=key)
    assert left.get("Versions", []) == [] and left.get("DeleteMarkers", []) == []
