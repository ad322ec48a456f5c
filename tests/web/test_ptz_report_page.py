"""The PTZ-use report page in headless Chromium (PSCS-2, PSCS-5): a period with no camera
control says so, instead of an empty table under its headings and an empty timeline."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import login

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_a_period_without_ptz_use_says_so_PSCS_5(page: Page) -> None:
    login(page, "auditor")
    page.goto("/audit/ptz")
    expect(page.locator("#ptz-hours")).to_contain_text("Outside hours")  # the report came
    expect(page.locator("#ptz-table tbody")).to_contain_text("No camera control in this period")
    expect(page.locator("#ptz-timeline")).to_contain_text("No sessions in this period")


def test_the_page_says_which_period_it_reports_PSCS_5(page: Page) -> None:
    """With the form empty the API picks the period; the page now says which one, on the
    agency's clock (UTC by default). Before, nothing on the page said it."""
    login(page, "auditor")
    page.goto("/audit/ptz")
    expect(page.locator("#ptz-hours")).to_contain_text("Outside hours")  # the report came
    expect(page.locator("#ptz-period")).to_have_text(
        re.compile(r"^Period: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC to \d{4}-\d\d-\d\d .* UTC$")
    )
    page.locator("#ptz-start").fill("2026-11-01T00:00Z")
    page.locator("#ptz-end").fill("2026-11-02T06:00Z")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#ptz-period")).to_have_text(
        "Period: 2026-11-01 00:00:00 UTC to 2026-11-02 06:00:00 UTC"
    )
