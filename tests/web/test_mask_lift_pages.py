"""Mask lifts on the live pages (PSCS-1 exceptions, issue 14 item 6): the admin's lift
action on the camera page, the banner on the camera page and its wall tile while a lift
runs, and none once it ended (the clock is stepped). Flask test client; the API behind
the action is tested in tests/recorder/test_mask_lift.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from privacy_masks.model import NewLift, NewMask
from privacy_masks.service import MaskService
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.test_live_pages import bearer
from tests.web.test_live_pages import camera_id as camera_id  # the fixture
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.services import Services

SQUARE = ((10.0, -5.0), (20.0, -5.0), (20.0, 5.0), (10.0, 5.0))


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
        assert "Privacy mask “window” lifted until 12:45 UTC (Warrant SW-31, by admin)" in banner
    admin_html = client.get(f"/live/{camera_id}", headers=bearer(tokens, "admin")).get_data(
        as_text=True
    )
    assert "data-end-lift=" in admin_html

    clock.advance(dt.timedelta(minutes=45))
    for path in (f"/live/{camera_id}", "/live"):
        html = client.get(path, headers=bearer(tokens, "dispatcher")).get_data(as_text=True)
        assert "lifted until" not in html
