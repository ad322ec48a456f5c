"""The newcomer's path through the web pages in headless Chromium (issue 2).

Sign in, upload a body-camera video, find it in the catalog, play it, and see in the audit
log that it happened; plus the refusals a newcomer may meet on the way.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.media import make_video
from tests.web.conftest import Site, login
from vms.audit.log import Who
from vms.db.models import SourceKind
from vms.ingest import IngestRequest

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

Shoot = Callable[[Page, str], None]


def upload_video(page: Page, path: Path, *, device: str = "BWC-0042") -> str:
    """Fill in the upload page and upload ``path``; returns the catalogued item's URL."""
    page.goto("/upload")
    page.get_by_label("File").set_input_files(path)
    page.get_by_label("Source").select_option("bwc")
    page.get_by_label("Device ID").fill(device)
    page.get_by_label("Officer badge").fill("B1")
    page.get_by_label("Title").fill("Traffic stop, 5th and Main")
    page.get_by_label("Case number").fill("2026-000123")
    page.get_by_role("checkbox", name="Eviction").check()
    page.get_by_role("checkbox", name="Warrant Detail").check()
    page.get_by_role("button", name="Upload").click()
    link = page.get_by_role("link", name="Open the catalogued item")
    expect(link).to_be_visible()
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    href = link.get_attribute("href")
    assert href is not None and re.fullmatch(r"/media/[\w-]+", href), href
    return href


def test_wrong_password_shows_an_error(page: Page, shoot: Shoot) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("officer")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(re.compile("password", re.I))
    assert page.url.endswith("/login")
    expect(page.get_by_label("Username")).to_have_value("officer")
    expect(page.get_by_label("Password")).to_be_focused()
    shoot(page, "error")


def test_sign_in_lands_on_the_catalog(page: Page, shoot: Shoot) -> None:
    page.goto("/catalog")
    page.wait_for_url(re.compile(r"/login\?next=%2Fcatalog$|/login\?next=/catalog$"))
    shoot(page, "login")
    page.get_by_label("Username").fill("officer")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/catalog")
    expect(page.get_by_role("heading", name="Catalog")).to_be_visible()
    shoot(page, "empty-catalog")


def test_upload_find_play_and_audit(page: Page, site: Site, tmp_path: Path, shoot: Shoot) -> None:
    video = tmp_path / "bwc-0042-clip.mp4"
    make_video(video, seconds=2)
    login(page, "officer")
    href = upload_video(page, video)
    shoot(page, "upload-done")

    page.goto("/catalog")
    row = page.locator("#media-table tbody tr", has_text="Traffic stop, 5th and Main")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("BWC-0042")
    shoot(page, "catalog")
    row.get_by_role("link").first.click()
    page.wait_for_url(f"**{href}")

    player = page.locator("video#player")
    page.wait_for_function("document.getElementById('player').readyState >= 2", timeout=15_000)
    duration = player.evaluate("v => v.duration")
    assert 1.5 < duration < 2.5
    custody = page.locator("section", has=page.get_by_role("heading", name="Chain of custody"))
    expect(custody).to_contain_text("ingest")
    shoot(page, "media")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    login(page, "auditor")
    page.goto("/audit")
    rows = page.locator("table.audit tbody tr")
    target = f"media:{href.rsplit('/', 1)[1]}"
    for action, target_text in (
        ("auth.login", "user:officer"),
        ("upload.create", "upload:"),
        ("media.ingest", target),
        ("media.view", target),
    ):
        row = rows.filter(has_text=action).filter(has_text=target_text)
        expect(row.first).to_contain_text("officer")
    shoot(page, "audit")

    # The filter narrows to the views (one per content request the player made).
    page.get_by_label("Action").fill("media.view")
    page.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text(target)
    assert rows.count() == rows.filter(has_text="media.view").count() >= 1


def test_officer_cannot_open_the_audit_log(page: Page, shoot: Shoot) -> None:
    login(page, "officer")
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    response = page.goto("/audit")
    assert response is not None and response.status == 403
    shoot(page, "denied")


