"""The upload service takes a NewUpload command and answers UploadRecord values (issue
11, item 3); what needs the configuration or the database is still its to refuse."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import logging
import os
import pwd
import shutil
import signal
import stat
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import make_config
from tests.media import make_video
from vms.auth.permissions import Actor
from vms.check import Level, check
from vms.clock import ManualClock, isoformat
from vms.db.models import DestructionRecord, MediaItem, SourceKind, User
from vms.errors import Conflict, InvalidArgument
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


# -- expiry as the service user ---------------------------------------------------------

SERVICE_USER = "nobody"


@pytest.fixture
def service_user_services(database: tuple[str, Path], clock: ManualClock) -> Iterator[Services]:
    """Services whose data folder the service user (``nobody``) can reach: production
    runs as one, and the tests' root hides every permission error. pytest's own temp
    folder is root's (0700), so the data folder is copied to a fresh one under /tmp."""
    url, data_dir = database
    home = Path(tempfile.mkdtemp(prefix="vms-service-user-"))
    try:
        var = home / "var"
        shutil.copytree(data_dir, var)
        if url.startswith("sqlite"):
            url = f"sqlite:///{var / 'vms.db'}"
        services = Services.open(make_config(var, url), clock=clock)
        services.migrate()
        try:
            yield services
        finally:
            services.close()
    finally:
        shutil.rmtree(home)


def as_service_user(services: Services, run: Callable[[], object], **env: str) -> int:
    """Exit status of ``run()`` in a forked child that runs as the service user (when
    the tests run as root; as themselves otherwise): 0 when it returned, 1 when it
    raised (the traceback on stderr), minus the signal that killed it. The data folder
    is the service user's, as in production. Forked, not executed: the service user
    cannot read root's virtualenv."""
    ids: tuple[int, int] | None = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            pytest.skip(f"no {SERVICE_USER!r} user to drop root privileges to")
        ids = (user.pw_uid, user.pw_gid)
        home = services.config.data_dir.parent
        for path in (home, *home.rglob("*")):
            os.chown(path, *ids, follow_symlinks=False)
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            services.db.engine.dispose(close=False)  # the parent's connections stay its own
            os.environ.update(env)
            if ids is not None:
                os.setgroups([])
                os.setgid(ids[1])
                os.setuid(ids[0])
            run()
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status)


