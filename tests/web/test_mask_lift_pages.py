"""Mask lifts on the live pages (PSCS-1 exceptions, issue 14 item 6): the admin's lift
action on the camera page, the banner on the camera page and its wall tile while a lift
runs, and none once it ended (the clock is stepped). Flask test client; then in headless
Chromium an admin lifts a mask from the camera page and ends it. The API behind the
action is tested in tests/recorder/test_mask_lift.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from privacy_masks.model import NewLift, NewMask
from privacy_masks.service import MaskService
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.conftest import Site, login
from tests.web.test_live_pages import SQLITE_ONLY, bearer
from tests.web.test_live_pages import camera_id as camera_id  # the fixture
from vms.auth.permissions import Actor
from vms.clock import Clock, ManualClock, SystemClock
from vms.services import Services

SQUARE = ((10.0, -5.0), (20.0, -5.0), (20.0, 5.0), (10.0, 5.0))


@pytest.fixture
def clock(request: pytest.FixtureRequest, clock: ManualClock) -> Clock:
    """The browser hides a banner by its own clock: the browser test's server runs on the
    system clock; the client test steps the fixed one."""
    return SystemClock() if "page" in request.fixturenames else clock


def test_admin_lift_action_and_live_banner_PSCS_1(
    client: Any,
    tokens: dict[str, str],
    services: Services,
    actors: dict[str, Actor],
    camera_id: str,
    clock: ManualClock,
) -> None:
    masks = services.ports.get(MaskService)
    window = masks.create(actors["admin"], camera_id, NewMask("window", polygon=SQUARE))

    admin_page = client.get(f"/live/{camera_id}", headers=bearer(tokens, "admin"))
    html = admin_page.get_data(as_text=True)
    assert 'id="lift-form"' in html and f'<option value="{window.id}">window</option>' in html
    assert "mask_lift.js" in html and "<script>" not in html  # CSP
    dispatcher_page = client.get(f"/live/{camera_id}", headers=bearer(tokens, "dispatcher"))
    html = dispatcher_page.get_data(as_text=True)
    assert 'id="lift-form"' not in html and "mask_lift.js" not in html  # admins only
    assert 'data-role="lift-banner" role="status" hidden' in html  # no lift: hidden

    masks.lift(actors["admin"], camera_id, NewLift(window.id, "Warrant SW-31", 45))
    for path in (f"/live/{camera_id}", "/live"):
        html = client.get(path, headers=bearer(tokens, "dispatcher")).get_data(as_text=True)
        banner = html.split('data-role="lift-banner"')[1].split("</p>")[0]
        assert "hidden" not in banner.split(">")[0]
        until = "2026-11-20 12:45:00 UTC"  # the agency's clock: UTC by default
        expected = f"Privacy mask “window” lifted until {until} (Warrant SW-31, by admin)"
        assert expected in banner
    admin_html = client.get(f"/live/{camera_id}", headers=bearer(tokens, "admin")).get_data(
        as_text=True
    )
    assert "data-end-lift=" in admin_html
    assert 'aria-label="End the lift of “window” now"' in admin_html

    clock.advance(dt.timedelta(minutes=45))
    for path in (f"/live/{camera_id}", "/live"):
        html = client.get(path, headers=bearer(tokens, "dispatcher")).get_data(as_text=True)
        assert "lifted until" not in html


@SQLITE_ONLY
@pytest.mark.timeout(180)
def test_admin_lifts_and_ends_a_mask_from_the_camera_page_PSCS_1(
    camera_id: str, page: Page, site: Site, actors: dict[str, Actor]
) -> None:
    masks = site.services.ports.get(MaskService)
    masks.create(actors["admin"], camera_id, NewMask("window", polygon=SQUARE))
    login(page, "admin")
    page.goto(f"/live/{camera_id}")
    banner = page.locator('[data-role="lift-banner"]')
    expect(banner).to_be_hidden()
    panel = page.locator("#mask-lifts")
    # A reason is required: the browser refuses the empty form; then the server's own
    # refusal (too long a lift) is shown.
    panel.get_by_label("Minutes").fill("100000")
    panel.get_by_label("Investigative reason").fill("Warrant SW-5")
    panel.evaluate("p => p.querySelector('input[name=minutes]').removeAttribute('max')")
    panel.get_by_role("button", name="Lift mask").click()
    expect(page.locator("#lift-notice")).to_contain_text("minutes: 100000")
    panel.get_by_label("Minutes").fill("20")
    panel.get_by_role("button", name="Lift mask").click()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Privacy mask \u201cwindow\u201d lifted until")
    expect(banner).to_contain_text("Warrant SW-5, by admin")
    [running] = masks.lifts(actors["admin"], camera_id, running_only=True)
    assert running.reason == "Warrant SW-5" and running.mask_name == "window"
    # Each "End now" says which lift it ends (a screen reader lists buttons by name).
    panel.get_by_role("button", name="End the lift of \u201cwindow\u201d now").click()
    expect(banner).to_be_hidden()
    assert masks.lifts(actors["admin"], camera_id, running_only=True) == []
