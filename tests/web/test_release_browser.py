"""The release workflow in headless Chromium (issue 16 Tests): a records commander logs a
FOIA request, a release approver approves it, the commander records the release and
creates a share link, and a browser context with no account downloads the file; after
revocation the link is a 404. Every step is audited."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from privacy_masks.redaction import RedactionService
from tests.media import make_pdf
from tests.privacy_masks.redaction_media import street_video
from tests.privacy_masks.test_redaction import ingest
from tests.web.conftest import Site, login, run_verifier
from tests.web.test_redaction_browser import ANALYSIS_MS, start_redaction, stored
from vms.audit.log import Who
from vms.db.models import AuditEntry, Export, SourceKind
from vms.ingest import IngestRequest

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def fill_request(page: Page, number: str, items: str) -> None:
    """The release log's form, as a records commander fills in a FOIA request."""
    form = page.locator("#new-release")
    form.get_by_label("Kind").select_option("foia")
    form.get_by_label("Request number").fill(number)
    form.get_by_label("Requester name").fill("A. Reporter")
    form.get_by_label("Received at").fill("2026-11-19T09:00Z")
    form.get_by_label("Legal basis").fill("public records act")
    form.get_by_label("Items").fill(items)
    form.get_by_role("button", name="Log request").click()


def log_request(page: Page, number: str, items: str) -> str:
    """Log the request (signed in as the commander, on the release log); its page's URL."""
    fill_request(page, number, items)
    expect(page.get_by_role("heading", name=f"Release request {number}")).to_be_visible()
    expect(page.locator("#release-state")).to_have_text("received")
    release_url = page.url
    page.get_by_role("button", name="Sign out").click()
    return release_url


def approve_release_and_share(page: Page, release_url: str, reason: str) -> str:
    """The approver approves (ACC-5); the commander records the release and makes a
    share link, whose URL is returned (the commander stays on the request's page)."""
    login(page, "approver", lands="**/releases")
    page.goto(release_url)
    page.get_by_label("Reason").fill(reason)
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
    return link


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
    release_url = log_request(page, "FOIA-2026-9", media_id)
    link = approve_release_and_share(page, release_url, "public interest outweighs")

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


def api(page: Page, method: str, url: str, data: object) -> dict[str, object]:
    """A JSON call with the page's session (its cookie and CSRF token), as its scripts do."""
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    response = page.request.fetch(url, method=method, data=data, headers={"X-CSRF-Token": csrf})
    assert response.ok, (response.status, response.text())
    body = response.json()
    assert isinstance(body, dict)
    return body


