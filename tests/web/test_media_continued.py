"""A recorder segment that continues the one before it without a keyframe (an endless
GOP) viewed or downloaded on its own (docs/design/playback.md, "A continued segment on
its own"): the download stays the stored bytes (its hash matches, evidence), but the API,
the response and the media page say that it continues the one before without a keyframe,
link to it and to camera playback, and the page's player shows the camera's pictures
(decoded from the chain's keyframe) instead of the file alone, which does not decode. The
real segment writer and ingest (tests/recorder/endless_gop.py), the real web server and
headless Chromium."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from flask.testing import FlaskClient
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.recorder.endless_gop import frame_index, record_endless_gop
from tests.web.conftest import Site, login
from tests.web.test_playback_endless_gop import best_match
from tests.web.test_playback_page import shown_frame
from vms.services import Services

# web.api.media.CONTINUES_HEADER
CONTINUES_HEADER = "X-Continues-Without-Keyframe"


def h(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['investigator']}"}


def test_a_continued_segment_says_so_and_its_download_is_the_stored_file(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    """Before: the detail and the content of a continued segment looked like any other
    item's: nothing told the viewer that the file alone shows nothing until a keyframe.
    Now the detail has ``continues`` (the segment before, the chain, playback's link)
    and the content a header and links; the bytes are the stored ones."""
    recording = record_endless_gop(services, "cam-endless-media")
    keyframe, item = recording.rows[0], recording.rows[2]
    assert recording.continued[:3] == [False, True, True]
    query = {"purpose": "investigation"}
    body: dict[str, Any] = client.get(f"/api/v1/media/{item.id}", headers=h(tokens)).get_json()
    continues = body["continues"]
    assert continues is not None, body
    assert continues["previous_media_id"] == recording.rows[1].id
    assert continues["chain"] == [keyframe.id, recording.rows[1].id]
    assert continues["complete"] is True
    assert continues["playback"].startswith(f"/playback?camera={recording.camera_id}&start=")
    plain = client.get(f"/api/v1/media/{keyframe.id}", headers=h(tokens)).get_json()
    assert plain["continues"] is None
    r = client.get(
        f"/api/v1/media/{item.id}/content",
        query_string={**query, "download": "1"},
        headers=h(tokens),
    )
    assert r.status_code == 200
    assert hashlib.sha256(r.data).hexdigest() == item.sha256  # the evidence, unchanged
    assert r.headers[CONTINUES_HEADER] == recording.rows[1].id
    assert f'</api/v1/media/{recording.rows[1].id}>; rel="prev"' in r.headers["Link"]
    assert 'rel="alternate"' in r.headers["Link"]
    r.close()
    r = client.get(f"/api/v1/media/{keyframe.id}/content", query_string=query, headers=h(tokens))
    r.close()
    assert r.status_code == 200 and CONTINUES_HEADER not in r.headers


def test_the_media_page_of_a_continued_segment_shows_its_pictures(
    web_assets: Path, site: Site, page: Page, services: Services
) -> None:
    """Before: the page's player loaded the file alone, whose frames depend on the
    segment before: Chromium showed no picture, and nothing said why. Now the page says
    that the segment continues the one before without a keyframe, links to it and to
    camera playback, and its player plays the segment's span decoded from the chain's
    keyframe: the first picture is the camera's at the segment's start."""
    recording = record_endless_gop(services, "cam-endless-page")
    item = recording.rows[1]
    login(page, "investigator")
    page.goto(f"/media/{item.id}?purpose=investigation")
    notice = page.locator("#continued-notice")
    assert "continues the one before it" in notice.inner_text()
    assert notice.locator(f'a[href="/media/{recording.rows[0].id}"]').count() == 1
    assert notice.locator('a[href^="/playback?camera="]').count() == 1
    page.wait_for_function("() => window.vmsContinued && window.vmsContinued.ready")
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "() => { const v = window.vmsContinued.video;"
            " return !v.seeking && v.readyState >= 2; }",
            timeout=15_000,
        )
    page.wait_for_timeout(300)
    state = page.evaluate("() => window.vmsContinued.video.readyState")
    assert state >= 2, state
    best, quality = best_match(recording, shown_frame(page, "player").astype(np.uint8))
    first = frame_index(item.recorded_start)
    # The camera's picture at the segment's start (a grey frame matches none: < 15 dB).
    assert quality >= 25 and abs(best - first) <= 2, (best, first, quality)
    # "Use the player's position" names the instant shown, not the item's start plus
    # the player's time from the chain's keyframe (3.1 s later).
    page.click("#bookmark-here")
    value = page.locator("#bookmark-form input[name=start]").input_value()
    at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert abs((at - item.recorded_start).total_seconds()) <= 0.2, (value, item.recorded_start)
