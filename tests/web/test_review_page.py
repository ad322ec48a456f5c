"""The review page in headless Chromium (issue 15.2): an investigator opens a window
holding a real recording of the simulator and a body-camera video, chooses both, sees
one lane each, moves the clock by clicking the timeline and plays: both videos show the
instant of the one clock (within 0.5 s), across a segment boundary. A bookmark of the
instant appears as a marker and in the API. An officer is offered only their own
recording and is refused the camera (ACC-2); every reading is audited (ACC-6)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import make_config
from tests.media import make_video
from tests.recorder.conftest import Rig
from tests.recorder.recorded import SEGMENT_SECONDS, three_segments
from tests.web.conftest import Site, login, switch_user
from vms.audit.log import Who
from vms.clock import Clock, SystemClock
from vms.config import Config
from vms.db.models import AuditEntry, MediaItem, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

Shoot = Callable[[Page, str], None]
TOLERANCE = 0.5  # seconds between a video's picture and the clock


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


def iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def ms(at: dt.datetime) -> float:
    return at.timestamp() * 1000


def shown(page: Page) -> dict[str, Any]:
    """The clock and each player's instant (ms), read at once."""
    result: dict[str, Any] = page.evaluate(
        "() => ({now: window.vmsReview.now(), shown: window.vmsReview.shown(),"
        " sources: window.vmsReview.players.map(p => p.source.kind)})"
    )
    return result


def settled(page: Page) -> None:
    page.wait_for_function(
        "() => window.vmsReview.players.every(p => p.ready() && !p.video.seeking"
        " && p.video.readyState >= 2)"
    )


def assert_in_step(state: dict[str, Any], expected: float) -> None:
    assert abs(state["now"] - expected) < 1000 * TOLERANCE, state
    for at in state["shown"]:
        assert at is not None, state
        assert abs(at - state["now"]) < 1000 * TOLERANCE, state


