"""The camera page plays WebRTC (WHEP) in headless Chromium: its real WebRTC stack decodes
frames of a masked and of a pass-through simulator camera (``getStats``), and the page
falls back to the masked MJPEG, saying so, when WebRTC is not available (issue 12.1).

A viewer joining a pass-through camera with a long GOP (10 s) gets a picture within 3 s:
the recorder asked the camera for a keyframe (ONVIF SetSynchronizationPoint, counted by
the simulator); a camera that does not support it still plays, from its next keyframe.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from onvif_control.simulator import SimulatedCamera
from recorder.engine import Recorder
from tests.recorder.conftest import PASSWORD, USERNAME, Rig, wait_for
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.conftest import Site, login
from tests.web.whep import masked as masked  # the fixtures: the simulator recorded
from tests.web.whep import passthrough as passthrough
from tests.web.whep import recorded_as_it_comes
from vms.clock import ManualClock
from vms.db.models import AuditEntry
from vms.media.codec import Encoder
from vms.services import Services

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

FRAMES_DECODED = """async (selector) => {
  const video = document.querySelector(selector);
  const pc = video && video.whepPeer;
  if (!pc) return 0;
  let n = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded || 0;
  });
  return n;
}"""


def plays_webrtc(page: Page, camera_id: str, seconds: float = 3.0) -> int:
    """Open the camera page; the frames Chromium decoded within ``seconds`` of
    connecting."""
    page.goto(f"/live/{camera_id}")
    expect(page.locator("body")).to_have_attribute("data-video", "webrtc", timeout=15_000)
    expect(page.locator("#live-mode")).to_have_text("WebRTC")
    expect(page.locator("#live-image")).to_be_hidden()
    deadline = time.monotonic() + seconds
    decoded = 0
    while decoded == 0 and time.monotonic() < deadline:
        decoded = int(page.evaluate(FRAMES_DECODED, "#live-video"))
        time.sleep(0.1)
    return decoded


def webrtc_views(services: Services) -> list[Any]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry.details)
                .where(AuditEntry.action == "live.view", AuditEntry.actor == "dispatcher")
                .order_by(AuditEntry.seq)
            ).scalars()
        )


def leave_the_wall(page: Page, recorder: Recorder, camera_id: str) -> None:
    """Login lands on the wall, whose tile offers WHEP for the camera: wait until that
    tile plays, then leave the wall and wait for its session to end. Leaving earlier
    let the tile's offer, still in flight, land (and be audited, and ask a camera for a
    keyframe) after the test's own viewer joined: seen on a slow machine."""
    tile = page.locator(f'[data-camera-id="{camera_id}"] [data-role="mode"]')
    expect(tile).to_have_text("WebRTC", timeout=15_000)
    page.goto("/catalog")
    wait_for(lambda: recorder.webrtc.session_count == 0, 10, "the wall's session ended")


@SQLITE_ONLY
@pytest.mark.timeout(180)
def test_chromium_plays_a_masked_camera_over_whep_PSCS_1_INV_5(
    masked: Rig, page: Page, site: Site
) -> None:
    encoders = Encoder.opened()
    login(page, "dispatcher", lands="**/live")
    leave_the_wall(page, masked.recorder, masked.camera_id)  # its tiles: tested below
    before = len(webrtc_views(site.services))
    assert plays_webrtc(page, masked.camera_id) > 0
    size = page.evaluate(
        "() => [document.getElementById('live-video').videoWidth,"
        " document.getElementById('live-video').videoHeight]"
    )
    assert size == [320, 180]
    assert Encoder.opened() == encoders  # the viewer added no encoder
    assert masked.recorder.webrtc.senders_encoding() == 0
    kinds = [d["kind"] for d in webrtc_views(site.services)[before:]]
    assert kinds == ["webrtc"]  # audited as a live view (ACC-6)
    # Leaving the page ends the session (DELETE on its Location).
    page.goto("/catalog")
    wait_for(lambda: masked.recorder.webrtc.session_count == 0, 10, "the session ended")


@SQLITE_ONLY
@pytest.mark.timeout(180)
def test_the_wall_plays_its_tiles_over_webrtc_and_keeps_the_chosen_layout(
    masked: Rig, page: Page, site: Site
) -> None:
    """Issue 12.2: the wall's tiles play WebRTC in Chromium (no encoder added), say so,
    and the layout chosen with the keyboard is kept for the user across visits."""
    encoders = Encoder.opened()
    login(page, "dispatcher", lands="**/live")
    tile = page.locator(f'[data-camera-id="{masked.camera_id}"]')
    expect(tile.locator('[data-role="mode"]')).to_have_text("WebRTC", timeout=15_000)
    tile_video = f'[data-camera-id="{masked.camera_id}"] video'
    page.wait_for_function(f"async () => ({FRAMES_DECODED})({tile_video!r}) > 0")
    assert Encoder.opened() == encoders and masked.recorder.webrtc.senders_encoding() == 0
    expect(tile.locator('[data-role="recording"]')).to_have_text("recording")
    one = page.locator('#wall-layouts button[data-layout="1"]')
    one.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#camera-wall")).to_have_attribute("data-layout", "1")
    expect(one).to_have_attribute("aria-pressed", "true")
    page.goto("/catalog")
    page.goto("/live")
    expect(page.locator("#camera-wall")).to_have_attribute("data-layout", "1")
    expect(tile.locator('[data-role="mode"]')).to_have_text("WebRTC", timeout=15_000)