def test_expiry_never_writes_through_a_crashed_uploads_link_to_its_original_INV_2(
    service_user_services: Services, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """INV-2, TAG-5: a process killed between the ingest of a completed upload and
    marking it complete leaves the upload receiving, its file a hard link to the stored
    original (0400). The upload-expiry job, run by the service user, opened that file
    read-write to lock it: PermissionError, uncaught, so every run failed there and the
    uploads after it never expired (as root the open succeeded and nothing was written:
    the original was never damaged). Expiry opens it read-only and only ever unlinks
    the upload's own name; an upload whose file cannot be opened at all is left for the
    next run with a warning, and does not stop the others."""
    services = service_user_services
    with services.db.session() as s:
        officer = services.users.actor_for(
            s, s.execute(select(User).where(User.username == "officer")).scalar_one()
        )
    data = make_video(seconds=0.5)
    new = dataclasses.replace(
        NEW, size=len(data), sha256=hashlib.sha256(data).hexdigest(), filename="clip.mp4"
    )
    crashed = services.uploads.create(officer, new)
    services.uploads.put_chunk(
        officer, crashed.id, ContentRange(0, len(data) - 1, len(data)), io.BytesIO(data)
    )
    abandoned, unreadable = (services.uploads.create(officer, NEW) for _ in range(2))
    for upload in (abandoned, unreadable):
        services.uploads.put_chunk(officer, upload.id, ContentRange(0, 99, 1000), io.BytesIO(DATA))
    services.uploads.part_path(unreadable.id).chmod(0)  # say, restored from a backup

    status = as_service_user(
        services,
        lambda: services.uploads.complete(officer, crashed.id),
        VMS_TEST_CRASH_AT="ingest.after-commit",
    )
    assert status == -signal.SIGKILL
    with services.db.session() as s:
        [item] = s.execute(select(MediaItem)).scalars()
    original = services.store.path_for(item.sha256)
    part = services.uploads.part_path(crashed.id)
    assert os.path.samestat(part.stat(), original.stat())  # one inode, mode 0400
    assert services.uploads.status(officer, crashed.id).state == "receiving"

    clock.advance(dt.timedelta(hours=services.config.ingest.upload_stale_hours + 1))
    stale = dt.timedelta(hours=services.config.ingest.upload_stale_hours)

    def expire() -> None:
        assert services.uploads.expire_stale(stale) == 2
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warning.startswith(f"upload {unreadable.id}: not expired this run: ")
        assert "Permission denied" in warning

    status = as_service_user(services, expire)
    assert status == 0, "the expiry failed as the service user: see its stderr"

    assert services.uploads.status(officer, unreadable.id).state == "receiving"
    assert services.uploads.part_path(unreadable.id).exists()
    for upload in (crashed, abandoned):
        record = services.uploads.status(officer, upload.id)
        assert (record.state, record.error) == ("failed", "abandoned")
        assert not services.uploads.part_path(upload.id).exists()
    assert hashlib.sha256(original.read_bytes()).hexdigest() == item.sha256
    assert stat.S_IMODE(original.stat().st_mode) == 0o400
    assert check(services.db, services.store, Level.HASH).clean


# -- the item a completion's bytes duplicate, purged meanwhile (RET-13) -------------------

DAY = dt.timedelta(days=1)


def uploaded(services: Services, officer: Actor, data: bytes) -> str:
    """An upload of ``data`` from BWC-0042, every byte received, not completed."""
    new = dataclasses.replace(
        NEW, size=len(data), sha256=hashlib.sha256(data).hexdigest(), filename="clip.mp4"
    )
    record = services.uploads.create(officer, new)
    services.uploads.put_chunk(
        officer, record.id, ContentRange(0, len(data) - 1, len(data)), io.BytesIO(data)
    )
    return record.id


def expired_upload(services: Services, officer: Actor, clock: ManualClock, data: bytes) -> str:
    """The item of a completed upload of ``data``, then 100 days on: expired (RET-4's
    90 days count from its ingest) and kept by nothing."""
    first = services.uploads.complete(officer, uploaded(services, officer, data))
    clock.advance(100 * DAY)
    return first.media.id


def test_bytes_whose_item_is_purged_as_their_upload_completes_are_filed_anew_RET_13(
    services: Services,
    actors: dict[str, Actor],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The device sends again the bytes of an item that has expired; the purge destroys
    that item after the ingest found it (a duplicate) and before the upload was marked
    complete with it. The upload was completed naming the destroyed item and its file
    removed: every repeat of ``complete`` then answered 404, the footage lost to the
    device. Its bytes are filed as a new item now, as the same upload a moment later
    would be, and a repeat answers that item."""
    from tests.races import purged_after_ingest

    officer = actors["officer"]
    data = make_video(seconds=0.5)
    gone = expired_upload(services, officer, clock, data)
    upload_id = uploaded(services, officer, data)
    armed = purged_after_ingest(monkeypatch, services, gone)

    done = services.uploads.complete(officer, upload_id)

    assert not armed[0], "the purge did not land between the ingest and the write"
    assert (done.upload.state, done.duplicate) == ("complete", False)
    assert done.media.id != gone
    assert services.uploads.complete(officer, upload_id).media.id == done.media.id
    with services.db.session() as s:
        item = s.get(MediaItem, done.media.id)
        assert item is not None and item.sha256 == hashlib.sha256(data).hexdigest()
        recorded = select(DestructionRecord.id).where(DestructionRecord.media_id == gone)
        assert s.execute(recorded).first() is not None  # RET-13: the purge recorded
    assert not services.uploads.part_path(upload_id).exists()
    report = check(services.db, services.store)
    assert report.clean, report


def test_bytes_whose_item_is_being_purged_as_their_upload_completes_are_kept_RET_13(
    services: Services,
    actors: dict[str, Actor],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same, the purge having recorded its intent (step 1) and not yet deleted the
    item when the upload is marked complete: the upload named an item about to go, and
    was lost when it went. Refused now with a 409 (complete again), the upload still
    receiving with its bytes; completed again after the purge, they are a new item."""
    from tests.races import purge_decided_after_ingest, purge_now

    officer = actors["officer"]
    data = make_video(seconds=0.5)
    gone = expired_upload(services, officer, clock, data)
    upload_id = uploaded(services, officer, data)
    decided = purge_decided_after_ingest(monkeypatch, services)

    with pytest.raises(Conflict, match=f"item {gone}, which has the same bytes, is being purged"):
        services.uploads.complete(officer, upload_id)

    assert decided == [gone]
    assert services.uploads.status(officer, upload_id).state == "receiving"
    assert services.uploads.part_path(upload_id).exists()
    purge_now(services, gone)  # the purge's next step (replay) finishes the item
    done = services.uploads.complete(officer, upload_id)
    assert (done.upload.state, done.duplicate) == ("complete", False)
    assert done.media.id != gone
    report = check(services.db, services.store)
    assert report.clean, report


# -- a repeat of a completed upload whose item the purge destroyed since (RET-13) ---------


@pytest.mark.parametrize("when", ["before the repeat", "as the repeat reads the upload"])
def test_a_repeated_complete_of_an_upload_whose_item_was_purged_cites_the_destruction_RET_13(
    services: Services,
    actors: dict[str, Actor],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
) -> None:
    """RET-13, TAG-5: the item a completed upload catalogued expired and was purged; a
    repeat of ``complete`` (a client retrying, a device asking whether it may erase its
    copy) answered "upload ... is complete: its file is gone" (409), or 404 "media ...
    does not exist" when the purge landed as the repeat read the upload: neither said
    the footage had been catalogued and destroyed under the retention rules. It answers
    409 with the destruction record: which item, its SHA-256, the rule, when it expired
    and when it was purged."""
    from tests.races import purge_now, purged_after

    officer = actors["officer"]
    data = make_video(seconds=0.5)
    upload_id = uploaded(services, officer, data)
    item = services.uploads.complete(officer, upload_id).media.id
    clock.advance(100 * DAY)  # RET-4's 90 days passed, nothing keeps it
    if when == "before the repeat":
        purge_now(services, item)
    else:
        purged_after(monkeypatch, services, services.uploads, "_owned", item)

    with pytest.raises(Conflict) as refused:
        services.uploads.complete(officer, upload_id)

    with services.db.session() as s:
        record = s.execute(
            select(DestructionRecord).where(DestructionRecord.media_id == item)
        ).scalar_one()
    message = refused.value.message
    assert f"upload {upload_id} was completed as item {item}" in message, message
    assert f"destroyed by the retention purge on {isoformat(record.purged_at)}" in message
    assert f"under {record.rule}" in message and f"destruction record {record.id}" in message
    destroyed = refused.value.details["destruction"]
    assert destroyed == {
        "id": record.id,
        "media_id": item,
        "sha256": hashlib.sha256(data).hexdigest(),
        "rule": record.rule,
        "expired_at": isoformat(record.expired_at),
        "purged_at": isoformat(record.purged_at),
    }
    assert refused.value.details["state"] == "complete"
    assert services.uploads.status(officer, upload_id).state == "complete"


def test_the_status_of_an_upload_whose_item_was_purged_cites_the_destruction_RET_13(
    services: Services, actors: dict[str, Actor], clock: ManualClock
) -> None:
    """RET-13, TAG-5: once the item a completed upload catalogued was purged, the
    upload's status still read ``complete`` with ``media_id`` None and nothing more: a
    device asking whether its footage is kept could not tell it was destroyed, nor under
    which rule. The status cites the destruction record, as a repeated complete does."""
    from tests.races import purge_now

    officer = actors["officer"]
    data = make_video(seconds=0.5)
    upload_id = uploaded(services, officer, data)
    item = services.uploads.complete(officer, upload_id).media.id
    kept = services.uploads.status(officer, upload_id)
    assert (kept.media_id, kept.destruction) == (item, None)
    clock.advance(100 * DAY)  # RET-4's 90 days passed, nothing keeps it
    purge_now(services, item)

    status = services.uploads.status(officer, upload_id)

    with services.db.session() as s:
        record = s.execute(
            select(DestructionRecord).where(DestructionRecord.media_id == item)
        ).scalar_one()
    assert (status.state, status.media_id) == ("complete", None)
    assert status.destruction is not None, status
    assert (
        status.destruction.id,
        status.destruction.media_id,
        status.destruction.sha256,
        status.destruction.rule,
        status.destruction.expired_at,
        status.destruction.purged_at,
    ) == (
        record.id,
        item,
        hashlib.sha256(data).hexdigest(),
        record.rule,
        record.expired_at,
        record.purged_at,
    )
