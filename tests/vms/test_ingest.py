"""The single ingest path (INV-1, INV-2) on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import stat
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.media import (
    TS_WRAP,
    make_audio,
    make_pdf,
    make_recording,
    make_video,
    make_wrapping_ts,
    noise,
    ts_raw_pts,
)
from vms.audit.log import Who
from vms.check import Level, check
from vms.db.models import AuditEntry, CustodyEvent, Device, MediaItem, SourceKind
from vms.errors import FailedPrecondition, InsufficientStorage, InvalidArgument, PermissionDenied
from vms.ingest import IngestRequest, Origin
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
        ("random.bin", noise(4096), "not a decodable"),
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


def test_an_aac_audio_file_is_catalogued_whole_and_refused_cut(services: Services) -> None:
    """An audio-only MP4 is a recording like any other: its AAC priming packet, stamped
    before 0, is counted with the rest (the probe once sought back to 0, which skips it,
    and refused the whole file as truncated by one packet); it is catalogued as sound
    (``audio/mp4``, not the MP4 family's ``video/mp4``); cut short, it is refused."""
    data = make_audio(seconds=2.0)
    result = services.ingestor.ingest(
        io.BytesIO(data), request(original_filename="interview.m4a"), WHO
    )
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None
        assert (item.media_type, item.codec) == ("audio", "aac")
        assert item.content_type == "audio/mp4"
        assert item.duration_seconds is not None and abs(item.duration_seconds - 2.0) < 0.1
    with pytest.raises(InvalidArgument, match=r"truncated|corrupt"):
        services.ingestor.ingest(
            io.BytesIO(data[: len(data) // 2]), request(original_filename="cut.m4a"), WHO
        )
    assert count(services, MediaItem) == 1


@pytest.mark.parametrize("container_format", ["matroska", "mpegts"])
def test_a_video_whose_sound_runs_on_is_catalogued_whole(
    services: Services, container_format: str
) -> None:
    """A camera whose picture stops 2 s before its microphone (1 s of video, 3 s of
    sound), in containers that give the file one duration, the longest stream's: the
    file is whole, catalogued as a video lasting 3 s, not refused as "truncated" because
    its video alone ends early. The same file cut short is still refused."""
    data = make_recording(video_seconds=1.0, audio_seconds=3.0, container_format=container_format)
    result = services.ingestor.ingest(
        io.BytesIO(data), request(original_filename=f"bwc.{container_format}"), WHO
    )
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None and item.media_type == "video"
        assert item.duration_seconds is not None and abs(item.duration_seconds - 3.0) < 0.1
        assert item.recorded_end is not None
        assert abs((item.recorded_end - item.recorded_start).total_seconds() - 3.0) < 0.1
    if container_format == "matroska":  # its header says 3 s: cut, it is refused
        with pytest.raises(InvalidArgument, match=r"truncated"):
            services.ingestor.ingest(
                io.BytesIO(data[: len(data) // 2]), request(original_filename="cut.mkv"), WHO
            )


@pytest.mark.parametrize(("seconds", "before_wrap"), [(6, 30), (6, 2), (63, 61)])
def test_a_dash_cameras_ts_near_the_timestamp_wrap_lasts_what_it_holds(
    services: Services, tmp_path: Path, seconds: int, before_wrap: int
) -> None:
    """MPEG-TS timestamps wrap every 2**33 ticks (26.5 h), and a dash camera's clock need
    not start at 0: its 6 s file may start 30 s before the wrap and end before it, or
    cross it (2 s, and 61 s before it). FFmpeg's demuxer unwraps them: a file starting
    within 60 s of the wrap gets timestamps below 0 (the wrap at 0). The probe measured
    the video's end from 0, not from its first packet: the 6 s file ending before the wrap
    (all its times below 0) was catalogued as lasting 30 s, its recorded end 24 s late."""
    path = tmp_path / "dash.ts"
    path.write_bytes(make_wrapping_ts(seconds=seconds, before_wrap=before_wrap))
    raw = ts_raw_pts(path)
    assert raw[0] > TS_WRAP - (before_wrap + 2) * 90000  # near the wrap, as stored
    assert (raw[-1] < raw[0]) == (seconds > before_wrap)  # wrapped in the file, or not
    result = services.ingestor.ingest(
        io.BytesIO(path.read_bytes()), request(original_filename="dash.ts"), WHO
    )
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None and item.content_type == "video/mp2t"
        assert item.duration_seconds == pytest.approx(seconds, abs=0.1)
        assert item.recorded_end is not None
        lasted = (item.recorded_end - item.recorded_start).total_seconds()
        assert lasted == pytest.approx(seconds, abs=0.1)


@pytest.mark.parametrize(
    ("container_format", "codec", "content_type"),
    [("mp3", "libmp3lame", "audio/mpeg"), ("mp4", "aac", "audio/mp4")],
)
def test_a_sound_file_with_cover_art_is_catalogued_as_sound(
    services: Services, container_format: str, codec: str, content_type: str
) -> None:
    """An MP3 with an ID3 picture, an .m4a with artwork (a phone's voice memo, an
    interview saved from a media player): FFmpeg lists the picture as a video stream of
    one frame marked ``attached_pic``. It is not the recording: the file is sound, its
    duration the sound's, not refused as a video "truncated" after its one frame."""
    data = make_audio(seconds=2.0, container_format=container_format, codec=codec, cover=True)
    result = services.ingestor.ingest(
        io.BytesIO(data), request(original_filename=f"memo.{container_format}"), WHO
    )
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None
        assert (item.media_type, item.content_type) == ("audio", content_type)
        assert item.width is None and item.codec != "mjpeg"
        assert item.duration_seconds is not None and abs(item.duration_seconds - 2.0) < 0.1


@pytest.mark.parametrize(
    ("container_format", "audio_codec", "video_codec", "content_type"),
    [
        ("mp4", "aac", "libx264", "audio/mp4"),
        ("matroska", "aac", "libx264", "audio/x-matroska"),
        ("webm", "libopus", "libvpx", "audio/webm"),
        ("ogg", "libopus", "libvpx", "audio/ogg"),
    ],
)
def test_sound_only_files_are_catalogued_with_an_audio_content_type(
    services: Services,
    container_format: str,
    audio_codec: str,
    video_codec: str,
    content_type: str,
) -> None:
    """A container family known for video (MP4, Matroska, WebM) holding sound only is
    catalogued as sound: the download's Content-Type and the page's player follow it.
    A video in the same family stays ``video/``, and a video in Ogg (a family known for
    sound) is ``video/ogg``. WebM is told from Matroska (one format to FFmpeg) by its
    EBML header."""
    sound = services.ingestor.ingest(
        io.BytesIO(make_audio(container_format=container_format, codec=audio_codec)),
        request(original_filename=f"radio.{container_format}"),
        WHO,
    )
    video = services.ingestor.ingest(
        io.BytesIO(
            make_video(
                seconds=1, container_format=container_format, faststart=False, codec=video_codec
            )
        ),
        request(original_filename=f"clip.{container_format}"),
        WHO,
    )
    with services.db.session() as s:
        items = {i.id: i for i in s.scalars(select(MediaItem))}
    assert (items[sound.media_id].media_type, items[sound.media_id].content_type) == (
        "audio",
        content_type,
    )
    assert items[video.media_id].media_type == "video"
    assert items[video.media_id].content_type == content_type.replace("audio/", "video/")


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
    services.ingestor.reserve_bytes = (
        services.store.free_bytes() + 2**40
    )  # other writers come and go
    with pytest.raises(InsufficientStorage, match="bytes free"):
        services.ingestor.ingest(io.BytesIO(make_video(seconds=1)), request(), WHO)
    assert count(services, MediaItem) == 0


@pytest.mark.parametrize("failing", ["file", "directory"])
def test_a_full_disk_at_fsync_is_out_of_space_and_leaves_nothing_INV_1(
    services: Services, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A file system may take the bytes and say it is full only when they are flushed
    (ENOSPC or EDQUOT from fsync: delayed allocation, quotas, thin volumes). That is the
    store's out-of-space answer, as a full disk met while writing is, and nothing is
    left half placed: not the temp file, not an original renamed into place whose
    directory could not be flushed and which no row would ever refer to (INV-1)."""
    import errno
    import os

    import vms.store

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    store = services.store
    if failing == "file":
        flush = os.fsync

        def full_in_tmp(fd: int) -> None:  # the temp file's fsync, before the rename
            if os.readlink(f"/proc/self/fd/{fd}").startswith(f"{store.tmp}/"):
                full(fd)
            flush(fd)

        monkeypatch.setattr(os, "fsync", full_in_tmp)
    else:
        flush_dir = vms.store.fsync_dir

        def full_after_rename(path) -> None:  # type: ignore[no-untyped-def]
            if path.parent.parent == store.objects:
                full(0)  # the original's own folder, after the rename into it
            flush_dir(path)

        monkeypatch.setattr(vms.store, "fsync_dir", full_after_rename)
    with pytest.raises(InsufficientStorage) as info:
        services.ingestor.ingest(io.BytesIO(make_video(seconds=0.5)), request(), WHO)
    assert "is full" in info.value.message and "nothing was stored" in info.value.message
    assert "No space left on device" in info.value.message
    monkeypatch.undo()
    assert nothing_stored(services)
    assert check(services.db, services.store, Level.HASH).clean


def test_a_file_that_changes_during_ingest_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What was probed (the file at rest, step 4) must be what was stored (INV-1)."""
    from vms.errors import Conflict
    from vms.ingest_copy import require_unchanged

    path = tmp_path / "growing.mp4"
    path.write_bytes(b"x" * 100)
    before = path.stat()
    require_unchanged(path, before, 100)  # unchanged: fine
    with path.open("ab") as f:
        f.write(b"more")
    with pytest.raises(Conflict, match="changed while it was being ingested"):
        require_unchanged(path, before, 100)


# -- issue #10: what a person claims about a file ----------------------------------------

END_OF_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def nothing_stored(services: Services) -> bool:
    return (
        count(services, MediaItem) == 0
        and list(services.store.iter_objects()) == []
        and list(services.store.iter_temp_files()) == []
    )


@pytest.mark.parametrize(
    ("offset", "words"),
    [
        (dt.timedelta(days=-3653), "implausibly old"),  # more than ten years ago
        (dt.timedelta(days=2), "in the future"),  # more than a day after ingest
    ],
)
def test_recorded_at_outside_the_plausible_window_is_refused_RET_4(
    services: Services, offset: dt.timedelta, words: str
) -> None:
    """#10.2: a backdated recorded_at shortened retention; a far-future one kept an item
    forever. Refused with the reason and the value; nothing stored."""
    recorded = services.clock.now() + offset
    with pytest.raises(InvalidArgument, match=words) as refused:
        services.ingestor.ingest(
            io.BytesIO(make_video(seconds=0.5)),
            request(recorded_at=recorded, origin=Origin.USER),
            WHO,
        )
    assert refused.value.details["field"] == "recorded_at"
    assert nothing_stored(services)


def test_backdated_upload_keeps_both_times_and_90_days_from_ingest_RET_4(
    services: Services,
) -> None:
    """#10.2: within the window, an old recorded time is kept as said, and retention
    counts from the ingest (the later time)."""
    recorded = services.clock.now() - dt.timedelta(days=400)
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=0.5)),
        request(recorded_at=recorded, origin=Origin.USER),
        WHO,
    )
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None
        assert item.recorded_start == recorded
        assert item.expires_at == item.ingested_at + dt.timedelta(days=90)


def test_container_creation_time_9999_is_refused_before_anything_is_stored(
    services: Services, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """#10.4: a container saying creation_time 9999-12-31 raised OverflowError in the
    expiry after the original was placed, leaving an orphan object."""
    path = tmp_path / "clock-wrong.nut"
    make_video(path, seconds=0.5, creation_time=END_OF_TIME, container_format="nut")
    with pytest.raises(InvalidArgument, match=r"creation_time.*give recorded_at"):
        services.ingestor.ingest(path, request(origin=Origin.USER), WHO)
    assert nothing_stored(services)
    # The uploader's recorded_at overrides the device's clock.
    recorded = services.clock.now() - dt.timedelta(hours=1)
    result = services.ingestor.ingest(path, request(recorded_at=recorded), WHO)
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None and item.recorded_start_origin == "uploader"


def test_a_failing_catalogue_step_removes_the_original_it_placed_INV_1(
    services: Services,
) -> None:
    """#10.4 defence in depth: any error in step 7 leaves nothing, not an orphan."""

    def broken_hook(session: object, item: MediaItem, now: dt.datetime) -> None:
        raise OverflowError("date value out of range")

    services.ingestor.hooks.append(broken_hook)
    with pytest.raises(OverflowError):
        services.ingestor.ingest(io.BytesIO(make_video(seconds=0.5)), request(), WHO)
    assert nothing_stored(services)
    assert check(services.db, services.store, Level.HASH).clean


def test_an_original_shared_with_another_item_survives_a_failed_catalogue(
    services: Services,
) -> None:
    """The cleanup removes only an original no row refers to (the same bytes from
    another device share it)."""
    data = make_video(seconds=0.5)
    first = services.ingestor.ingest(io.BytesIO(data), request(), WHO)

    def broken_hook(session: object, item: MediaItem, now: dt.datetime) -> None:
        raise RuntimeError("boom")

    services.ingestor.hooks.append(broken_hook)
    with pytest.raises(RuntimeError):
        services.ingestor.ingest(io.BytesIO(data), request(device_id="DASH-9"), WHO)
    assert services.store.path_for(first.sha256).exists()
    assert check(services.db, services.store, Level.HASH).clean


def register_camera(services: Services, camera_id: str) -> None:
    """A fixed camera's catalog device, as onboarding registers it."""
    with services.db.transaction() as s:
        s.add(Device(id=camera_id, kind="fixed", name=camera_id, created_at=services.clock.now()))


def test_only_the_recorder_creates_fixed_items(services: Services) -> None:
    """#10.1: a person's ingest may not claim source fixed nor a camera's device id;
    refusals are audited with the reason. The recorder's own (system) ingest works."""
    register_camera(services, "CAM-9")
    for claim, reason in (
        (request(source=SourceKind.FIXED, device_id="BWC-1"), "only the recorder"),
        (request(device_id="CAM-9"), "registered fixed camera"),
    ):
        with pytest.raises(PermissionDenied, match=reason):
            services.ingestor.ingest(
                io.BytesIO(make_video(seconds=0.5)),
                dataclasses.replace(claim, origin=Origin.USER),
                WHO,
            )
    assert nothing_stored(services)
    with services.db.session() as s:
        denied = (
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "media.ingest", AuditEntry.outcome == "denied"
                )
            )
            .scalars()
            .all()
        )
    assert [e.target for e in denied] == ["device:BWC-1", "device:CAM-9"]
    assert "only the recorder" in denied[0].details["reason"]
    segment = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=0.5)),
        request(source=SourceKind.FIXED, device_id="CAM-9"),
        Who("recorder", "system"),
    )
    assert not segment.duplicate


