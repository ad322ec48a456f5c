"""Alarms in the browser (issue 12.3), headless Chromium against our simulated camera:
its RTSP service is stopped while ONVIF keeps answering; the wall shows "video lost"
within ``[recorder] video_lost_seconds`` (plus the watch's tick and the delivery), and
the alarm is listed on ``/alarms`` and acknowledged from the keyboard (audited, ACC-6).

Services run on the system clock here: the recorder's watch counts real seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from recorder.engine import get as get_recorder
from tests.conftest import make_config
from tests.recorder.conftest import onboard, wait_for
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.conftest import Site, login
from tests.web.test_live_pages import move_camera
from vms.config import Config
from vms.db.models import AuditEntry
from vms.services import Services

LOST_SECONDS = 3.0
# The watch looks every 0.5 s; the event then crosses the bus, a database write and
# Socket.IO: a second is generous on a loaded machine.
SLACK_SECONDS = 2.0
SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(data_dir, url, VMS_RECORDER_VIDEO_LOST_SECONDS=str(LOST_SECONDS))


@pytest.fixture
def services(config: Config) -> Iterator[Services]:
    svc = Services.open(config)  # the system clock: seconds pass for the watch
    svc.migrate()
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def streaming(services: Services, sim: SimulatedCamera) -> Iterator[str]:
    """The simulator onboarded (no masks: passed through) and recorded."""
    control = get_control(services)
    recorder = get_recorder(services)
    try:
        camera_id = onboard(services, sim)
        control.start_media()
        assert recorder.add_registered() == [camera_id]
        recorder.start()
        pipeline = recorder.pipeline(camera_id)
        wait_for(lambda: pipeline.status.packets > 10, 20, "video packets")
        yield camera_id
    finally:
        recorder.stop()
        control.close()


@SQLITE_ONLY
@pytest.mark.timeout(180)
def test_video_lost_while_onvif_answers_is_shown_listed_and_acknowledged_ACC_6(
    streaming: str,
    sim: SimulatedCamera,
    page: Page,
    site: Site,
    shoot: Callable[[Page, str], None],
) -> None:
    cam = streaming
    login(page, "dispatcher", lands="**/live")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    tile = page.locator(f'[data-camera-id="{cam}"]')
    lost = tile.locator('[data-role="alarms"] [data-kind="video_lost"]')
    expect(tile.locator('[data-role="health"]')).to_have_text("online")
    expect(lost).to_have_count(0)

    sim.stop_rtsp()
    stopped = time.monotonic()
    expect(lost).to_have_text("video lost", timeout=(LOST_SECONDS + SLACK_SECONDS + 5) * 1000)
    shown_after = time.monotonic() - stopped
    assert shown_after <= LOST_SECONDS + SLACK_SECONDS, f"shown after {shown_after:.1f} s"
    assert shown_after >= LOST_SECONDS - 0.5  # not before the configured silence
    # ONVIF still answers: the health check finds the camera online, no offline alarm.
    assert get_control(site.services).health.check_all() == []
    expect(tile.locator('[data-role="health"]')).to_have_text("online")
    expect(tile.locator('[data-kind="camera_offline"]')).to_have_count(0)
    expect(lost).to_have_attribute("title", f"no video packet for {LOST_SECONDS} s; ONVIF answers")
    expect(tile).to_have_class("tile card alarmed")
    shoot(page, "wall-video-lost")
    # ONVIF gone too (the camera moved to a dead port): "camera offline" joins it, and
    # leaves when ONVIF answers again.
    control = get_control(site.services)
    offline = tile.locator('[data-role="alarms"] [data-kind="camera_offline"]')
    move_camera(site.services, cam, sim.onvif_url.replace(f":{sim.onvif_port}/", ":9/"))
    assert [c.new for c in control.health.check_all()] == ["offline"]
    expect(offline).to_have_text("camera offline")
    move_camera(site.services, cam, sim.onvif_url)
    assert [c.new for c in control.health.check_all()] == ["online"]
    expect(offline).to_have_count(0)
    expect(lost).to_have_text("video lost")  # the video is still gone
    # The site's alarm (no camera): the purge's disk alarm, raised and cleared (INV-3).
    disk = page.locator('[data-role="site-alarms"] [data-kind="disk_alarm"]')
    event = {"free_bytes": 1, "threshold_bytes": 2, "active": True}
    site.services.events.publish("retention.disk_alarm", event)
    expect(disk).to_have_text("disk alarm")
    site.services.events.publish("retention.disk_alarm", {**event, "active": False})
    expect(disk).to_have_count(0)

    # Listed on the alarms page; acknowledged from the keyboard.
    page.get_by_role("link", name="Alarms", exact=True).click()
    page.wait_for_url("**/alarms")
    row = page.locator('#alarm-list tr[data-kind="video_lost"]')
    expect(row).to_have_count(1)
    expect(row).to_contain_text("sim")
    expect(row).to_contain_text("open")
    button = row.get_by_role("button", name="Acknowledge")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/alarms?show=open*")
    expect(page.get_by_role("status").filter(has_text="acknowledged.")).to_be_visible()
    expect(row).to_contain_text("dispatcher")
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)
    shoot(page, "alarms-acknowledged")
    with site.services.db.session() as s:
        acks = s.execute(
            select(AuditEntry.actor, AuditEntry.target).where(AuditEntry.action == "alarms.ack")
        ).all()
    assert len(acks) == 1 and acks[0][0] == "dispatcher"
