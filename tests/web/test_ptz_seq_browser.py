"""Who controls a camera, on the live pages, in headless Chromium, when events and reads
come out of order (docs/design/ptz-arbitration.md P6): the page as rendered, the
``ptz.session`` events and the reads each carry the camera's session sequence, and a
page draws nothing older than what it shows. The disorder is made certain, not left to
timing: the server's bus holds the events a test chooses (a slow bus between processes),
the page's reads are answered late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from onvif_control.ptz_sessions import OpenSession, SessionView
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.conftest import Site, login
from tests.web.test_live_pages import camera_id as camera_id  # the fixture
from tests.web.test_live_pages import get_control
from tests.web.test_page_races_browser import SHOWN
from vms.auth.permissions import Actor
from vms.db.models import PtzSession
from vms.jsonable import jsonable

pytestmark = [
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
    pytest.mark.timeout(180),
]

# Before the page's scripts: each answer to a read of who controls a camera
# (GET .../ptz/session) comes 3 s late.
LATE_CONTROLLER_READS = """(() => {
  const real = window.fetch;
  window.fetch = async (url, init) => {
    const answer = await real(url, init);
    const method = (init && init.method) || 'GET';
    if (method === 'GET' && String(url).endsWith('/ptz/session')) {
      await new Promise((r) => setTimeout(r, 3000));
    }
    return answer;
  };
})()"""


@pytest.fixture
def held_sessions(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """From now on the server's bus holds every ``ptz.session`` event; the function
    returned publishes those held, in order, and lets the next ones through."""
    bus = site.services.events
    real = bus.publish
    held: list[tuple[str, dict[str, Any]]] = []
    holding = [True]

    def publish(topic: str, payload: dict[str, Any]) -> None:
        if holding[0] and topic == "ptz.session":
            held.append((topic, payload))
        else:
            real(topic, payload)

    def release() -> None:
        holding[0] = False
        for topic, payload in held:
            real(topic, payload)

    monkeypatch.setattr(bus, "publish", publish)
    yield release


def controller_slot(page: Page, camera_id: str) -> Locator:
    return page.locator(f'[data-camera-id="{camera_id}"] [data-role="controller"]').first


def connected(page: Page) -> None:
    page.wait_for_function("() => window.vmsSocket && window.vmsSocket.connected")


def test_a_session_event_older_than_the_rendered_wall_is_not_drawn(
    camera_id: str,
    page: Page,
    site: Site,
    actors: dict[str, Actor],
    held_sessions: Callable[[], None],
) -> None:
    """Taken and released before the wall was rendered ("Nobody in control"), the two
    events delivered after it (a slow bus), before the page's own read answered: the
    wall was rendered without the camera's session number, so the take's event, older
    than the page, was drawn ("Controlled by sergeant", a stale holder). Now the wall
    carries each camera's number (``data-session-seq``) and draws only newer events."""
    ptz = get_control(site.services).ptz
    login(page, "dispatcher", lands="**/live")
    sergeant = actors["sergeant"]
    taken = ptz.open_session(sergeant, camera_id, OpenSession(purpose="investigation"))
    ptz.close_session(sergeant, camera_id, taken.session_id)
    page.add_init_script(LATE_CONTROLLER_READS)
    page.goto("/live")
    slot = controller_slot(page, camera_id)
    expect(slot).to_have_text("Nobody in control")
    connected(page)
    page.evaluate(SHOWN, f'[data-camera-id="{camera_id}"] [data-role="controller"]')
    held_sessions()  # the take's and the release's events, older than the page
    ptz.open_session(actors["admin"], camera_id, OpenSession(purpose="investigation"))
    expect(slot).to_contain_text("Controlled by admin")  # the events came, in order
    assert not [t for t in page.evaluate("() => window.shown") if "sergeant" in t]


# -- events without a number (a node from before P6, during a rolling upgrade) -----------


def unnumbered(site: Site, camera_id: str, controller: SessionView | None) -> None:
    """``ptz.session`` as a node from before P6 publishes it: no ``session_seq``."""
    shown = None
    if controller is not None:
        shown = {k: v for k, v in jsonable(controller).items() if k != "session_seq"}
    site.services.events.publish("ptz.session", {"camera_id": camera_id, "controller": shown})


def steering(page: Page, camera_id: str) -> Locator:
    """The dispatcher's camera page, control taken; returns the "Pan right" button."""
    login(page, "dispatcher", lands="**/live")
    page.goto(f"/live/{camera_id}")
    expect(page.locator("#ptz-pose")).to_contain_text("pan ", timeout=20_000)
    page.get_by_label("Purpose").select_option("investigation")
    page.get_by_role("button", name="Take control").click()
    right = page.get_by_role("button", name="Pan right")
    expect(right).to_be_visible()
    return right


def test_an_unnumbered_end_event_does_not_end_control_the_server_still_grants(
    camera_id: str, page: Page, site: Site
) -> None:
    """An old node's ``ptz.session`` (nobody in control), delivered late, after this
    page was granted control: without a number, the camera page applied it and gave up
    the control the server still granted ("Your control of this camera has ended").
    Now a page that has a number reads the status again instead, and keeps control."""
    right = steering(page, camera_id)
    unnumbered(site, camera_id, None)
    page.wait_for_timeout(2000)  # the event, and the status it makes the page ask
    expect(page.locator("#ptz-notice")).to_be_hidden()
    expect(right).to_be_visible()


def test_an_unnumbered_end_event_that_is_true_ends_control(
    camera_id: str, page: Page, site: Site
) -> None:
    """The other side of the rule: an old node that did end the session (its end
    advances no number) is believed through the status the page asks."""
    right = steering(page, camera_id)
    with site.services.db.transaction() as s:
        row = s.execute(
            select(PtzSession).where(
                PtzSession.camera_id == camera_id, PtzSession.ended_at.is_(None)
            )
        ).scalar_one()
        row.ended_at, row.end_reason, row.ended_by = site.services.clock.now(), "expired", "old"
    unnumbered(site, camera_id, None)
    expect(page.locator("#ptz-notice")).to_contain_text("has ended")
    expect(right).to_be_hidden()


def test_an_unnumbered_stale_holder_event_is_not_drawn_on_the_wall(
    camera_id: str, page: Page, site: Site, actors: dict[str, Actor]
) -> None:
    """Taken and released (the wall shows nobody, at number 2), then an old node's
    ``ptz.session`` naming the holder, delivered late: the wall drew the stale holder
    and kept it. Now the wall, which has a number, reads the controller again."""
    ptz = get_control(site.services).ptz
    sergeant = actors["sergeant"]
    taken = ptz.open_session(sergeant, camera_id, OpenSession(purpose="investigation"))
    ptz.close_session(sergeant, camera_id, taken.session_id)
    login(page, "dispatcher", lands="**/live")
    slot = controller_slot(page, camera_id)
    expect(slot).to_have_text("Nobody in control")
    connected(page)
    page.evaluate(SHOWN, f'[data-camera-id="{camera_id}"] [data-role="controller"]')
    unnumbered(site, camera_id, taken)
    page.wait_for_timeout(2000)  # the event, and the read it makes the page ask
    assert not [t for t in page.evaluate("() => window.shown") if "sergeant" in t]
    expect(slot).to_have_text("Nobody in control")
