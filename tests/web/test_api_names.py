"""Names people recognise (issue 15.5), on both databases: the catalog list, the media
detail (API and pages) show a fixed camera's name and location and a BWC/dash device's
officer instead of internal ids; a recorder segment gets the camera's name and time as
its title. The fields are added: the ids and stored titles stay as they were.

The camera is our simulator onboarded for real (ONVIF); its segment is catalogued
through the recorder's own ingest request (``recorder.spool.segment_request``, INV-1).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from onvif_control.simulator import SimulatedCamera
from recorder.recording import RECORDER
from recorder.spool import SpoolName, segment_request
from tests.media import make_video
from tests.recorder.conftest import PASSWORD, USERNAME, onboard
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import Camera, Officer, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

START = dt.datetime(2026, 11, 20, 11, 0, 5, tzinfo=dt.UTC)


@pytest.fixture
def sim() -> Iterator[SimulatedCamera]:
    cam = SimulatedCamera("cam1", size=(160, 90), fps=5, username=USERNAME, password=PASSWORD)
    cam.start()
    try:
        yield cam
    finally:
        cam.stop()


@pytest.fixture
def named(services: Services, sim: SimulatedCamera, actors: dict[str, Actor]) -> dict[str, str]:
    camera_id = onboard(services, sim, name="Main St & 5th")
    with services.db.transaction() as s:
        camera = s.get(Camera, camera_id)
        assert camera is not None
        camera.location = "NE corner, pole 12"
    name = SpoolName(START, 1, False)
    segment = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2, seed=5)),
        segment_request(camera_id, name, START + dt.timedelta(seconds=2), packets=20),
        RECORDER,
    )
    # A dash camera issued to officer B2, brought in without an officer.
    services.devices.assign(actors["admin"], "DASH-3", "B2", kind="dash")
    with services.db.transaction() as s:
        officer = s.get(Officer, "B2")
        assert officer is not None
        officer.name = "Jane Roe"
    dash = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=6)),
        IngestRequest(source=SourceKind.DASH, device_id="DASH-3", title="Traffic stop"),
        Who("setup", "admin"),
    )
    return {"camera": camera_id, "segment": segment.media_id, "dash": dash.media_id}


def test_catalog_and_detail_show_names_not_ids(
    client: FlaskClient, tokens: dict[str, str], named: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {tokens['investigator']}"}
    r = client.get("/api/v1/media", headers=headers)
    assert r.status_code == 200, r.get_json()
    by_id = {i["id"]: i for i in r.get_json()["items"]}
    segment, dash = by_id[named["segment"]], by_id[named["dash"]]
    assert segment["device_name"] == "Main St & 5th"
    assert segment["device_location"] == "NE corner, pole 12"
    assert segment["display_title"] == "Main St & 5th · 2026-11-20 11:00:05 UTC"
    # Additive: the ids and the stored title are unchanged.
    assert segment["device_id"] == named["camera"]
    assert segment["title"] == f"{named['camera']} 2026-11-20 11:00:05Z"
    assert dash["officer_badge"] is None and dash["officer_label"] == "Jane Roe (B2)"
    assert dash["display_title"] == "Traffic stop" and dash["device_location"] is None

    detail = client.get(f"/api/v1/media/{named['segment']}", headers=headers).get_json()
    assert detail["device_name"] == "Main St & 5th"
    assert detail["display_title"] == segment["display_title"]
    assert detail["custody"]  # the rest of the detail is still there


def test_pages_show_the_camera_name_and_the_officer(
    client: FlaskClient, tokens: dict[str, str], named: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {tokens['investigator']}"}
    html = client.get("/catalog", headers=headers).get_data(as_text=True)
    assert "Main St &amp; 5th · 2026-11-20 11:00:05 UTC" in html
    assert "NE corner, pole 12" in html and "Jane Roe (B2)" in html
    page = client.get(f"/media/{named['segment']}", headers=headers).get_data(as_text=True)
    assert "<h1>Main St &amp; 5th · 2026-11-20 11:00:05 UTC</h1>" in page
    assert "NE corner, pole 12" in page
