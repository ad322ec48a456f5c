"""The scripts' times (static/agency_time.js) name the zone as the server's do (the
``when`` filter, Python's zoneinfo; docs/design/time.md), outside the United States
too. The browser's ``Intl`` has short names for US zones only: a Berlin page said
"16:00:00 CET" in a server-drawn title and "15:59:55.0 GMT+1" on the review's clock
beside it; Kolkata "IST" and "GMT+5:30"; São Paulo "-03" and "GMT-3"."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site
from tests.web.test_page_times import RECORDED, open_review
from vms.config import Config
from vms.services import Services
from web.pages.filters import when

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
# Winter, summer, both sides of Berlin's switch to summer time, and a year when São
# Paulo still had summer time ("-02").
MOMENTS = [
    "2026-01-15T12:00:00Z",
    "2026-07-15T12:00:00Z",
    "2026-03-29T00:59:59Z",
    "2026-03-29T01:00:00Z",
    "2010-01-15T12:00:00Z",
]


@pytest.fixture(params=["Europe/Berlin", "Asia/Kolkata", "America/Sao_Paulo"])
def zone(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config(config: Config, zone: str) -> Config:
    return dataclasses.replace(config, time_zone=zone)


def test_the_scripts_name_the_zone_as_the_server_does(
    web_assets: Path, site: Site, page: Page, services: Services, zone: str
) -> None:
    tz = ZoneInfo(zone)
    open_review(site, page, services, seed=14)
    day, clock, name = when(RECORDED - dt.timedelta(seconds=5), tz).split(" ")
    expect(page.locator("#review-clock")).to_have_text(f"{day} {clock}.0 {name}")
    expect(page.locator("#review-axis .review-lane-label")).to_have_text(name)
    assert f"officer (B1) · {when(RECORDED, tz)}" in page.content()  # the server's title
    shown = page.evaluate("(xs) => xs.map((x) => window.vmsTime.format(Date.parse(x)))", MOMENTS)
    assert shown == [when(m, tz) for m in MOMENTS]
