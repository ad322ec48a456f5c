"""Filling the disk by upload (#10.9): declared bytes are reserved, every chunk keeps the
upload reserve, a per-user quota caps open uploads, abandoned uploads expire on a job, and
recording (the smaller reserve) keeps going after uploads are refused.

Real numbers: the data folder is a 64 MiB tmpfs mounted for the test (as root, like the
recorder's disk-full test), with a 16 MiB upload reserve and a 4 MiB recorder reserve.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import make_config
from tests.media import make_video
from vms.audit.log import SYSTEM_ROLE, Who
from vms.clock import ManualClock
from vms.db.models import AuditEntry, MediaItem, SourceKind, User
from vms.ingest import IngestRequest
from vms.services import Services

MiB = 1024**2
DISK = 64 * MiB
UPLOAD_RESERVE = 16 * MiB
RECORDER_RESERVE = 4 * MiB

Open = Callable[..., Services]


@pytest.fixture
def small_disk(database: tuple[str, Path], tmp_path: Path) -> Iterator[Open]:
    """Opens services whose data folder (upload folder and media store) is a 64 MiB
    tmpfs; the database stays outside it, so the figures are the files' alone."""
    url, data_dir = database
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount)], check=True)
    with ExitStack() as stack:
        stack.callback(subprocess.run, ["umount", str(mount)], check=True)
        shutil.copytree(data_dir / "secrets", mount / "secrets")

        def open_services(clock: ManualClock | None = None, **overrides: object) -> Services:
            settings: dict[str, object] = {
                "VMS_INGEST_MIN_FREE_BYTES": RECORDER_RESERVE,
                "VMS_INGEST_UPLOAD_MIN_FREE_BYTES": UPLOAD_RESERVE,
                **overrides,
            }
            services = Services.open(make_config(mount, url, **settings), clock=clock)
            stack.callback(services.close)
            services.migrate()
            return services

        yield open_services


def free(services: Services) -> int:
    return shutil.disk_usage(services.config.data_dir).free


def client_and_tokens(services: Services) -> tuple[Any, dict[str, str]]:
    from web.app import create_app

    app, _socketio = create_app(services, testing=True)
    with services.db.session() as s:
        actors = [services.users.actor_for(s, u) for u in s.execute(select(User)).scalars()]
    return app.test_client(), {a.username: services.users.issue_token(a).token for a in actors}


def bearer(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def create(client: Any, token_headers: dict[str, str], size: int, name: str = "a.mp4") -> Any:
    body = {
        "filename": name,
        "size": size,
        "sha256": "0" * 64,
        "source": "bwc",
        "device_id": "BWC-0042",
    }
    return client.post("/api/v1/uploads", json=body, headers=token_headers)


def put(client: Any, headers: dict[str, str], upload_id: str, data: bytes, start: int, total: int):  # type: ignore[no-untyped-def]
    end = start + len(data) - 1
    return client.put(
        f"/api/v1/uploads/{upload_id}",
        data=data,
        headers={**headers, "Content-Range": f"bytes {start}-{end}/{total}"},
    )


def record_segment(services: Services, seed: int) -> str:
    """What the recorder does with a finished segment: a fixed item through ingest."""
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1.0, seed=seed)),
        IngestRequest(source=SourceKind.FIXED, device_id="CAM-1"),
        Who("recorder", SYSTEM_ROLE),
    )
    return result.media_id


