"""Times on the pages are the agency's (configuration ``time_zone``; docs/design/time.md)
and each one says its zone, as the monthly reports already are: a Chicago records unit
reads a body-camera video recorded at 15:00 UTC as 09:00 CST, not as an unlabelled
15:00 under some headings and "15:00 (UTC)" under others. Storage, the API and the
downloads stay UTC with their offset (INV-7)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import pytest
from flask.testing import FlaskClient

from tests.conftest import sign_in
from tests.media import make_video
from vms.audit.log import Who
from vms.config import Config
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
RECORDED = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)  # 09:00 in Chicago (CST)


@pytest.fixture
def config(config: Config) -> Config:
    return dataclasses.replace(config, time_zone="America/Chicago")


def test_pages_show_the_agencys_time_and_say_its_zone(
    client: FlaskClient, services: Services
) -> None:
    media_id = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=5)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-7",
            officer_badge="B1",
            recorded_at=RECORDED,
            case_number="C-9",
        ),
        Who("officer", "officer"),
    ).media_id
    csrf = sign_in(client, "admin")
    client.post("/cases", data={"csrf_token": csrf, "case_number": "C-9"})
    catalog = client.get("/catalog").get_data(as_text=True)
    assert "2026-11-20 09:00:00 CST" in catalog
    assert "(UTC)</th>" not in catalog  # the heading no longer claims another zone
    media = client.get(f"/media/{media_id}").get_data(as_text=True)
    assert "2026-11-20 09:00:00 CST" in media  # recorded
    assert "2026-11-20 06:00:00 CST" in media  # ingested: the services' clock, 12:00 UTC
    assert "(UTC)</dt>" not in media and "(UTC)</th>" not in media
    case = client.get("/cases/C-9").get_data(as_text=True)
    assert "2026-11-20 09:00:00 CST" in case
    # The API keeps UTC with its offset.
    item = client.get(f"/api/v1/media/{media_id}").get_json()
    assert item["recorded_start"] == "2026-11-20T15:00:00Z"