def test_the_recorders_own_segment_times_are_never_refused(services: Services) -> None:
    """The window is for what people state (#10.2): a segment of the recorder, stamped
    by its own clock, is catalogued whatever that clock says (recording never stops)."""
    ahead = services.clock.now() + dt.timedelta(days=3)
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=0.5)),
        request(source=SourceKind.FIXED, device_id="CAM-3", recorded_at=ahead),
        Who("recorder", "system"),
    )
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None and item.recorded_start == ahead


def test_first_two_files_of_a_new_device_at_once_are_both_catalogued_INV_1(
    services: Services,
) -> None:
    """INV-1, concurrency: the first two files of a device (and officer) the catalog
    has never seen, ingested at once (two upload completes, an upload and the dock).
    Both transactions found no device row and both inserted one: on PostgreSQL the
    second failed on the device's primary key with an IntegrityError that came out as
    a 500, its file refused for no fault of its own. Both are catalogued."""
    first_flushed = threading.Event()
    results: dict[str, object] = {}

    def hold_first_commit(s: object, item: MediaItem, now: object) -> None:
        if item.original_filename != "a.mp4":
            return
        first_flushed.set()
        # Keep the first transaction open until the second waits on its device row
        # (PostgreSQL); SQLite's BEGIN IMMEDIATE queues the second before it reads.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not _waiting_on_a_lock(services):
            time.sleep(0.02)

    services.ingestor.hooks.append(hold_first_commit)

    def ingest(name: str, seed: int) -> None:
        try:
            results[name] = services.ingestor.ingest(
                io.BytesIO(make_video(seconds=0.5, seed=seed)),
                request(device_id="BWC-NEW", officer_badge="B-NEW", original_filename=name),
                WHO,
            )
        except Exception as exc:  # reported below
            results[name] = exc

    first = threading.Thread(target=ingest, args=("a.mp4", 1))
    first.start()
    assert first_flushed.wait(10)
    ingest("b.mp4", 2)
    first.join(10)

    assert all(not isinstance(r, Exception) for r in results.values()), results
    with services.db.session() as s:
        names = s.execute(select(MediaItem.original_filename).order_by(MediaItem.original_filename))
        assert names.scalars().all() == ["a.mp4", "b.mp4"]
        assert s.execute(select(func.count()).select_from(Device)).scalar_one() == 1


def _waiting_on_a_lock(services: Services) -> bool:
    """Whether a PostgreSQL session waits on a lock (always False on SQLite)."""
    if services.db.engine.dialect.name != "postgresql":
        return False
    with services.db.session() as s:
        waiting = s.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        ).scalar_one()
    return bool(waiting)


@pytest.mark.parametrize("rotation", [0, 90, 270])
def test_a_phone_video_is_catalogued_at_the_size_it_is_shown(
    services: Services, rotation: int
) -> None:
    """A phone held upright stores its frames sideways (320x180) with a display matrix:
    every player shows it 180x320. The catalog's width and height are the picture's as
    shown (the media page says 180x320), not the stored frames'; a portrait picture
    stored upright (no matrix) is 180x320 too."""
    import numpy as np

    from tests.media import encode_pictures

    shown = np.zeros((320, 180, 3), np.uint8)
    data = encode_pictures([shown] * 3, rotation=rotation)
    result = services.ingestor.ingest(io.BytesIO(data), request(original_filename="p.mp4"), WHO)
    with services.db.session() as s:
        item = s.get(MediaItem, result.media_id)
        assert item is not None
        assert (item.width, item.height) == (180, 320)
