"""The PTZ-use report page in headless Chromium (PSCS-2, PSCS-5): a period with no camera
control says so, instead of an empty table under its headings and an empty timeline."""

from __future__ import annotations

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
