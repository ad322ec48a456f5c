"""Times on the pages are the agency's (configuration ``time_zone``; docs/design/time.md)
and each one says its zone, as the monthly reports already are: a Chicago records unit
reads a body-camera video recorded at 15:00 UTC as 09:00 CST, not as an unlabelled
15:00 under some headings and "15:00 (UTC)" under others. Storage, the API and the
downloads stay UTC with their offset (INV-7)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from privacy_masks.model import NewLift, NewMask
from privacy_masks.service import MaskService
from tests.conftest import sign_in
from tests.media import make_video
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.conftest import Site, login
from tests.web.test_live_pages import bearer
from tests.web.test_live_pages import camera_id as camera_id  # the fixture
from tests.web.test_mask_lift_pages import SQUARE
from vms.audit.log import Who
from vms.auth.permissions import Actor
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


def test_the_records_pages_show_the_agencys_time_too_RET_3_REL_1(
    client: FlaskClient, services: Services
) -> None:
    """The preservation log and the release log and request pages wrote ISO UTC
    (``2026-11-20T11:00:00Z``) beside pages on the agency's clock."""
    media_id = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=6)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-8", officer_badge="B1"),
        Who("officer", "officer"),
    ).media_id
    csrf = sign_in(client, "commander")
    preservation = {
        "csrf_token": csrf,
        "request_number": "PR-1",
        "requester_name": "Claims rep",
        "received_at": "2026-11-20T11:00Z",
        "received_via": "written",
        "reason": "claim",
        "media_ids": media_id,
    }
    assert client.post("/retention/preservation", data=preservation).status_code == 302
    log = client.get("/retention/preservation").get_data(as_text=True)
    assert "2026-11-20 05:00:00 CST" in log and "2026-11-20T11:00:00Z" not in log
    release = {
        "csrf_token": csrf,
        "kind": "media",
        "request_number": "R-1",
        "requester_name": "A. Reporter",
        "received_at": "2026-11-20T11:00Z",
        "legal_basis": "press",
        "items": media_id,
    }
    r = client.post("/releases", data=release)
    assert r.status_code == 302
    for path in ("/releases", r.headers["Location"]):
        page = client.get(path).get_data(as_text=True)
        assert "2026-11-20 05:00:00 CST" in page and "2026-11-20T11:00:00Z" not in page, path


def test_the_alarms_page_shows_the_agencys_time_OPS_1(
    client: FlaskClient, services: Services
) -> None:
    """OPS-1: an alarm raised at 12:00 UTC reads 06:00 CST in Chicago, and its clearing
    and acknowledgement times name their zone (they were bare UTC clock times)."""
    from vms.alarms import AlarmChange, AlarmKind

    raised = services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    assert raised is not None
    services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, False))
    sign_in(client, "dispatcher")
    page = client.get("/alarms?show=all").get_data(as_text=True)
    assert "2026-11-20 06:00:00 CST" in page
    assert "cleared 2026-11-20 06:00:00 CST" in page
    assert "(UTC)</th>" not in page


def test_mask_lift_notices_show_the_agencys_time_PSCS_1(
    client: FlaskClient,
    tokens: dict[str, str],
    services: Services,
    actors: dict[str, Actor],
    camera_id: str,
) -> None:
    """A lift running to 12:45 UTC reads "until 2026-11-20 06:45:00 CST" in Chicago, on
    the wall's banner, the camera page's banner and the admin's list of lifts; it read
    "until 12:45 UTC" beside pages on the agency's clock."""
    masks = services.ports.get(MaskService)
    window = masks.create(actors["admin"], camera_id, NewMask("window", polygon=SQUARE))
    masks.lift(actors["admin"], camera_id, NewLift(window.id, "Warrant SW-31", 45))
    for path in (f"/live/{camera_id}", "/live"):
        html = client.get(path, headers=bearer(tokens, "dispatcher")).get_data(as_text=True)
        banner = html.split('data-role="lift-banner"')[1].split("</p>")[0]
        assert "lifted until 2026-11-20 06:45:00 CST (Warrant SW-31, by admin)" in banner, path
    admin = client.get(f"/live/{camera_id}", headers=bearer(tokens, "admin"))
    listed = admin.get_data(as_text=True).split('id="mask-lifts"')[1]
    assert "until 2026-11-20 06:45:00 CST (Warrant SW-31)" in listed
    assert "UTC" not in listed.split("</ul>")[0]