def test_investigator_plays_a_camera_and_a_body_camera_on_one_clock_and_bookmarks(
    web_assets: Path,
    recorded: tuple[Rig, list[MediaItem]],
    site: Site,
    page: Page,
    services: Services,
    shoot: Shoot,
) -> None:
    rig, rows = recorded
    last_end = rows[2].recorded_end
    assert last_end is not None
    # Officer B1's body camera, from 1 s into the recording to past its end.
    bwc_start = rows[0].recorded_start + dt.timedelta(seconds=1)
    seconds = round((last_end - bwc_start).total_seconds()) + 1
    bwc = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=seconds, fps=10, size=(320, 180), seed=5)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-0042",
            officer_badge="B1",
            recorded_at=bwc_start,
            title="Stop on 5th",
        ),
        Who("setup", "admin"),
    ).media_id
    start = rows[0].recorded_start - dt.timedelta(seconds=1)
    end = last_end + dt.timedelta(seconds=1)

    login(page, "investigator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    pick = page.get_by_role("form", name="Choose a window and sources")
    pick.get_by_label("From (UTC)").fill(iso(start))
    pick.get_by_label("To (UTC)").fill(iso(end))
    pick.get_by_label("Purpose").select_option("investigation")  # ACC-4
    pick.get_by_role("button", name="Find sources").click()
    choices = page.locator("#review-sources")
    expect(choices).to_contain_text("Stop on 5th")
    page.check(f'input[data-source="camera:{rig.camera_id}"]')
    page.check(f'input[data-source="item:{bwc}"]')
    pick.get_by_role("button", name="Show chosen sources").click()
    page.wait_for_function("() => window.vmsReview && window.vmsReview.players.length === 2")

    # One lane per source, with its recorded spans.
    lanes = page.locator("#review-lanes .review-lane")
    expect(lanes).to_have_count(2)
    camera_track = page.locator(f'.review-lane[data-source="camera:{rig.camera_id}"] .review-track')
    expect(camera_track.locator(".review-span")).to_have_count(1)  # back to back: one span
    expect(page.locator(f'.review-lane[data-source="item:{bwc}"] .review-span')).to_have_count(1)
    settled(page)

    # Clicking the timeline moves the one clock; both videos follow it.
    target = rows[1].recorded_start + dt.timedelta(seconds=0.5)
    box = camera_track.bounding_box()
    assert box is not None
    fraction = (target - start) / (end - start)
    camera_track.click(position={"x": fraction * box["width"], "y": box["height"] / 2})
    settled(page)
    state = shown(page)
    assert abs(state["now"] - ms(target)) < (end - start).total_seconds() * 1000 / box["width"] + 5
    assert_in_step(state, ms(target))

    # Play across the camera's next segment boundary, then pause: still in step.
    page.get_by_role("button", name="Play").click()
    # A video pushed 1.5 s off the clock while playing is brought back (drift > 0.3 s).
    page.wait_for_function(f"() => window.vmsReview.now() > {ms(target) + 200}")
    page.evaluate("() => { const v = window.vmsReview.players[1].video; v.currentTime += 1.5; }")
    page.wait_for_function("() => window.vmsReview.players[1].resyncs >= 1")
    page.wait_for_function("() => !window.vmsReview.players[1].video.seeking")
    assert_in_step(playing := shown(page), playing["now"])
    boundary = ms(rows[2].recorded_start)
    page.wait_for_function(f"() => window.vmsReview.now() > {boundary + 300}", timeout=20_000)
    assert_in_step(playing := shown(page), playing["now"])
    page.get_by_role("button", name="Pause").click()
    settled(page)
    paused = shown(page)
    assert_in_step(paused, paused["now"])
    assert page.locator("#review-status").is_hidden()
    shoot(page, "review")

    # Bookmark the instant on the camera: a marker on its lane, and in the API.
    mark = page.get_by_role("form", name="Bookmark this instant")
    mark.get_by_role("combobox").select_option(f"camera:{rig.camera_id}")
    mark.get_by_label("Label", exact=True).fill("car passes")
    mark.get_by_role("button", name="Bookmark this instant").click()
    expect(camera_track.locator(".review-mark")).to_have_count(1)
    expect(camera_track.get_by_label("Bookmark: car passes")).to_be_attached()
    answer = page.request.get(f"/api/v1/bookmarks?camera={rig.camera_id}")
    assert answer.status == 200
    [saved] = answer.json()["bookmarks"]
    assert (saved["label"], saved["author"]) == ("car passes", "investigator")
    saved_at = dt.datetime.fromisoformat(saved["start"])
    assert abs(ms(saved_at) - paused["now"]) < 2, (saved["start"], paused["now"])

    # Audited: the review with the ids shown, one playback session, the item's viewing.
    with services.db.session() as s:
        found = list(
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.action.in_(["review.view", "media.playback", "media.view"]),
                    AuditEntry.actor == "investigator",
                )
            ).scalars()
        )
    views = [e for e in found if e.action == "review.view"]
    assert views[-1].details["selected"] == [f"camera:{rig.camera_id}", f"item:{bwc}"]
    assert {e.action for e in found} == {"review.view", "media.playback", "media.view"}

    # An officer (B1) is offered their own recording only, and refused the camera.
    switch_user(page, "officer")
    page.goto(f"/review?start={iso(start)}&end={iso(end)}")
    expect(page.locator("#review-sources")).to_contain_text("Stop on 5th")
    expect(page.locator(f'input[data-source="camera:{rig.camera_id}"]')).to_have_count(0)
    page.goto(f"/review?start={iso(start)}&end={iso(end)}&camera={rig.camera_id}")
    expect(page.get_by_role("heading", name="Not permitted")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Officers may only access their own recordings")


def test_an_auditor_reads_the_timeline_without_a_play_button(
    web_assets: Path, site: Site, page: Page, services: Services
) -> None:
    """An auditor (metadata, never content) reads the review timeline: lanes drawn, the
    clock moved by the timeline's keys, no Play button (it played nothing) and no
    script error without it."""
    start = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
    item = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2, fps=10, size=(160, 90), seed=9)),
        IngestRequest(
            source=SourceKind.BWC, device_id="BWC-9", officer_badge="B1", recorded_at=start
        ),
        Who("setup", "admin"),
    ).media_id
    first, last = start - dt.timedelta(seconds=5), start + dt.timedelta(seconds=30)
    window = f"start={iso(first)}&end={iso(last)}"
    login(page, "auditor")
    page.goto(f"{site.url}/review?{window}&media_id={item}")
    review = page.locator("#review")
    expect(review.locator(".review-lane:not(.review-axis-row)")).to_have_count(1)
    expect(review.get_by_role("button", name="Play")).to_have_count(0)
    expect(page.locator("#review-not-played")).to_be_visible()
    before = page.locator("#review-clock").text_content()
    page.locator("#review-timeline").press("ArrowRight")
    page.locator("#review-timeline").press(" ")  # no Play: the space key does nothing
    expect(page.locator("#review-clock")).not_to_have_text(before or "")
    expect(page.locator("#review-state")).to_have_text("paused")
