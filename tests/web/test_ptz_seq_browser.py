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

from onvif_control.ptz_sessions import OpenSession
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.conftest import Site, login
from tests.web.test_live_pages import camera_id as camera_id  # the fixture
from tests.web.test_live_pages import get_control
from tests.web.test_page_races_browser import SHOWN
from vms.auth.permissions import Actor

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
