"""Resumable uploads with web servers on two hosts behind a balancer (ARCHITECTURE.md 1:
roles share the database, the media store and Redis, not a data folder). An upload's
bytes are in the upload folder of the server that took its first request, so a chunk
or a ``complete`` the balancer sends to the other server cannot be served there: 503
saying so and to send it again (TAG-5: the device keeps its copy until an upload is
verified), never a 500, and never a 409 claiming the upload's file is gone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.media import make_video
from vms.clock import ManualClock
from vms.config import Config
from vms.services import Services
from web.app import create_app


@pytest.fixture
def other_host(config: Config, clock: ManualClock, tmp_path: Path) -> Iterator[FlaskClient]:
    """A second web server: its own data folder, the same database and secrets."""
    data = tmp_path / "web-2"
    data.mkdir()
    shutil.copytree(config.data_dir / "secrets", data / "secrets")
    services = Services.open(
        dataclasses.replace(config, data_dir=data, database_url=config.effective_database_url),
        clock=clock,
    )
    try:
        flask_app, _socketio = create_app(services, testing=True)
        yield flask_app.test_client()
    finally:
        services.close()


def test_a_chunk_or_complete_at_the_other_web_server_is_503_saying_why_TAG_5(
    client: FlaskClient, other_host: FlaskClient, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=0.5, seed=3)
    headers = {"Authorization": f"Bearer {tokens['officer']}"}
    body: dict[str, Any] = {
        "filename": "shift.mp4",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "bwc",
        "device_id": "BWC-0042",
    }
    r = client.post("/api/v1/uploads", json=body, headers=headers)
    assert r.status_code == 201, r.data
    upload = f"/api/v1/uploads/{r.get_json()['id']}"
    half = len(data) // 2

    def chunk(at: FlaskClient, start: int, end: int) -> Any:
        return at.put(
            upload,
            data=data[start : end + 1],
            headers={**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"},
        )

    assert chunk(client, 0, half - 1).status_code == 200
    r = chunk(other_host, half, len(data) - 1)
    assert r.status_code == 503, r.data
    assert "another" in r.get_json()["error"]["message"]
    assert chunk(client, half, len(data) - 1).status_code == 200  # sent again: served
    r = other_host.post(f"{upload}/complete", headers=headers)
    assert r.status_code == 503, r.data
    assert "another" in r.get_json()["error"]["message"]
    r = client.post(f"{upload}/complete", headers=headers)
    assert r.status_code == 200, r.data
    assert r.get_json()["media"]["sha256"] == body["sha256"]
