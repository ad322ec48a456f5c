"""The playback page in headless Chromium (issue 15.1): hls.js (installed from npm by
scripts/install-web-assets.sh, served from our static folder) plays a real recording of
the simulator across segment boundaries, and seeks to a wall-clock instant: the
picture's time (hls.js's own ``playingDate``) is that instant and the frame shown is the
stored frame recorded then."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from tests.conftest import make_config
from tests.recorder.conftest import Rig
from tests.recorder.recorded import SEGMENT_SECONDS, three_segments
from tests.web.conftest import Site, login
from vms.clock import Clock, SystemClock
from vms.config import Config
from vms.db.models import AuditEntry, MediaItem
from vms.services import Services

FPS = 10


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(data_dir, url, VMS_RECORDER_SEGMENT_SECONDS=SEGMENT_SECONDS)


@pytest.fixture
def clock() -> Clock:
    return SystemClock()  # a real recording: segments follow real arrival times


@pytest.fixture
def recorded(services: Services) -> Iterator[tuple[Rig, list[MediaItem]]]:
    with three_segments(services) as rig_and_rows:
        yield rig_and_rows


def stored_frames(services: Services, item: MediaItem) -> list[np.ndarray]:
    with av.open(str(services.store.path_for(item.sha256))) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def shown_frame(page: Page, element: str = "playback-video") -> np.ndarray:
    """The video element's (id ``element``) current picture at its natural size, as RGB."""
    pixels = page.evaluate(
        """(element) => {
          const v = document.getElementById(element);
          const c = document.createElement('canvas');
          c.width = v.videoWidth; c.height = v.videoHeight;
          const g = c.getContext('2d');
          g.drawImage(v, 0, 0);
          const data = g.getImageData(0, 0, c.width, c.height).data;
          return {w: c.width, h: c.height, data: Array.from(data)};
        }""",
        element,
    )
    rgba = np.array(pixels["data"], dtype=np.int16).reshape(pixels["h"], pixels["w"], 4)
    return rgba[:, :, :3]


def iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_hls_plays_across_segments_and_seeks_to_a_wall_clock_instant(
    web_assets: Path,
    recorded: tuple[Rig, list[MediaItem]],
    site: Site,
    page: Page,
    services: Services,
) -> None:
    rig, rows = recorded
    assert all(r.recorded_end is not None for r in rows)
    first_end = rows[0].recorded_end
    assert first_end is not None
    start, end = rows[0].recorded_start, rows[2].recorded_end
    assert end is not None
    login(page, "investigator")
    page.goto(  # ACC-4: the purpose of the review, recorded with the viewing
        f"/playback?camera={rig.camera_id}&start={iso(start)}&end={iso(end)}&purpose=investigation"
    )
    page.wait_for_function("() => window.vmsPlayback && window.vmsPlayback.hls.levels.length > 0")
    assert page.evaluate(
        "() => MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42c01e\"')"
    ), "this Chromium cannot play H.264 in MSE"
    fragments = page.evaluate(
        "() => window.vmsPlayback.hls.levels[0].details.fragments.map("
        "f => [f.programDateTime, f.duration])"
    )
    assert [dt.datetime.fromtimestamp(f[0] / 1000, dt.UTC) for f in fragments] == [
        r.recorded_start.replace(microsecond=r.recorded_start.microsecond // 1000 * 1000)
        for r in rows
    ]

    # Play through the first boundary: the time keeps running past the first segment.
    page.evaluate("() => window.vmsPlayback.video.play()")
    boundary = (first_end - start).total_seconds()
    page.wait_for_function(
        f"() => window.vmsPlayback.video.currentTime > {boundary + 0.5}", timeout=20_000
    )
    playing = page.evaluate("() => window.vmsPlayback.hls.playingDate.getTime()")
    played_at = dt.datetime.fromtimestamp(playing / 1000, dt.UTC)
    assert rows[1].recorded_start <= played_at < rows[2].recorded_start + dt.timedelta(seconds=2)
    assert page.locator("#playback-status").is_hidden()
    page.evaluate("() => window.vmsPlayback.video.pause()")

    # Seek to a wall-clock instant in the third segment, on a frame time.
    target = rows[2].recorded_start + dt.timedelta(seconds=0.7)
    page.fill("#playback-at", iso(target))
    page.click("#playback-seek button")
    page.wait_for_function(
        "() => { const v = window.vmsPlayback.video;"
        " return !v.seeking && v.readyState >= 2 && v.currentTime > 0; }"
    )
    page.wait_for_timeout(300)
    state = page.evaluate(
        "() => ({t: window.vmsPlayback.video.currentTime,"
        " date: window.vmsPlayback.hls.playingDate && window.vmsPlayback.hls.playingDate.getTime(),"
        " clock: document.getElementById('playback-clock').textContent})"
    )
    # hls.js's own wall-clock mapping agrees with the instant asked for (within a frame).
    assert state["date"] is not None
    shown_at = dt.datetime.fromtimestamp(state["date"] / 1000, dt.UTC)
    assert abs((shown_at - target).total_seconds()) <= 1 / FPS + 0.02, (shown_at, target)
    expected_t = (rows[2].recorded_start - start).total_seconds() + 0.7
    assert abs(state["t"] - expected_t) < 0.05, state

    # The frame shown is the stored frame recorded at that instant (within a frame or two:
    # the browser's YUV->RGB differs slightly from FFmpeg's, the same for every frame).
    frames = stored_frames(services, rows[2])
    shown = shown_frame(page)
    assert shown.shape == frames[0].shape
    distances = [float(np.abs(shown - f).mean()) for f in frames]
    best = int(np.argmin(distances))
    assert abs(best - 7) <= 2, (best, [round(d, 2) for d in distances])

    # One audit entry for the whole session, however many segments and ranges it fetched.
    with services.db.session() as s:
        actions = list(
            s.execute(
                select(AuditEntry.action, AuditEntry.actor).where(
                    AuditEntry.action.in_(["media.playback", "media.view"])
                )
            ).all()
        )
    assert [tuple(a) for a in actions] == [("media.playback", "investigator")]


def test_an_officer_sees_why_playback_is_refused(
    web_assets: Path, recorded: tuple[Rig, list[MediaItem]], site: Site, page: Page
) -> None:
    rig, rows = recorded
    end = rows[2].recorded_end
    assert end is not None
    login(page, "officer")
    page.goto(
        f"/playback?camera={rig.camera_id}&start={iso(rows[0].recorded_start)}&end={iso(end)}"
        "&purpose=report_writing"
    )
    status = page.locator("#playback-status")
    status.wait_for(state="visible")
    assert "officers may only access their own recordings" in status.inner_text()