def open_review(site: Site, page: Page, services: Services, *, seed: int) -> None:
    """An investigator's review of a body-camera video recorded at :data:`RECORDED`, from
    5 s before it (the review's clock starts there)."""
    item = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2, fps=10, size=(160, 90), seed=seed)),
        IngestRequest(
            source=SourceKind.BWC, device_id="BWC-11", officer_badge="B1", recorded_at=RECORDED
        ),
        Who("setup", "admin"),
    ).media_id
    login(page, "investigator")
    page.goto(
        f"{site.url}/review?start=2026-11-20T14:59:55Z&end=2026-11-20T15:00:25Z&media_id={item}"
    )


def test_the_scripts_write_the_agencys_time_too(
    web_assets: Path, site: Site, page: Page, services: Services
) -> None:
    """The review's clock and axis and the scripts' lift notices (static/agency_time.js)
    are on the agency's clock with its zone, like the server-drawn times; they were UTC."""
    open_review(site, page, services, seed=11)
    expect(page.locator("#review-clock")).to_have_text("2026-11-20 08:59:55.0 CST")
    expect(page.locator("#review-axis .review-lane-label")).to_have_text("CST")
    expect(page.locator("#review-axis .review-tick.first")).to_have_text("08:59:55.0")
    # The formatter the live pages' lift notices use (live_view.js, mask_lift.js).
    shown = page.evaluate("() => window.vmsTime.format(Date.parse('2026-11-20T12:45:00Z'))")
    assert shown == "2026-11-20 06:45:00 CST"


def test_made_up_titles_show_the_agencys_time_and_typed_ones_stay(
    client: FlaskClient, services: Services
) -> None:
    """An item nobody titled is called "<officer or camera> · <recorded time>": on the
    pages that time is the agency's (it said 15:00:00 UTC beside 09:00:00 CST on the
    same row); the API's title keeps UTC. A title a person typed is shown as typed,
    even one that ends like a made-up one."""
    untitled = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=12)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-12",
            officer_badge="B1",
            recorded_at=RECORDED,
            case_number="C-12",
        ),
        Who("officer", "officer"),
    ).media_id
    typed = "Stop on 5th · 2026-11-20 15:00:00 UTC"
    services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=13)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-12",
            officer_badge="B1",
            recorded_at=RECORDED,
            case_number="C-12",
            title=typed,
        ),
        Who("officer", "officer"),
    )
    csrf = sign_in(client, "admin")
    client.post("/cases", data={"csrf_token": csrf, "case_number": "C-12"})
    api = client.get(f"/api/v1/media/{untitled}").get_json()
    assert api["display_title"] == "officer (B1) · 2026-11-20 15:00:00 UTC"
    made_up = "officer (B1) · 2026-11-20 09:00:00 CST"
    pages = {
        "catalog": "/catalog",
        "media": f"/media/{untitled}",
        "case": "/cases/C-12",
        "review": "/review?start=2026-11-20T14:59:00Z&end=2026-11-20T15:01:00Z"
        f"&media_id={untitled}",
    }
    for name, path in pages.items():
        page = client.get(path).get_data(as_text=True)
        assert made_up in page, name
        assert "officer (B1) · 2026-11-20 15:00:00 UTC" not in page, name
        if name in ("catalog", "case"):
            assert typed in page, name  # a person's title, as typed