def test_foia_release_of_a_redacted_recording_end_to_end_REL_1_REL_3_ACC_5_ACC_11(
    web_assets: object,
    page: Page,
    browser: Browser,
    site: Site,
    start_job: Callable[[str, Callable[[], int]], None],
    tmp_path: Path,
) -> None:
    """Issue 16, Tests: "Release workflow end to end in Chromium". A body-camera
    recording flagged privacy-sensitive (ACC-11) is released only redacted (REL-3): the
    records commander redacts it on the review page (redactions.manage), an investigator
    exports the redacted copy (records commanders do not make exports: they have no
    media.view), the commander logs the FOIA request of that export (REL-1; the original
    itself is refused), a release approver approves it (ACC-5), the commander records the
    release and shares it; a browser with no account downloads the package, whose own
    verify.py passes; after revocation the link is a 404. Every step is audited."""
    services = site.services
    start_job("redactions", services.ports.get(RedactionService).run_pending)
    start_job("exports", services.exports.run_pending)
    original = ingest(services, street_video())

    # The records commander redacts the recording and, on the review page, flags the
    # original privacy-sensitive (ACC-11).
    login(page, "commander")
    redaction_id = start_redaction(page, original)
    flag = page.get_by_role("form", name="Flag the original privacy-sensitive")
    flag.get_by_label("Reason").fill("a person undressed in the background (ACC-11)")
    flag.get_by_role("button", name="Flag the original privacy-sensitive").click()
    expect(page.locator("#privacy-status")).to_contain_text("flagged privacy-sensitive")
    expect(page.locator("#redaction-state")).to_have_text("review", timeout=ANALYSIS_MS)
    expect(page.locator("#tracks input[type=checkbox]")).to_have_count(3)
    page.get_by_role("button", name="Render the redacted copy").click()
    expect(page.get_by_role("link", name="Open the redacted copy")).to_be_visible(
        timeout=ANALYSIS_MS
    )
    redacted = stored(services, redaction_id).rendered_media_id
    assert redacted
    page.get_by_role("button", name="Sign out").click()

    # An investigator exports the redacted copy (the exports' signed package).
    login(page, "investigator")
    export_id = str(
        api(
            page,
            "POST",
            "/api/v1/exports",
            {"purpose": "FOIA-2026-16 release copy", "sources": [{"media_id": redacted}]},
        )["id"]
    )
    page.wait_for_function(
        f"""async () => (await (await fetch('/api/v1/exports/{export_id}')).json()).state
            === 'done'""",
        timeout=ANALYSIS_MS,
        polling=500,
    )
    page.get_by_role("button", name="Sign out").click()

    # The commander logs the FOIA request: the original is refused (REL-3), the
    # redacted export is taken.
    login(page, "commander")
    page.get_by_role("link", name="Releases").click()
    fill_request(page, "FOIA-2026-16", original)
    expect(page.get_by_role("alert")).to_contain_text("privacy-sensitive")
    release_url = log_request(page, "FOIA-2026-16", export_id)
    link = approve_release_and_share(page, release_url, "redacted: releasable under the act")

    # Someone with no account downloads the package; its own verify.py passes.
    outsider = browser.new_context()
    try:
        anon = outsider.new_page()
        anon.goto(link)
        expect(anon.get_by_role("heading")).to_contain_text("FOIA-2026-16")
        with anon.expect_download() as info:
            anon.get_by_role("link", name=re.compile(r"\.zip$")).click()
        package = tmp_path / "package.zip"
        info.value.save_as(package)
        folder = tmp_path / "unpacked"
        assert f"OK: export {export_id}" in run_verifier(package, folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        # The package holds the redacted copy, not the original (REL-3): the original is
        # named only as what the copy was redacted from (INV-8, as in the copy's own
        # Content Credentials), never as a source of the clips.
        assert [s["media_id"] for s in manifest["sources"]] == [redacted]
        assert all(c["source_items"] == [redacted] for c in manifest["clips"])
        assert manifest["sources"][0]["redaction"]["original_media_id"] == original

        # Revoked: the link is a 404, the landing page and the package alike.
        page.get_by_role("button", name="Revoke").click()
        for url in (link, f"{link}/package"):
            gone = anon.goto(url) if url == link else anon.request.get(url)
            assert gone is not None and gone.status == 404
    finally:
        outsider.close()

    # Every step audited, by whom.
    with services.db.session() as s:
        entries = {(a, who) for a, who in s.execute(select(AuditEntry.action, AuditEntry.actor))}
        export = s.get(Export, export_id)
        assert export is not None and export.package_media_id
    assert {
        ("media.privacy", "commander"),
        ("redaction.create", "commander"),
        ("redaction.analyse", "commander"),
        ("redaction.render", "commander"),
        ("media.redact", "commander"),
        ("export.create", "investigator"),
        ("release.create", "commander"),
        ("release.approve", "approver"),
        ("release.release", "commander"),
        ("release.share", "commander"),
        ("release.share.revoke", "commander"),
    } <= entries, entries
    assert "release.share.download" in {a for a, _ in entries}  # the outsider's
    with services.db.session() as s:
        refused = s.execute(
            select(AuditEntry.details).where(
                AuditEntry.action == "release.create", AuditEntry.outcome == "denied"
            )
        ).scalars()
        assert any(original in json.dumps(d) for d in refused)  # the REL-3 refusal
