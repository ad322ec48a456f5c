"""Ingest into the S3 backend (issue 13.6, INV-1): the checksums the server verifies come
from the pass that computed the object's name, not from a second read at upload time.

So bytes that change between the hash and the upload (a device rewriting a file in
place, keeping its size and mtime) are refused by the server and nothing is stored,
for a single PUT (the checksum is the name) and for a multipart upload (each part's
checksum was hashed with the name)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.media import make_pdf
from vms.audit.log import SYSTEM_ROLE, Who
from vms.check import Level, check
from vms.config import Config
from vms.db.models import MediaItem, SourceKind
from vms.errors import DataLoss
from vms.ingest import IngestRequest
from vms.ingest_copy import PartHashes
from vms.services import Services

PART = 5 * 1024**2  # the smallest part S3 allows


@pytest.mark.parametrize("piece", [1, 4096, PART - 1, PART, PART + 7, 3 * PART])
def test_part_hashes_are_the_sha256_of_each_part_whatever_the_buffer_size(piece: int) -> None:
    data = os.urandom(2 * PART + 12345)
    hashes = PartHashes(PART)
    for at in range(0, len(data), piece):
        hashes.update(data[at : at + piece])
    expected = [hashlib.sha256(data[at : at + PART]).digest() for at in range(0, len(data), PART)]
    assert list(hashes.finish()) == expected


def test_part_hashes_of_nothing_are_none() -> None:
    assert PartHashes(PART).finish() == ()


@pytest.fixture
def config(config: Config) -> Config:
    """The S3 store with 5 MiB parts, so a file of a few MiB is a multipart upload."""
    return dataclasses.replace(config, store=dataclasses.replace(config.store, part_bytes=PART))


def pdf(tmp_path: Path, pad: int) -> Path:
    path = tmp_path / f"doc-{pad}.pdf"
    filler = b"%" + b"x" * pad + b"\n"
    path.write_bytes(make_pdf().replace(b"%PDF-1.4\n", b"%PDF-1.4\n" + filler, 1))
    return path


def ingest(services: Services, path: Path) -> str:
    request = IngestRequest(source=SourceKind.BWC, device_id="BWC-7", original_filename=path.name)
    return services.ingestor.ingest(path, request, Who("test", SYSTEM_ROLE)).sha256


def media_count(services: Services) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.count()).select_from(MediaItem)).scalar_one())


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
@pytest.mark.parametrize("pad", [1024, 12 * 1024**2], ids=["one-put", "multipart"])
def test_an_s3_ingest_stores_bytes_whose_hash_is_their_name(
    services: Services, tmp_path: Path, pad: int
) -> None:
    source = pdf(tmp_path, pad)
    sha = ingest(services, source)
    assert sha == hashlib.sha256(source.read_bytes()).hexdigest()
    assert services.store.stored_size(sha) == source.stat().st_size
    assert check(services.db, services.store, Level.HASH).clean


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
@pytest.mark.parametrize("pad", [1024, 12 * 1024**2], ids=["one-put", "multipart"])
def test_bytes_changed_after_hashing_are_refused_by_the_server_INV_1(
    services: Services, tmp_path: Path, pad: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = pdf(tmp_path, pad)
    store = services.store
    place = store.place

    def rewrite_then_place(tmp: Path, sha256: str, *, parts: Sequence[bytes] | None = None) -> bool:
        # A device rewrites a byte in place after the hash pass; size and mtime kept.
        before = tmp.stat()
        with tmp.open("r+b") as f:
            f.seek(pad // 2)
            f.write(b"y")
        os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
        return place(tmp, sha256, parts=parts)

    monkeypatch.setattr(store, "place", rewrite_then_place)
    with pytest.raises(DataLoss, match="bytes received differ"):
        ingest(services, source)
    assert store.remote is not None
    assert list(store.remote.list_objects("objects/")) == [] and media_count(services) == 0
    assert store.remote.uploads("objects/") == []  # the multipart upload was aborted


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_a_file_needing_more_parts_than_s3_allows_gets_larger_parts(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 takes at most 10,000 parts per upload (vms.s3.MAX_PARTS, lowered here to 2):
    with 5 MiB parts anything above about 49 GiB was refused by AWS at part 10,001 after
    that much was sent, though [web] max_upload_bytes allows 256 GiB and dock and CLI
    imports have no cap. The part size grows to fit the file in MAX_PARTS parts."""
    import vms.s3

    monkeypatch.setattr(vms.s3, "MAX_PARTS", 2)
    source = pdf(tmp_path, 12 * 1024**2)  # 3 parts of 5 MiB
    sha = ingest(services, source)
    assert sha == hashlib.sha256(source.read_bytes()).hexdigest()
    remote = services.store.remote
    assert remote is not None
    key = remote.key(services.store.relative_path(sha))
    head = remote.client.head_object(Bucket=remote.bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2")  # a multipart upload of 2 parts
    assert check(services.db, services.store, Level.HASH).clean


@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_a_file_larger_than_s3s_largest_object_is_refused_naming_its_size(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3's largest object is 5 TiB (vms.s3.MAX_OBJECT_BYTES, lowered here to 10 MiB):
    refused before any part is sent, naming the size and the limit; nothing stored."""
    import vms.s3
    from vms.errors import InvalidArgument

    monkeypatch.setattr(vms.s3, "MAX_OBJECT_BYTES", 10 * 1024**2)
    source = pdf(tmp_path, 12 * 1024**2)
    size = source.stat().st_size
    with pytest.raises(InvalidArgument, match=f"{size} bytes.*largest object"):
        ingest(services, source)
    store = services.store
    assert store.remote is not None
    assert list(store.remote.list_objects("objects/")) == [] and media_count(services) == 0
    assert store.remote.uploads("objects/") == []
