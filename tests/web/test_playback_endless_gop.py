"""HLS playback of a camera with an endless GOP in headless Chromium (hls.js on the
playback page; docs/design/playback.md, "Continued segments"): a window that starts
inside a segment continued without a keyframe shows the picture recorded at its start,
never a grey or smeared one, and plays on across the next such boundary. The real
segment writer and ingest (tests/recorder/endless_gop.py), the real web server."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import vms.continued
from tests.recorder.endless_gop import (
    EndlessRecording,
    decoded_frames,
    frame_index,
    psnr,
    record_endless_gop,
)
from tests.recorder.test_endless_gop import FRAME
from tests.web.conftest import Site, login
from tests.web.test_playback_page import iso, shown_frame
from vms.services import Services


def best_match(recording: EndlessRecording, shown: np.ndarray[Any, Any]) -> tuple[int, float]:
    """The camera's frame the picture shown is (its index) and how close (PSNR)."""
    scores = [psnr(shown.astype(np.uint8), frame) for frame in recording.reference]
    best = int(np.argmax(scores))
    return best, scores[best]


def test_playback_inside_a_continued_segment_shows_true_pictures_and_plays_on(
    web_assets: Path, site: Site, page: Page, services: Services
) -> None:
    """Before: the playlist began with the continued segment (and said
    ``EXT-X-INDEPENDENT-SEGMENTS``), so the browser got frames whose reference frames
    were in a segment it never loaded: nothing of the window decoded until the next
    keyframe. Now a chain of continued segments is one HLS segment from its keyframe."""
    recording = record_endless_gop(services, "cam-endless-hls")
    assert recording.continued[:3] == [False, True, True], recording.continued
    start, end = recording.at(4.0), recording.rows[-1].recorded_end
    assert end is not None
    login(page, "investigator")
    page.goto(
        f"/playback?camera={recording.camera_id}&start={iso(start)}&end={iso(end)}"
        "&purpose=investigation"
    )
    page.wait_for_function("() => window.vmsPlayback && window.vmsPlayback.hls.levels.length > 0")
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "() => { const v = window.vmsPlayback.video; return !v.seeking && v.readyState >= 2; }",
            timeout=15_000,
        )
    state = page.evaluate(
        "() => { const v = window.vmsPlayback.video, b = v.buffered, r = [];"
        " for (let i = 0; i < b.length; i++) r.push([b.start(i), b.end(i)]);"
        " return {ready: v.readyState, time: v.currentTime, buffered: r}; }"
    )
    assert state["ready"] >= 2, state  # a picture at the window's start
    page.wait_for_timeout(300)
    date = page.evaluate("() => window.vmsPlayback.hls.playingDate.getTime()")
    shown_at = dt.datetime.fromtimestamp(date / 1000, dt.UTC)
    assert abs((shown_at - start).total_seconds()) <= 2 * FRAME.total_seconds(), shown_at
    best, quality = best_match(recording, shown_frame(page))
    # The picture recorded at the window's start (the browser's YUV->RGB differs a
    # little from FFmpeg's); a grey or smeared frame matches none (below 15 dB).
    assert quality >= 25 and abs(best - 40) <= 2, (best, quality)

    # Play across the boundary between the two continued segments (at 6.2 s).
    began = page.evaluate("() => window.vmsPlayback.video.currentTime")
    page.evaluate("() => window.vmsPlayback.video.play()")
    page.wait_for_function(
        f"() => window.vmsPlayback.video.currentTime > {began + 3.0}", timeout=20_000
    )
    page.evaluate("() => window.vmsPlayback.video.pause()")
    page.wait_for_timeout(300)
    date = page.evaluate("() => window.vmsPlayback.hls.playingDate.getTime()")
    shown_at = dt.datetime.fromtimestamp(date / 1000, dt.UTC)
    assert shown_at > recording.rows[2].recorded_start + dt.timedelta(seconds=0.5), shown_at
    best, quality = best_match(recording, shown_frame(page))
    expected = round((shown_at - recording.at(0)) / FRAME)
    assert quality >= 25 and abs(best - expected) <= 2, (best, expected, quality)
    assert page.locator("#playback-status").is_hidden()

    # Every HLS segment of the playlist, decoded on its own from its init (what
    # EXT-X-INDEPENDENT-SEGMENTS promises a player), gives the camera's frames exactly.
    url = page.evaluate("() => document.getElementById('playback').dataset.playlist")
    text = page.request.get(url).text()
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text
    lines = text.splitlines()
    maps = [line.split('"')[1] for line in lines if line.startswith("#EXT-X-MAP:")]
    media = [line for line in lines if line.endswith("/media.mp4")]
    dates = [line.split(":", 1)[1] for line in lines if line.startswith("#EXT-X-PROGRAM-DATE")]
    assert len(media) == 2, media  # the chain from the keyframe at 0 s, then the next keyframe's
    for init_url, media_url, date_text in zip(maps, media, dates, strict=True):
        data = page.request.get(init_url).body() + page.request.get(media_url).body()
        pictures, flagged = decoded_frames(io.BytesIO(data))
        first = frame_index(dt.datetime.fromisoformat(date_text))
        assert flagged == 0 and pictures, media_url
        for n, picture in enumerate(pictures):
            assert np.array_equal(picture, recording.reference[first + n]), (media_url, n)
    assert first + len(pictures) == len(recording.reference)


def test_the_playback_page_says_when_a_chain_was_not_followed_to_its_keyframe(
    web_assets: Path,
    site: Site,
    page: Page,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A window inside a chain longer than is followed back (vms.continued.MAX_CHAIN,
    lowered to one segment here: the second continued segment is past it) plays what
    decodes and the page says why the start does not (the playlist's X-Playback-Notice),
    instead of grey pictures and silence. Before: no notice."""
    monkeypatch.setattr(vms.continued, "MAX_CHAIN", 1)
    recording = record_endless_gop(services, "cam-endless-hls-limit")
    start, end = recording.at(7.0), recording.at(8.0)
    login(page, "investigator")
    page.goto(
        f"/playback?camera={recording.camera_id}&start={iso(start)}&end={iso(end)}"
        "&purpose=investigation"
    )
    status = page.locator("#playback-status")
    status.wait_for(state="visible", timeout=15_000)
    text = status.inner_text()
    assert "cannot be decoded until the camera's next keyframe" in text, text
    assert text.startswith("The recording from"), text
