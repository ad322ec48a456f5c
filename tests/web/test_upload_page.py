"""The upload page's resumable upload, in the browser, against the real server."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.conftest import make_config
from tests.media import make_video
from tests.web.conftest import Site, login
from vms.config import Config

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

CHUNK = 64 * 1024


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    """Small chunks, so that a two-second clip is uploaded in several pieces."""
    url, data_dir = database
    return make_config(data_dir, url, VMS_WEB_MAX_CHUNK_BYTES=CHUNK)


def fill_form(page: Page, path: Path) -> None:
    page.goto("/upload")
    page.get_by_label("File").set_input_files(path)
    page.get_by_label("Device ID").fill("BWC-0042")
    page.get_by_label("Officer badge").fill("B1")


def test_upload_resumes_from_the_servers_offset_after_a_dropped_response(
    page: Page, site: Site, tmp_path: Path, shoot: Callable[[Page, str], None]
) -> None:
    video = tmp_path / "clip.mp4"
    data = make_video(video, seconds=2)
    assert len(data) > 3 * CHUNK
    puts: list[str] = []
    dropped: list[str] = []

    def lose_second_response(route: Route) -> None:
        request = route.request
        if request.method != "PUT":
            route.continue_()
            return
        content_range = request.headers["content-range"]
        puts.append(content_range)
        if len(puts) == 2:
            # The server stores the chunk, but the browser never hears back: the page
            # must ask the server where it is instead of sending the chunk again.
            route.fetch()
            dropped.append(content_range)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/uploads/*", lose_second_response)
    login(page, "officer")
    fill_form(page, video)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("link", name="Open the catalogued item")).to_be_visible()
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    shoot(page, "done")

    # Every byte went over once: after the lost response the page went on from the
    # server's offset rather than repeating the chunk.
    assert dropped == [f"bytes {CHUNK}-{2 * CHUNK - 1}/{len(data)}"]
    starts = [int(r.split()[1].split("-")[0]) for r in puts]
    assert starts == list(range(0, len(data), CHUNK))
    item = page.get_by_role("link", name="Open the catalogued item").get_attribute("href")
    assert item is not None
    page.goto(item)
    expect(page.locator("dl.meta")).to_contain_text(hashlib.sha256(data).hexdigest())


def test_a_refused_upload_says_why(
    page: Page, site: Site, tmp_path: Path, shoot: Callable[[Page, str], None]
) -> None:
    not_video = tmp_path / "notes.txt"
    not_video.write_text("not a recording\n" * 100)
    login(page, "officer")
    fill_form(page, not_video)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-phase")).to_have_text("Upload failed")
    expect(page.locator("#upload-status")).to_contain_text("not a decodable audio/video file")
    shoot(page, "refused")
    page.goto("/catalog")
    expect(page.locator("#media-table td.empty")).to_be_visible()


def test_an_officer_may_not_upload_for_another_badge(page: Page, tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, seconds=1)
    login(page, "officer")
    page.goto("/upload")
    page.get_by_label("File").set_input_files(video)
    page.get_by_label("Device ID").fill("BWC-0042")
    page.get_by_label("Officer badge").fill("B2")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-phase")).to_have_text("Upload failed")
    expect(page.locator("#upload-status")).to_contain_text("own recordings")