def test_declared_bytes_are_reserved_six_uploads_cannot_overbook_the_disk(
    small_disk: Open,
) -> None:
    """The field report, scaled: six uploads each declaring more than a sixth of the free
    space were all accepted. Now each is admitted only while free space minus the bytes
    already promised to open uploads minus its size keeps the upload reserve; the
    refusal is a 507 that gives the figures. Six creates at once, from six threads."""
    services = small_disk()
    client, tokens = client_and_tokens(services)
    size = 11 * MiB
    start_free = free(services)
    expected = (start_free - UPLOAD_RESERVE) // size  # 4 of 6 on a 64 MiB disk
    assert 0 < expected < 6
    results: list[Any] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        r = create(client, bearer(tokens, "officer"), size, f"shift-{i}.mp4")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.status_code for r in results) == [201] * expected + [507] * (6 - expected)
    refused = next(r for r in results if r.status_code == 507)
    message = refused.json["error"]["message"]
    assert refused.json["error"]["kind"] == "insufficient_storage"
    assert f"an upload of {size} bytes" in message
    assert f"{expected * size} of them promised to {expected} open uploads" in message
    assert f"must leave {UPLOAD_RESERVE} bytes free" in message
    assert "upload_min_free_bytes" in message
    details = refused.json["error"]["details"]
    assert details["promised_bytes"] == expected * size and details["size_bytes"] == size
    assert abs(details["free_bytes"] - start_free) < MiB  # the real free space


def test_every_chunk_keeps_the_upload_reserve_and_recording_keeps_going(
    small_disk: Open,
) -> None:
    """A chunk that would eat into the upload reserve (space used meanwhile, here by a
    filler as recording would) is refused with 507 and the offset, and nothing of it is
    written. Recording, with its smaller reserve, still stores segments after uploads
    are refused: an uploader cannot stop it."""
    services = small_disk()
    client, tokens = client_and_tokens(services)
    headers = bearer(tokens, "officer")
    size = 8 * MiB
    r = create(client, headers, size)
    assert r.status_code == 201
    upload_id = r.json["id"]
    part = services.uploads.part_path(upload_id)
    # Something else takes the disk down to 20 MiB free after the upload was admitted.
    filler = services.config.data_dir / "filler.bin"
    filler.write_bytes(b"\0" * (free(services) - 20 * MiB))
    data = os.urandom(size)
    r = put(client, headers, upload_id, data, 0, size)
    assert r.status_code == 507, r.json
    assert r.json["offset"] == 0 and r.headers["Upload-Offset"] == "0"
    assert f"a chunk of {size} bytes" in r.json["error"]["message"]
    assert "resume from offset 0" in r.json["error"]["message"]
    assert part.stat().st_size == 0  # refused before a byte was written
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=headers).json["received"] == 0

    # Uploads are refused, recording is not (4 MiB reserve < 16 MiB).
    assert create(client, headers, 2 * MiB).status_code == 507
    segment = record_segment(services, seed=1)
    with services.db.session() as s:
        assert s.get(MediaItem, segment) is not None

    # Room again: the same chunk goes in and the upload carries on.
    filler.unlink()
    r = put(client, headers, upload_id, data, 0, size)
    assert r.status_code == 200 and r.json["received"] == size
    assert part.stat().st_size == size


def test_uploads_fill_the_disk_only_to_the_upload_reserve(small_disk: Open) -> None:
    """An uploader sending as much as it is allowed stops at the upload reserve; the
    recorder then still has the difference down to its own reserve."""
    services = small_disk()
    client, tokens = client_and_tokens(services)
    headers = bearer(tokens, "officer")
    size = free(services) - UPLOAD_RESERVE - MiB
    upload_id = create(client, headers, size).json["id"]
    chunk = 4 * MiB
    for start in range(0, size, chunk):
        data = b"\1" * min(chunk, size - start)
        r = put(client, headers, upload_id, data, start, size)
        assert r.status_code == 200, r.json
    assert UPLOAD_RESERVE < free(services) < UPLOAD_RESERVE + 2 * MiB
    assert create(client, headers, 2 * MiB).status_code == 507
    for seed in range(3):
        record_segment(services, seed)
    assert free(services) > RECORDER_RESERVE


