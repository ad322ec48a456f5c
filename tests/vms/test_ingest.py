"""The single ingest path (INV-1, INV-2) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import os
import stat

import pytest
from sqlalchemy import func, select

from tests.media import make_pdf, make_video
from vms.audit.log import Who
from vms.check import Level, check
from vms.db.models import AuditEntry, CustodyEvent, MediaItem, SourceKind
from vms.errors import FailedPrecondition, InsufficientStorage, InvalidArgument
from vms.ingest import IngestRequest
from vms.services import Services

WHO = Who("tester", "admin")


def request(**kw: object) -> IngestRequest:
    base: dict[str, object] = {"source": SourceKind.BWC, "device_id": "BWC-7"}
    base.update(kw)
    return IngestRequest(**base)  # type: ignore[arg-type]


def count(services: Services, model: type) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_video_is_stored_read_only_and_catalogued_INV_1(services: Services, tmp_path) -> None:
    recorded = dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)
    data = make_video(seconds=2, creation_time=recorded)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    audits_before = count(services, AuditEntry)

    result = services.ingestor.ingest(
        path, request(officer_badge="B1", title="Stop at 5th", categories=("Eviction",)), WHO
    )

    assert not result.duplicate
    stored = services.store.path_for(result.sha256)
    assert stored.read_bytes() == data
    assert stat.S_IMODE(stored.stat().st_mode) == 0o400  # INV-2, owner only (issue 10.12)
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None
        assert item.size_bytes == len(data)
        assert item.codec == "h264" and (item.width, item.height) == (160, 120)
        assert item.duration_seconds == pytest.approx(2.0, abs=0.2)
        assert item.recorded_start == recorded
        assert item.recorded_start_origin == "container"
        assert [c.category for c in item.categories] == ["Eviction"]
        events = (
            s.execute(select(CustodyEvent).where(CustodyEvent.media_id == result.media_id))
            .scalars()
            .all()
        )
        assert [e.action for e in events] == ["ingested"]
    assert count(services, AuditEntry) == audits_before + 1
    assert list(services.store.iter_temp_files()) == []
    assert check(services.db, services.store, Level.HASH).clean


def test_same_bytes_same_device_is_a_duplicate(services: Services) -> None:
    data = make_video(seconds=1)
    first = services.ingestor.ingest(io.BytesIO(data), request(), WHO)
    second = services.ingestor.ingest(io.BytesIO(data), request(), WHO)
    assert second.duplicate and second.media_id == first.media_id
    assert count(services, MediaItem) == 1
    # The same bytes from another device are a second item sharing one stored file.
    third = services.ingestor.ingest(io.BytesIO(data), request(device_id="DASH-1"), WHO)
    assert not third.duplicate
    assert len(list(services.store.iter_objects())) == 1
    assert check(services.db, services.store, Level.HASH).clean


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("notes.txt", b"just some text\n" * 100, "not a decodable audio/video file"),
        ("random.bin", os.urandom(4096), "not a decodable"),
        ("empty.mp4", b"", "empty"),
        ("cut.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n", "truncated"),
    ],
)
def test_refused_files_leave_nothing_behind(
    services: Services, name: str, payload: bytes, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message) as info:
        services.ingestor.ingest(io.BytesIO(payload), request(original_filename=name), WHO)
    assert name in info.value.message  # the error names the file
    assert count(services, MediaItem) == 0
    assert list(services.store.iter_objects()) == []
    assert list(services.store.iter_temp_files()) == []


def test_truncated_video_is_refused(services: Services) -> None:
    data = make_video(seconds=4)
    for cut in (0.3, 0.8):
        with pytest.raises(InvalidArgument, match=r"truncated|no audio or video|corrupt"):
            services.ingestor.ingest(
                io.BytesIO(data[: int(len(data) * cut)]), request(original_filename="cut.mp4"), WHO
            )
    assert count(services, MediaItem) == 0
    assert list(services.store.iter_objects()) == []


def test_pdf_form_is_a_document(services: Services) -> None:
    result = services.ingestor.ingest(
        io.BytesIO(make_pdf()), request(source=SourceKind.HANDHELD), WHO
    )
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None
        assert (item.media_type, item.content_type) == ("document", "application/pdf")


def test_expected_hash_and_size_are_checked(services: Services) -> None:
    data = make_video(seconds=1)
    with pytest.raises(FailedPrecondition, match="sha256 mismatch"):
        services.ingestor.ingest(io.BytesIO(data), request(expected_sha256="0" * 64), WHO)
    with pytest.raises(FailedPrecondition, match="size mismatch"):
        services.ingestor.ingest(io.BytesIO(data), request(expected_size=len(data) + 1), WHO)
    assert count(services, MediaItem) == 0
    assert list(services.store.iter_objects()) == []


def test_unknown_category_and_bad_device_are_refused(services: Services) -> None:
    data = make_video(seconds=1)
    with pytest.raises(InvalidArgument, match="unknown category 'Jaywalking'"):
        services.ingestor.ingest(io.BytesIO(data), request(categories=("Jaywalking",)), WHO)
    with pytest.raises(InvalidArgument, match="device_id"):
        services.ingestor.ingest(io.BytesIO(data), request(device_id="../etc"), WHO)


def test_evidence_category_marks_evidence_TAG_6(services: Services) -> None:
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1)),
        request(categories=("use of force - outside jail facilities",)),
        WHO,
    )
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None and item.evidence
        assert [c.category for c in item.categories] == ["Use of Force - Outside Jail Facilities"]


def test_full_store_is_refused_up_front(services: Services) -> None:
    services.ingestor.reserve_bytes = services.store.free_bytes() + 1
    with pytest.raises(InsufficientStorage, match="bytes free"):
        services.ingestor.ingest(io.BytesIO(make_video(seconds=1)), request(), WHO)
    assert count(services, MediaItem) == 0


def test_a_file_that_changes_during_ingest_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What was probed (the file at rest, step 4) must be what was stored (INV-1)."""
    from vms.errors import Conflict
    from vms.ingest import _require_unchanged

    path = tmp_path / "growing.mp4"
    path.write_bytes(b"x" * 100)
    before = path.stat()
    _require_unchanged(path, before, 100)  # unchanged: fine
    with path.open("ab") as f:
        f.write(b"more")
    with pytest.raises(Conflict, match="changed while it was being ingested"):
        _require_unchanged(path, before, 100)
