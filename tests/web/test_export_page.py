"""Exports in headless Chromium (issue 15, Tests: "Review page and case page in Chromium"):
an investigator opens a case, bookmarks an instant of a body-camera recording on /review,
adds the recording to the case from its media page, opens the case's range on the review
page from the case page and exports it ("Export this range"; the job run by the jobs
role's runner in this process, progress over the socket on the review page and the case
page), then downloads the package, whose own ``verify.py`` passes. An officer gets no
export button and the API refuses them (403, audited). Small media (320x180, 3 s) keep it fast."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.media import make_video
from tests.web.conftest import login, run_verifier, switch_user
from vms.audit.log import Who
from vms.db.models import AuditEntry, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

RECORDED = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)


def iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture
def export_jobs(
    services: Services, start_job: Callable[[str, Callable[[], int]], None]
) -> Callable[[], None]:
    """Starts the jobs role's export job beside the live server when the test calls it."""
    return lambda: start_job("exports", services.exports.run_pending)


def test_investigator_bookmarks_files_exports_and_downloads_a_verified_package_officer_cannot(
    web_assets: Path,
    services: Services,
    site: object,
    export_jobs: Callable[[], None],
    page: Page,
    tmp_path: Path,
) -> None:
    run_jobs = export_jobs
    bwc = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=3, fps=10, size=(320, 180), seed=7)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-0042",
            officer_badge="B1",
            recorded_at=RECORDED,
            title="Stop on 5th",
        ),
        Who("setup", "admin"),
    ).media_id
    start, end = RECORDED - dt.timedelta(seconds=1), RECORDED + dt.timedelta(seconds=4)
    review = f"/review?start={iso(start)}&end={iso(end)}&media_id={bwc}"

    login(page, "investigator")
    page.goto("/cases")
    opening = page.get_by_role("form", name="Open a case")
    opening.get_by_label("Case number").fill("C-77")
    opening.get_by_role("button", name="Open case").click()
    expect(page.get_by_role("heading", name="Case C-77")).to_be_visible()

    # Bookmark an instant of the recording on the review page, for the case.
    page.goto(review)
    page.wait_for_function("() => window.vmsReview && window.vmsReview.players.length === 1")
    page.evaluate(f"() => window.vmsReview.seek({(RECORDED.timestamp() + 1.5) * 1000})")
    mark = page.get_by_role("form", name="Bookmark this instant")
    mark.get_by_label("Label", exact=True).fill("door opens")
    mark.get_by_label("Case number (optional)").fill("C-77")
    mark.get_by_role("button", name="Bookmark this instant").click()
    expect(page.get_by_label("Bookmark: door opens")).to_be_attached()

    # Add the recording to the case from its media page.
    page.goto(f"/media/{bwc}")
    filing = page.get_by_role("form", name="Add to a case")
    filing.get_by_label("Case number").fill("C-77")
    filing.get_by_role("button", name="Add to case").click()
    expect(page.get_by_role("heading", name="Case C-77")).to_be_visible()
    expect(page.locator("#case-items")).to_contain_text("Stop on 5th")
    expect(page.locator("#case-bookmarks")).to_contain_text("door opens")

    # The case page opens the review over the case's range, the item chosen and the
    # case number filled in; export it (no job runs yet: the export waits, queued).
    page.get_by_role("link", name="Review the case's range").click()
    page.wait_for_function("() => window.vmsReview && window.vmsReview.players.length === 1")
    page.wait_for_function("() => document.body.dataset.live === 'connected'")
    expect(page.get_by_label("Bookmark: door opens")).to_be_attached()
    exporting = page.get_by_role("form", name="Export this range")
    expect(exporting.get_by_label("Case number (optional)")).to_have_value("C-77")
    exporting.get_by_label("Purpose").fill("court copy for C-77")
    exporting.get_by_role("button", name="Export this range").click()
    expect(page.locator("#review-export-state")).to_contain_text("queued")
    export_id = page.locator("#review-export-state").get_attribute("data-export")
    assert export_id
    # The case page, in a second tab, lists it queued with a progress bar ...
    case_tab = page.context.new_page()
    case_tab.goto("/cases/C-77")
    cell = case_tab.locator(f'#case-exports [data-export="{export_id}"]')
    expect(cell).to_contain_text("queued")
    expect(cell.locator("progress")).to_have_count(1)
    case_tab.wait_for_function("() => document.body.dataset.live === 'connected'")
    # ... then the jobs role runs it: both pages follow, the review page offers the package.
    run_jobs()
    link = page.get_by_role("link", name="Download the package")
    expect(link).to_be_visible(timeout=60_000)
    assert page.locator("#review-export-state progress").evaluate("e => e.value") == 1
    heard = page.evaluate("() => window.vmsReview.exportEvents")
    assert heard and heard[-1] == "done:1", heard  # export.progress over the socket
    assert any(h.startswith("running:") for h in heard), heard
    expect(cell).to_have_attribute("data-state", "done", timeout=20_000)
    expect(cell).to_contain_text("done")
    expect(cell.locator("progress")).to_have_count(0)
    case_tab.close()
    with page.expect_download() as info:
        link.click()
    package = tmp_path / "package.zip"
    info.value.save_as(package)

    # The recipient: the package's own verify.py, isolated from our code (-I).
    stdout = run_verifier(package, tmp_path / "unpacked")
    assert f"OK: export {export_id}" in stdout

    # Reloaded, the case page links the done export to its package.
    page.goto("/cases/C-77")
    expect(page.locator("#case-exports")).to_contain_text("court copy for C-77")
    expect(page.locator(f'#case-exports [data-export="{export_id}"] a')).to_have_text("done")

    # An officer: no export button on their own recording, and the API refuses.
    switch_user(page, "officer")
    page.goto(review)
    page.wait_for_function("() => window.vmsReview && window.vmsReview.players.length === 1")
    expect(page.get_by_role("form", name="Export this range")).to_have_count(0)
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    refused = page.request.post(
        "/api/v1/exports",
        data={"purpose": "mine", "sources": [{"media_id": bwc}]},
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status == 403, refused.text()

    with services.db.session() as s:
        entries = list(
            s.execute(
                select(AuditEntry.actor, AuditEntry.action, AuditEntry.outcome).where(
                    AuditEntry.action.in_(
                        ["export.create", "media.export", "media.export.download"]
                    )
                    | (AuditEntry.target == "exports")
                )
            ).all()
        )
    assert ("investigator", "export.create", "ok") in entries
    assert ("investigator", "media.export", "ok") in entries
    assert ("investigator", "media.export.download", "ok") in entries
    assert any(a == "officer" and o == "denied" for a, _, o in entries), entries


def test_keys_page_shows_the_export_and_audit_key_fingerprints(
    services: Services, site: object, page: Page
) -> None:
    """The public keys the agency publishes (issue 15.4: "public key and fingerprint on
    the admin page"): admins and auditors see them; others get no link and a refusal."""
    from vms.exports.signing import load_or_create_signer

    export_key = load_or_create_signer(services.config.secrets_dir).fingerprint
    audit_key = services.checkpoints.signer.fingerprint
    login(page, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Keys").click()
    expect(page.get_by_role("heading", name="Signing keys")).to_be_visible()
    expect(page.locator('[data-key="Export signing key"]')).to_have_text(export_key)
    expect(page.locator('[data-key="Audit checkpoint key"]')).to_have_text(audit_key)
    switch_user(page, "investigator")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Keys")).to_have_count(0)
    page.goto("/admin/keys")
    expect(page.get_by_role("heading", name="Not permitted")).to_be_visible()
