"""The media page's device markers in a real browser (OPS-3): a marker's time seeks the
player there, and the timeline is drawn (headless Chromium, the rest tier)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.media import make_video
from tests.web.conftest import Site, login
from vms.audit.log import Who
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.markers import DeviceMarker, MarkerKind

START = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def test_a_marker_time_seeks_the_player_OPS_3(page: Page, site: Site, web_assets: Path) -> None:
    result = site.services.ingestor.ingest(
        io.BytesIO(make_video(seconds=6, seed=41)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-1",
            officer_badge="B1",
            recorded_at=START,
            pre_event_buffer_seconds=2,
            markers=(
                DeviceMarker(MarkerKind.MUTE, START + dt.timedelta(seconds=4), "privacy"),
                DeviceMarker(MarkerKind.UNMUTE, START + dt.timedelta(seconds=5)),
            ),
        ),
        Who("setup", "admin"),
    )
    login(page, "officer")
    page.goto(f"/media/{result.media_id}")
    markers = page.locator("#markers")
    expect(markers.locator("tbody tr")).to_have_count(2)
    expect(markers.locator("tbody tr").first).to_contain_text("privacy")
    expect(markers.locator("svg.marker-bar rect.span.mute")).to_have_count(1)
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=15_000)
    markers.locator("button.seek").first.click()
    page.wait_for_function(
        "Math.abs(document.getElementById('player').currentTime - 4) < 0.6", timeout=10_000
    )
    # The review page's timeline draws them on the item's track (OPS-3).
    page.goto(
        f"/review?start=2026-11-20T09:59:00Z&end=2026-11-20T10:05:00Z&media_id={result.media_id}"
    )
    lane = page.locator(f'.review-lane[data-source="item:{result.media_id}"]')
    expect(lane).to_have_count(1)
    expect(lane.locator(".review-device-marker")).to_have_count(2)
    expect(lane.locator(".review-device-marker.mute")).to_have_attribute(
        "title", "mute 2026-11-20T10:00:04Z: privacy"
    )
