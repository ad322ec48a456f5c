"""Socket.IO in the browser: an open catalog page hears of media ingested meanwhile."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.media import make_video
from tests.web.conftest import Site, login
from vms.audit.log import Who
from vms.db.models import SourceKind
from vms.ingest import IngestRequest

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_catalog_announces_media_ingested_meanwhile(
    page: Page, site: Site, shoot: Callable[[Page, str], None]
) -> None:
    login(page, "officer")
    # Wait for the websocket, or the announcement could go out before anyone listens.
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    banner = page.locator("#new-media")
    expect(banner).to_be_hidden()

    # Another way in (the dock, the CLI) while the page is open.
    site.services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=7)),
        IngestRequest(source=SourceKind.DASH, device_id="DASH-7", officer_badge="B1"),
        Who("officer", "officer"),
    )

    toast = page.locator("#toast")
    expect(toast).to_be_visible()
    expect(toast).to_have_text("New dash media from DASH-7")
    expect(banner).to_be_visible()
    shoot(page, "announced")
    banner.get_by_role("link", name="Refresh the list").click()
    expect(page.locator("#media-table tbody tr", has_text="DASH-7")).to_have_count(1)


def test_announcements_reach_only_those_who_may_see_the_item_ACC_2(page: Page, site: Site) -> None:
    login(page, "other_officer")  # badge B2, not B1's supervisor
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    page.evaluate(
        "window.__seen = []; document.addEventListener('vms:media-new',"
        " (e) => window.__seen.push(e.detail.device_id))"
    )
    who = Who("setup", "admin")
    site.services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=8)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-B1", officer_badge="B1"),
        who,
    )
    site.services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=9)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-B2", officer_badge="B2"),
        who,
    )
    toast = page.locator("#toast")
    # Announcements arrive in order: seeing B2's proves B1's was never sent here.
    expect(toast).to_have_text("New bwc media from BWC-B2")
    assert page.evaluate("window.__seen") == ["BWC-B2"]
