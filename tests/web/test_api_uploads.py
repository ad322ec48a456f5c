"""Resumable uploads over real HTTP on loopback (TAG-5, INV-1)."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import LiveServer, issue_tokens
from tests.media import make_video, noise
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db.models import AuditEntry, MediaItem


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload_body(data: bytes, **extra: object) -> dict[str, object]:
    """A create body for ``data`` from device BWC-0042; ``extra`` adds or replaces fields."""
    body: dict[str, object] = {
        "filename": "shift.mp4",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "bwc",
        "device_id": "BWC-0042",
    }
    return body | extra


def create(http: httpx.Client, token: str, data: bytes, **extra: object) -> str:
    body = upload_body(data, title="CAD 2611-0042", categories=["Service of Process"]) | extra
    r = http.post("/api/v1/uploads", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def put(
    http: httpx.Client,
    token: str,
    upload_id: str,
    data: bytes,
    start: int,
    end: int,
    **headers: str,
) -> httpx.Response:
    return http.put(
        f"/api/v1/uploads/{upload_id}",
        content=data[start : end + 1],
        headers={**auth(token), "Content-Range": f"bytes {start}-{end}/{len(data)}", **headers},
    )


def media_rows(live: LiveServer) -> int:
    with live.services.db.session() as s:
        return int(s.execute(select(func.count()).select_from(MediaItem)).scalar_one())


@pytest.fixture
def http(live_server: LiveServer):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


def test_upload_in_chunks_and_complete_TAG_5(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=2)
    token = tokens["officer"]
    upload_id = create(http, token, data)
    third = len(data) // 3
    for start, end in ((0, third - 1), (third, 2 * third - 1), (2 * third, len(data) - 1)):
        r = put(http, token, upload_id, data, start, end)
        assert r.status_code == 200, r.text
        assert r.json()["received"] == end + 1
        assert r.headers["Upload-Offset"] == str(end + 1)
    r = http.get(f"/api/v1/uploads/{upload_id}", headers=auth(token))
    assert r.json() == {**r.json(), "received": len(data), "size": len(data), "state": "receiving"}
    r = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))
    assert r.status_code == 200, r.text
    media = r.json()["media"]
    assert media["sha256"] == hashlib.sha256(data).hexdigest()
    assert media["officer_badge"] == "B1"  # officers upload as themselves (ACC-2)
    assert media["categories"] == ["Service of Process"]
    assert [e["action"] for e in media["custody"]] == ["ingested"]
    # Repeating complete is harmless and returns the same item.
    again = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))
    assert again.json()["media"]["id"] == media["id"]
    # The officer can play it back with HTTP Range.
    r = http.get(
        f"/api/v1/media/{media['id']}/content", headers={**auth(token), "Range": "bytes=0-99"}
    )
    assert r.status_code == 206 and r.content == data[:100]
    assert not list(live_server.services.uploads.directory.glob("*.part"))


def test_wrong_offset_gets_409_with_the_current_offset(
    http: httpx.Client, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=1)
    token = tokens["officer"]
    upload_id = create(http, token, data)
    assert put(http, token, upload_id, data, 0, 99).status_code == 200
    for start in (50, 200):
        r = put(http, token, upload_id, data, start, start + 49)
        assert r.status_code == 409
        assert r.json()["offset"] == 100
        assert r.headers["Upload-Offset"] == "100"
        assert "offset 100" in r.json()["error"]["message"]


def test_resume_after_the_connection_drops_mid_chunk(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=3) + b""  # a few hundred KB
    token = tokens["officer"]
    upload_id = create(http, token, data)
    # Send a chunk's headers and only part of its body, then vanish.
    half = len(data) // 2
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (
            f"PUT /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n"
            f"Content-Range: bytes 0-{len(data) - 1}/{len(data)}\r\n\r\n"
        ).encode()
        sock.sendall(head + data[:half])
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    received = 0
    while time.monotonic() < deadline:
        received = http.get(f"/api/v1/uploads/{upload_id}", headers=auth(token)).json()["received"]
        if received:
            break
        time.sleep(0.1)
    assert 0 < received <= half  # what arrived was kept
    r = put(http, token, upload_id, data, received, len(data) - 1)
    assert r.status_code == 200, r.text
    r = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))
    assert r.status_code == 200, r.text
    assert r.json()["media"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_corrupted_chunk_is_discarded_when_its_checksum_is_sent(
    http: httpx.Client, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=1)
    token = tokens["officer"]
    upload_id = create(http, token, data)
    corrupted = bytearray(data)
    corrupted[10] ^= 0xFF
    r = put(
        http,
        token,
        upload_id,
        bytes(corrupted),
        0,
        len(data) - 1,
        **{"X-Chunk-SHA256": hashlib.sha256(data).hexdigest()},
    )
    assert r.status_code == 422
    assert "corrupt" in r.json()["error"]["message"]
    assert http.get(f"/api/v1/uploads/{upload_id}", headers=auth(token)).json()["received"] == 0
    assert put(http, token, upload_id, data, 0, len(data) - 1).status_code == 200


def test_wrong_sha256_is_refused_and_nothing_ingested(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=1)
    token = tokens["officer"]
    upload_id = create(http, token, data, sha256=hashlib.sha256(b"other").hexdigest())
    assert put(http, token, upload_id, data, 0, len(data) - 1).status_code == 200
    r = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))
    assert r.status_code == 422
    assert "sha256 mismatch" in r.json()["error"]["message"]
    assert media_rows(live_server) == 0
    assert http.get(f"/api/v1/uploads/{upload_id}", headers=auth(token)).json()["state"] == "failed"
    assert list(live_server.services.store.iter_objects()) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (noise(5000), "not a decodable"),
        (b"plain text is not a recording\n" * 50, "not a decodable"),
    ],
)
def test_non_video_is_refused_with_a_clear_error(
    http: httpx.Client,
    live_server: LiveServer,
    tokens: dict[str, str],
    payload: bytes,
    message: str,
) -> None:
    token = tokens["officer"]
    upload_id = create(http, token, payload)
    assert put(http, token, upload_id, payload, 0, len(payload) - 1).status_code == 200
    r = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]
    assert "shift.mp4" in r.json()["error"]["message"]
    assert media_rows(live_server) == 0


def test_truncated_video_is_refused(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=3)
    cut = data[: len(data) * 2 // 3]
    token = tokens["officer"]
    upload_id = create(http, token, cut)
    assert put(http, token, upload_id, cut, 0, len(cut) - 1).status_code == 200
    r = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))
    assert r.status_code == 400
    assert "truncated" in r.json()["error"]["message"]
    assert media_rows(live_server) == 0


def test_duplicate_upload_is_reported_not_stored_twice(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=1)
    token = tokens["officer"]
    ids = []
    for _ in range(2):
        upload_id = create(http, token, data)
        put(http, token, upload_id, data, 0, len(data) - 1)
        r = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))
        assert r.status_code == 200
        ids.append((r.json()["duplicate"], r.json()["media"]["id"]))
    assert ids[0][0] is False and ids[1] == (True, ids[0][1])
    assert media_rows(live_server) == 1
    with live_server.services.db.session() as s:
        outcomes = (
            s.execute(select(AuditEntry.outcome).where(AuditEntry.action == "media.ingest"))
            .scalars()
            .all()
        )
    assert sorted(outcomes) == ["duplicate", "ok"]


def test_bad_create_requests_say_what_is_wrong(http: httpx.Client, tokens: dict[str, str]) -> None:
    token = tokens["officer"]
    cases = [
        ({"size": 10}, "filename is required"),
        (
            {
                "filename": "a.mp4",
                "size": -1,
                "sha256": "0" * 64,
                "source": "bwc",
                "device_id": "D",
            },
            "size: -1 is outside 1..",
        ),
        (
            {"filename": "a.mp4", "size": 10, "sha256": "xyz", "source": "bwc", "device_id": "D"},
            "not 64 hex digits",
        ),
        (
            {
                "filename": "a.mp4",
                "size": 10,
                "sha256": "0" * 64,
                "source": "drone",
                "device_id": "D",
            },
            "source: 'drone' must be one of",
        ),
        (
            {
                "filename": "a.mp4",
                "size": 10,
                "sha256": "0" * 64,
                "source": "bwc",
                "device_id": "D",
                "recorded_at": "2026-11-01 10:00",
            },
            "no UTC offset",
        ),
        (
            {
                "filename": "a.mp4",
                "size": 10,
                "sha256": "0" * 64,
                "source": "bwc",
                "device_id": "D",
                "nonsense": 1,
            },
            "nonsense is not a field of this request",
        ),
    ]
    for body, message in cases:
        r = http.post("/api/v1/uploads", json=body, headers=auth(token))
        assert r.status_code == 400, (body, r.text)
        assert message in r.json()["error"]["message"], (body, r.json())
    r = http.post("/api/v1/uploads", content=b"not json", headers=auth(token))
    assert r.status_code == 400


def test_only_the_uploader_may_continue_an_upload(
    http: httpx.Client, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=1)
    upload_id = create(http, tokens["officer"], data)
    r = put(http, tokens["other_officer"], upload_id, data, 0, len(data) - 1)
    assert r.status_code == 403
    r = http.get(f"/api/v1/uploads/{upload_id}", headers=auth(tokens["sergeant"]))
    assert r.status_code == 403


def test_officer_cannot_upload_as_another_officer_ACC_2(
    http: httpx.Client, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=1)
    r = http.post(
        "/api/v1/uploads",
        json={
            "filename": "a.mp4",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "source": "bwc",
            "device_id": "BWC-1",
            "officer_badge": "B2",
        },
        headers=auth(tokens["officer"]),
    )
    assert r.status_code == 403
    assert "ACC-2" in r.json()["error"]["message"]


@pytest.fixture
def purged_upload(
    http: httpx.Client,
    live_server: LiveServer,
    actors: dict[str, Actor],
    tokens: dict[str, str],
    clock: ManualClock,
) -> tuple[bytes, str, str, str]:
    """An officer's upload, completed, its item then purged 100 days later (RET-4's 90
    passed, nothing keeps it): its bytes, the upload's and the item's ids, and a token of
    the officer's new shift. Its status reads ``destruction: null`` before the purge."""
    from tests.races import purge_now

    data = make_video(seconds=0.5)
    token = tokens["officer"]
    upload_id = create(http, token, data)
    put(http, token, upload_id, data, 0, len(data) - 1)
    r = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))
    assert r.status_code == 200, r.text
    item = r.json()["media"]["id"]
    r = http.get(f"/api/v1/uploads/{upload_id}", headers=auth(token))
    assert (r.json()["media_id"], r.json()["destruction"]) == (item, None), r.text
    clock.advance(dt.timedelta(days=100))
    purge_now(live_server.services, item)
    return data, upload_id, item, issue_tokens(live_server.services, actors)["officer"]


