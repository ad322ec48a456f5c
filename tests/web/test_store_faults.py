"""Content from an S3 media store that fails while it is served (issue 13.6).

The S3 store is the real SeaweedFS behind a proxy that, on demand, answers the GETs of
object bodies with ``503 SlowDown`` (tests/peers/seaweedfs/faults.py) while HEAD still
finds the object: the store found the original, then cannot read it. The caller gets a
503 naming the object store and why, not a 200 whose body breaks off after the
headers; and nothing is recorded as viewed (ACC-6: only content actually served).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import make_config, s3_overrides
from tests.media import make_video
from tests.peers.seaweedfs import SeaweedS3
from tests.peers.seaweedfs.faults import FaultyS3
from tests.security.conftest import document_item as document_item  # fixture
from tests.security.conftest import released as released  # fixture
from tests.security.test_share_links import OUTSIDER, share
from vms.audit.log import Who
from vms.config import Config
from vms.db.models import AuditEntry, ShareLink, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture
def faulty(seaweedfs: SeaweedS3) -> Iterator[FaultyS3]:
    with FaultyS3(seaweedfs.endpoint) as proxy:
        yield proxy


@pytest.fixture
def config(database: tuple[str, Path], seaweedfs: SeaweedS3, faulty: FaultyS3) -> Config:
    url, data_dir = database
    settings = s3_overrides(seaweedfs)
    settings["VMS_STORE_ENDPOINT"] = faulty.endpoint
    return make_config(data_dir, url, **settings)


def viewings(services: Services, media_id: str) -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.target == f"media:{media_id}",
                    AuditEntry.action.in_(("media.view", "media.download")),
                )
            ).scalar_one()
        )


def test_an_object_store_failing_to_read_is_a_503_before_any_byte_and_no_viewing(
    client: FlaskClient, services: Services, tokens: dict[str, str], faulty: FaultyS3
) -> None:
    data = make_video(seconds=0.5, seed=7)
    media_id = services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(source=SourceKind.BWC, device_id="DEV-S3", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    url = f"/api/v1/media/{media_id}/content?purpose=legal"
    headers = {"Authorization": f"Bearer {tokens['investigator']}"}
    faulty.fail_object_gets = True
    for extra in ({}, {"Range": "bytes=100-199"}):
        r = client.get(url, headers={**headers, **extra})
        assert r.status_code == 503, extra
        error = r.get_json()["error"]
        assert error["kind"] == "unavailable"
        assert "object store" in error["message"] and "SlowDown" in error["message"]
        r.close()
    assert faulty.refused > 0
    assert viewings(services, media_id) == 0  # nothing was served (ACC-6)
    faulty.fail_object_gets = False  # the store is back: served as before
    r = client.get(url, headers=headers)
    assert r.status_code == 200 and r.data == data
    r.close()
    assert viewings(services, media_id) == 1


def test_an_upload_the_object_store_refuses_stays_complete_to_retry_TAG_5(
    client: FlaskClient, services: Services, tokens: dict[str, str], faulty: FaultyS3
) -> None:
    """A BWC upload whose every byte arrived, completed while the store refuses this
    deployment's writes (403 AccessDenied: a key rotated, a bucket policy changed): the
    store's refusal is the deployment's fault, not the officer's. 503 naming the store;
    the upload keeps its bytes and stays open, and completes once the store is back
    (TAG-5: only a verified upload lets the device copy go)."""
    data = make_video(seconds=0.5, seed=8)
    headers = {"Authorization": f"Bearer {tokens['officer']}"}
    r = client.post(
        "/api/v1/uploads",
        json={
            "filename": "shift.mp4",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "source": "bwc",
            "device_id": "BWC-0042",
        },
        headers=headers,
    )
    assert r.status_code == 201, r.data
    upload = f"/api/v1/uploads/{r.get_json()['id']}"
    r = client.put(
        upload,
        data=data,
        headers={**headers, "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    assert r.status_code == 200, r.data
    faulty.refuse_object_writes = True
    r = client.post(f"{upload}/complete", headers=headers)
    assert faulty.refused > 0
    assert r.status_code == 503, r.data
    error = r.get_json()["error"]
    assert "object store" in error["message"] and "AccessDenied" in error["message"]
    assert client.get(upload, headers=headers).get_json()["state"] == "receiving"
    faulty.refuse_object_writes = False  # the store accepts the key again
    r = client.post(f"{upload}/complete", headers=headers)
    assert r.status_code == 200, r.data
    assert r.get_json()["media"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_readiness_fails_while_the_object_store_is_down(
    client: FlaskClient, faulty: FaultyS3
) -> None:
    """The media store is the bucket: a web process that cannot store or read evidence
    is not ready for traffic (docs/design/operations.md), whatever its local folder."""
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_json()
    faulty.down = True
    r = client.get("/readyz")
    assert r.status_code == 503, r.get_json()
    assert r.get_json()["failed"] == ["media_store"]
    faulty.down = False
    assert client.get("/readyz").status_code == 200


def test_a_share_download_the_store_cannot_serve_is_not_counted_ACC_5(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    released: str,
    document_item: tuple[str, bytes],
    faulty: FaultyS3,
) -> None:
    """A link allows few downloads (REL-1, ACC-5: an outsider with no account). One the
    store fails to serve is a 503, not counted and not recorded as downloaded: the
    outsider's next try gets the file."""
    link = share(client, tokens, released, max_downloads=1)
    outsider = app.test_client()
    faulty.fail_object_gets = True
    got = outsider.get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
    assert got.status_code == 503
    got.close()
    with services.db.session() as s:
        assert s.get_one(ShareLink, link["id"]).downloads == 0
        assert not s.execute(
            select(AuditEntry).where(AuditEntry.action == "release.share.download")
        ).first()
    faulty.fail_object_gets = False
    got = outsider.get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
    assert got.status_code == 200 and got.data == document_item[1]
    got.close()
