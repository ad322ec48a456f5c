"""The release workflow in headless Chromium (issue 16 Tests): a records commander logs a
FOIA request, a release approver approves it, the commander records the release and
creates a share link, and a browser context with no account downloads the file; after
revocation the link is a 404. Every step is audited."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.media import make_pdf
from tests.web.conftest import Site, login
from vms.audit.log import Who
from vms.db.models import AuditEntry, SourceKind
from vms.ingest import IngestRequest

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_foia_release_approved_shared_and_downloaded_without_an_account_REL_1_ACC_5(
    page: Page, browser: Browser, site: Site
) -> None:
    data = make_pdf().replace(b"%PDF-1.4\n", b"%PDF-1.4\n%browser\n", 1)
    media_id = site.services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(source=SourceKind.HANDHELD, device_id="REC-1", original_filename="s.pdf"),
        Who("setup", "admin"),
    ).media_id

    login(page, "commander")
    page.get_by_role("link", name="Releases").click()
    form = page.locator("#new-release")
    form.get_by_label("Kind").select_option("foia")
    form.get_by_label("Request number").fill("FOIA-2026-9")
    form.get_by_label("Requester name").fill("A. Reporter")
    form.get_by_label("Received at").fill("2026-11-19T09:00Z")
    form.get_by_label("Legal basis").fill("public records act")
    form.get_by_label("Items").fill(media_id)
    form.get_by_role("button", name="Log request").click()
    expect(page.get_by_role("heading", name="Release request FOIA-2026-9")).to_be_visible()
    expect(page.locator("#release-state")).to_have_text("received")
    release_url = page.url
    page.get_by_role("button", name="Sign out").click()

    login(page, "approver", lands="**/releases")
    page.goto(release_url)
    page.get_by_label("Reason").fill("public interest outweighs")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#release-state")).to_have_text("approved")
    page.get_by_role("button", name="Sign out").click()

    login(page, "commander")
    page.goto(release_url)
    page.get_by_role("button", name="Record the release").click()
    expect(page.locator("#release-state")).to_have_text("released")
    share = page.locator("#share")
    share.get_by_label("Expires at").fill("2026-11-27T12:00Z")
    share.get_by_role("button", name="Create link").click()
    link = page.locator("#share-url").get_attribute("href")
    assert link and "/s/" in link

    outsider = browser.new_context()  # no account, no cookies
    try:
        anon = outsider.new_page()
        anon.goto(link)
        expect(anon.get_by_role("heading")).to_contain_text("FOIA-2026-9")
        with anon.expect_download() as info:
            anon.get_by_role("link", name="s.pdf").click()
        path = info.value.path()
        assert path is not None and path.read_bytes() == data

        page.get_by_role("button", name="Revoke").click()
        gone = anon.goto(link)
        assert gone is not None and gone.status == 404
    finally:
        outsider.close()

    with site.services.db.session() as s:
        actions = set(s.execute(select(AuditEntry.action)).scalars())
    assert {
        "release.create",
        "release.approve",
        "release.release",
        "release.share",
        "release.share.download",
        "release.share.revoke",
    } <= actions