@SQLITE_ONLY
@pytest.mark.timeout(180)
def test_chromium_plays_a_pass_through_camera_over_whep(
    passthrough: tuple[Recorder, str], page: Page, site: Site
) -> None:
    login(page, "dispatcher", lands="**/live")
    assert plays_webrtc(page, passthrough[1]) > 0


@SQLITE_ONLY
@pytest.mark.timeout(180)
def test_without_webrtc_the_page_falls_back_to_mjpeg_and_says_so(
    masked: Rig, page: Page, site: Site
) -> None:
    # A browser without WebRTC (or without H.264 for it): the page must say so and
    # show the masked MJPEG instead.
    page.add_init_script("delete window.RTCPeerConnection;")
    login(page, "dispatcher", lands="**/live")
    # The wall's MJPEG tile is audited before the wall is left (not after `before`).
    wait_for(lambda: len(webrtc_views(site.services)) >= 1, 15, "the wall's tile was audited")
    page.goto("/catalog")
    before = len(webrtc_views(site.services))
    page.goto(f"/live/{masked.camera_id}")
    expect(page.locator("body")).to_have_attribute("data-video", "mjpeg")
    expect(page.locator("#live-mode")).to_contain_text("MJPEG (WebRTC unavailable:")
    page.wait_for_function(
        "() => document.getElementById('live-image').naturalWidth > 0", timeout=20_000
    )
    assert [d["kind"] for d in webrtc_views(site.services)[before:]] == ["mjpeg"]


@pytest.fixture
def long_gop(
    request: pytest.FixtureRequest, services: Services
) -> Iterator[tuple[Recorder, str, SimulatedCamera]]:
    """A pass-through camera whose keyframes come every ``request.param[0]`` seconds and
    which answers SetSynchronizationPoint (``request.param[1]``), recorded."""
    gop, supported = request.param
    sim = SimulatedCamera(
        "gop", size=(320, 180), fps=10, gop_seconds=gop, synchronization_point=supported,
        username=USERNAME, password=PASSWORD,
    )  # fmt: skip
    sim.start()
    try:
        # Recording starts at the camera's first keyframe with a timestamp: up to two
        # GOPs after connecting.
        with recorded_as_it_comes(services, sim, 2 * gop + 10) as (recorder, camera_id):
            yield recorder, camera_id, sim
    finally:
        sim.stop()


def first_frame_seconds(page: Page, camera_id: str, seconds: float) -> float | None:
    """Open the camera page; seconds from opening it to Chromium's first decoded frame
    (None if none within ``seconds``)."""
    start = time.monotonic()
    page.goto(f"/live/{camera_id}")
    while time.monotonic() < start + seconds:
        if int(page.evaluate(FRAMES_DECODED, "#live-video")) > 0:
            return time.monotonic() - start
        time.sleep(0.05)
    return None


@SQLITE_ONLY
@pytest.mark.parametrize("long_gop", [(10.0, True)], indirect=True)
@pytest.mark.timeout(180)
def test_a_viewer_of_a_pass_through_camera_does_not_wait_for_its_gop(
    long_gop: tuple[Recorder, str, SimulatedCamera], page: Page, site: Site, clock: ManualClock
) -> None:
    recorder, camera_id, sim = long_gop
    # Recording asked for the first keyframe it could start from (FFmpeg gives the IDR
    # sent at PLAY no timestamp: recorder/pipeline.py); once it has one, for none.
    recording = sim.sync_points
    keyframes: list[float] = []  # when the camera's keyframes reached the recorder

    def note(item: Any) -> None:
        if getattr(item, "keyframe", False):
            keyframes.append(time.monotonic())

    hub = recorder.hub(camera_id)
    hub.subscribe(note)
    try:
        started = time.monotonic()
        login(page, "dispatcher", lands="**/live")
        # The wall's tile is a first viewer: its keyframe request is answered before
        # this test's viewer joins (a late one would serve that viewer instead and let
        # the test pass without it asking).
        leave_the_wall(page, recorder, camera_id)
        asked = sim.sync_points
        assert asked > recording  # the tile's
        # Keyframe requests are limited to one a camera a second (the gateway's and
        # recorder/keyframes.py's, on the services' clock): the fixed test clock must
        # see the seconds that passed since the tile's, or this viewer's request waits
        # out the limit (1.5 s of the 3) as it would not with a real clock.
        clock.advance(time.monotonic() - started)
        # x264 counts the GOP from the last IDR, asked for or not: the next keyframe
        # is 10 s after the last one, 4 s or more away.
        assert keyframes and time.monotonic() - keyframes[-1] < 6.0
        took = first_frame_seconds(page, camera_id, 3.0)
        assert took is not None, "no frame decoded within 3 s of joining"
        assert sim.sync_points > asked  # the camera was asked for this viewer's keyframe
        assert recorder.keyframes.supported(camera_id)
    finally:
        hub.unsubscribe(note)


@SQLITE_ONLY
@pytest.mark.parametrize("long_gop", [(2.0, False)], indirect=True)
@pytest.mark.timeout(180)
def test_a_camera_without_keyframes_on_request_plays_from_its_next_keyframe(
    long_gop: tuple[Recorder, str, SimulatedCamera], page: Page, site: Site
) -> None:
    recorder, camera_id, sim = long_gop
    login(page, "dispatcher", lands="**/live")
    took = first_frame_seconds(page, camera_id, 2.0 + 3.0)  # a GOP, then as above
    assert took is not None, "no frame decoded within a GOP and 3 s"
    assert sim.sync_points == 0
    wait_for(lambda: not recorder.keyframes.supported(camera_id), 5, "the refusal remembered")
    assert recorder.keyframes.counts.unsupported == 1  # asked once, then not again