def test_other_officers_get_a_refusal_page_not_the_video(
    page: Page, site: Site, tmp_path: Path, shoot: Shoot
) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, seconds=1)
    login(page, "officer")
    href = upload_video(page, video)
    page.get_by_role("button", name="Sign out").click()

    login(page, "other_officer")
    response = page.goto(href)
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not permitted")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("own recordings")
    expect(page.locator("video")).to_have_count(0)
    shoot(page, "denied")
    page.get_by_role("button", name="Sign out").click()

    # The auditor reads the metadata but never the content (ACC-6).
    login(page, "auditor")
    page.goto(href)
    expect(page.locator("dl.meta")).to_contain_text("BWC-0042")
    expect(page.locator("video")).to_have_count(0)
    expect(page.locator(".player .notice")).to_contain_text("not its content")
    shoot(page, "auditor")


def test_unknown_media_is_a_not_found_page(page: Page) -> None:
    login(page, "investigator")
    response = page.goto("/media/no-such-item")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_a_bad_search_says_what_is_wrong(page: Page) -> None:
    login(page, "investigator")
    page.get_by_label("From (UTC)").fill("yesterday")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("yesterday")
    expect(page.get_by_label("From (UTC)")).to_have_value("yesterday")


def test_pages_fit_a_phone_screen(page: Page, tmp_path: Path, shoot: Shoot) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, seconds=1)
    page.set_viewport_size({"width": 390, "height": 844})

    def fits(name: str) -> None:
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        shoot(page, name)
        assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"

    page.goto("/login")
    fits("login")
    login(page, "admin")
    media = upload_video(page, video)
    fits("upload")
    for path in ("/catalog", media, "/audit"):
        page.goto(path)
        fits(path.strip("/").replace("/", "-"))


def test_tags_are_edited_on_the_media_page(page: Page, site: Site) -> None:
    result = site.services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=3)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-9", officer_badge="B1"),
        Who("officer", "officer"),
    )
    login(page, "officer")
    page.goto(f"/media/{result.media_id}")
    form = page.locator("#tag-form")
    form.get_by_label("Title").fill("Eviction at 12 Elm St")
    form.get_by_label("Case number").fill("2026-000777")
    form.get_by_role("checkbox", name="Eviction").check()
    form.get_by_role("button", name="Save tags").click()
    expect(page.locator("#tag-status")).to_have_text("Saved.")
    # The page reloads with the saved values.
    expect(page.get_by_role("heading", name="Eviction at 12 Elm St")).to_be_visible()
    details = page.locator("dl.meta")
    expect(details).to_contain_text("2026-000777")
    expect(details).to_contain_text("Eviction")
    expect(form.get_by_role("checkbox", name="Eviction")).to_be_checked()


def test_an_expired_session_sends_a_script_action_to_sign_in_and_back(
    page: Page, site: Site
) -> None:
    """ACC-1: a session that expired while the page was open. Saving the tags (a script's
    request to the API) sends the user to sign in and then back to the same page, rather
    than showing the API's refusal ("sign in or send an API token ...") as the result."""
    result = site.services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=4)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-9", officer_badge="B1"),
        Who("officer", "officer"),
    )
    login(page, "officer")
    media = f"/media/{result.media_id}"
    page.goto(media)
    hours = site.services.config.web.session_hours
    site.services.clock.advance(dt.timedelta(hours=hours + 1))  # type: ignore[attr-defined]
    form = page.locator("#tag-form")
    form.get_by_label("Title").fill("Eviction at 12 Elm St")
    form.get_by_role("button", name="Save tags").click()
    page.wait_for_url(re.compile(r"/login\?next=%2Fmedia%2F" + result.media_id + "$"))
    expect(page.get_by_label("Username")).to_be_visible()
    page.get_by_label("Username").fill("officer")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{media}")
    expect(page.locator("#tag-form")).to_be_visible()