def test_repeating_complete_after_the_item_was_purged_cites_the_destruction_RET_13(
    http: httpx.Client, purged_upload: tuple[bytes, str, str, str]
) -> None:
    """RET-13, TAG-5: a device repeating ``complete`` after the item its upload became
    was purged got 409 "upload ... is complete: its file is gone", which says nothing of
    the footage's fate. It gets 409 citing the destruction record (what was purged,
    when, under which rule)."""
    data, upload_id, item, token = purged_upload

    r = http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token))

    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["kind"] == "conflict"
    assert f"was completed as item {item}, which was destroyed" in error["message"], error
    destroyed = error["details"]["destruction"]
    assert (destroyed["media_id"], destroyed["sha256"]) == (
        item,
        hashlib.sha256(data).hexdigest(),
    )
    assert destroyed["rule"] and destroyed["purged_at"].endswith("Z"), destroyed
    assert f"under {destroyed['rule']}" in error["message"]


def test_the_status_of_an_upload_whose_item_was_purged_cites_the_destruction_RET_13(
    http: httpx.Client, purged_upload: tuple[bytes, str, str, str]
) -> None:
    """RET-13, TAG-5: GET /uploads/<id> of an upload whose item was purged answered
    ``complete`` with ``media_id: null`` and nothing more. It cites the destruction
    record (``destruction``: what was purged, when, under which rule), null while the
    item is kept (purged_upload)."""
    data, upload_id, item, token = purged_upload

    r = http.get(f"/api/v1/uploads/{upload_id}", headers=auth(token))

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["media_id"]) == ("complete", None), body
    destroyed = body["destruction"]
    assert (destroyed["media_id"], destroyed["sha256"]) == (
        item,
        hashlib.sha256(data).hexdigest(),
    ), destroyed
    assert destroyed["rule"] and destroyed["id"], destroyed
    assert destroyed["expired_at"].endswith("Z") and destroyed["purged_at"].endswith("Z")


def test_an_upload_is_finished_only_by_a_role_that_uploads_ACC_1(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    """An officer starts an upload, then becomes an auditor (who uploads nothing): the
    rest of the upload is refused by role (403, audited), as its start would be now."""
    from sqlalchemy import update

    from vms.db.models import Role, User

    data = make_video(seconds=1)
    token = tokens["officer"]
    upload_id = create(http, token, data)
    assert put(http, token, upload_id, data, 0, 99).status_code == 200
    with live_server.services.db.transaction() as s:
        s.execute(update(User).where(User.username == "officer").values(role=Role.AUDITOR.value))
    rows = media_rows(live_server)
    for r in (
        put(http, token, upload_id, data, 100, len(data) - 1),
        http.get(f"/api/v1/uploads/{upload_id}", headers=auth(token)),
        http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(token)),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["error"]["kind"] == "permission_denied"
    assert media_rows(live_server) == rows
    with live_server.services.db.session() as s:
        denied = s.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "media.upload", AuditEntry.outcome == "denied")
        ).scalar_one()
    assert denied == 3