def test_per_user_quota_of_open_upload_bytes(small_disk: Open) -> None:
    """One user's open uploads may declare at most [ingest] upload_user_open_bytes; the
    refusal names the figures; another user is not affected."""
    services = small_disk(VMS_INGEST_UPLOAD_USER_OPEN_BYTES=20 * MiB)
    client, tokens = client_and_tokens(services)
    officer = bearer(tokens, "officer")
    assert create(client, officer, 12 * MiB).status_code == 201
    r = create(client, officer, 12 * MiB)
    assert r.status_code == 507
    message = r.json["error"]["message"]
    assert f"officer's open uploads would hold {24 * MiB} bytes" in message
    assert f"per-user limit of {20 * MiB} bytes" in message
    assert f"{12 * MiB} bytes in 1 open uploads plus {12 * MiB} declared" in message
    assert create(client, officer, 8 * MiB).status_code == 201  # up to the limit
    assert create(client, bearer(tokens, "other_officer"), 12 * MiB).status_code == 201


def test_per_user_limit_on_the_number_of_open_uploads(small_disk: Open) -> None:
    """One-byte uploads fit any byte quota: one user declaring them in a loop used to add
    a row, a file and an audit entry each without end (and every admission sums over all
    open uploads). One more than [ingest] upload_user_open_uploads is 429 naming the
    limit, nothing created; another user is not affected; a finished (here: failed)
    upload gives its place back."""
    services = small_disk(VMS_INGEST_UPLOAD_USER_OPEN_UPLOADS=3)
    client, tokens = client_and_tokens(services)
    officer = bearer(tokens, "officer")
    opened = [create(client, officer, 1) for _ in range(3)]
    assert [r.status_code for r in opened] == [201, 201, 201]
    files = sorted(services.uploads.directory.iterdir())
    r = create(client, officer, 1)
    assert r.status_code == 429, r.json
    assert r.json["error"]["kind"] == "rate_limited"
    message = r.json["error"]["message"]
    assert "officer has 3 open uploads" in message
    assert "[ingest] upload_user_open_uploads = 3" in message
    assert sorted(services.uploads.directory.iterdir()) == files  # nothing created
    assert create(client, bearer(tokens, "other_officer"), 1).status_code == 201
    upload_id = opened[0].json["id"]
    assert put(client, officer, upload_id, b"x", 0, 1).status_code == 200
    done = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=officer)
    assert done.status_code >= 400  # one byte is no video: the upload failed
    assert create(client, officer, 1).status_code == 201


def test_abandoned_uploads_expire_on_a_job_audited_and_give_their_room_back(
    small_disk: Open,
) -> None:
    clock = ManualClock(dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC))
    services = small_disk(clock, VMS_INGEST_UPLOAD_STALE_HOURS=1)
    client, tokens = client_and_tokens(services)
    headers = bearer(tokens, "officer")
    size = free(services) - UPLOAD_RESERVE - 8 * MiB
    upload_id = create(client, headers, size).json["id"]
    assert put(client, headers, upload_id, b"\2" * MiB, 0, size).status_code == 200
    busy_id = create(client, headers, MiB, "busy.mp4").json["id"]
    assert create(client, headers, 16 * MiB).status_code == 507  # the room is promised
    [job] = [j for j in services.jobs if j.name == "upload-expiry"]
    assert job.interval_seconds <= 600

    clock.advance(dt.timedelta(minutes=59))
    assert job.run() == 0  # not stale yet
    clock.advance(dt.timedelta(minutes=2))
    # A chunk is being written to the second one right now (its lock is held).
    fd = os.open(services.uploads.part_path(busy_id), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert job.run() == 1
    finally:
        os.close(fd)

    assert not services.uploads.part_path(upload_id).exists()
    status = client.get(f"/api/v1/uploads/{upload_id}", headers=headers).json
    assert (status["state"], status["error"]) == ("failed", "abandoned")
    r = put(client, headers, upload_id, b"\2" * MiB, MiB, size)
    assert r.status_code == 409
    with services.db.session() as s:
        [entry] = s.execute(
            select(AuditEntry).where(AuditEntry.action == "upload.expire")
        ).scalars()
    assert entry.target == f"upload:{upload_id}" and entry.details["received"] == MiB
    assert entry.details["size"] == size
    # Its reservation is given back.
    assert create(client, headers, 16 * MiB).status_code == 201
    assert job.run() == 1  # the busy one, now idle
