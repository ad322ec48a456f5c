"""The upload service takes a NewUpload command and answers UploadRecord values (issue
11, item 3); what needs the configuration or the database is still its to refuse."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from vms.auth.permissions import Actor
from vms.db.models import SourceKind
from vms.errors import InvalidArgument
from vms.services import Services
from vms.uploads import NewUpload, UploadRecord

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
