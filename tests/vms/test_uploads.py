"""The upload service takes a NewUpload command and answers UploadRecord values (issue
11, item 3); what needs the configuration or the database is still its to refuse."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.media import make_video
from vms.auth.permissions import Actor
from vms.db.models import MediaItem, SourceKind
from vms.errors import InvalidArgument
from vms.services import Services
from vms.uploads import CompletedUpload, ContentRange, NewUpload, UploadRecord

DATA = b"x" * 1000
NEW = NewUpload(
    filename="shift.mp4",
    size=len(DATA),
    sha256=hashlib.sha256(DATA).hexdigest(),
    source=SourceKind.BWC,
    device_id="BWC-0042",
)


def test_create_takes_a_command_and_answers_a_record_TAG_5(
    services: Services, actors: dict[str, Actor]
) -> None:
    record = services.uploads.create(actors["officer"], NEW)
    assert type(record) is UploadRecord
    assert (record.filename, record.size, record.received, record.state) == (
        "shift.mp4",
        1000,
        0,
        "receiving",
    )
    assert services.uploads.status(actors["officer"], record.id) == record


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": SourceKind.EXPORT}, "source 'export' must be one of"),
        ({"size": 0}, "size must be a positive whole number of bytes, not 0"),
        ({"sha256": "xyz"}, "sha256 'xyz' is not 64 hex digits"),
        ({"device_id": "a/b"}, "device_id 'a/b' must be 1-64 printable characters"),
    ],
)
def test_create_refuses_what_the_catalog_would_refuse(
    services: Services, actors: dict[str, Actor], change: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        services.uploads.create(actors["officer"], dataclasses.replace(NEW, **change))  # type: ignore[arg-type]


def test_a_complete_overtaken_by_another_answers_the_same_item_TAG_5(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5: a client that repeats ``complete`` (its first request timed out while the
    file was hashed) must get the item, so the device copy may be erased. When the
    repeat read the upload as still receiving and the first then finished (item
    catalogued, upload file removed) before the repeat reached the file, or while the
    repeat hashed it, the repeat failed with FileNotFoundError: a 500, and the device
    was told nothing. It answers the item the first one catalogued."""
    officer = actors["officer"]
    data = make_video(seconds=0.5)
    new = dataclasses.replace(
        NEW, size=len(data), sha256=hashlib.sha256(data).hexdigest(), filename="clip.mp4"
    )
    record = services.uploads.create(officer, new)
    services.uploads.put_chunk(
        officer, record.id, ContentRange(0, len(data) - 1, len(data)), io.BytesIO(data)
    )
    check_claim = services.ingestor.check_claim
    first: list[CompletedUpload] = []

    def first_completes_meanwhile(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(services.ingestor, "check_claim", check_claim)
        # The repeat has read the upload as receiving; the first request finishes now.
        first.append(services.uploads.complete(officer, record.id))
        return check_claim(*args, **kwargs)

    monkeypatch.setattr(services.ingestor, "check_claim", first_completes_meanwhile)
    repeat = services.uploads.complete(officer, record.id)

    assert repeat.upload.state == "complete"
    assert repeat.media.id == first[0].media.id
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(MediaItem)).scalar_one() == 1
