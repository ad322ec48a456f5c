"""Requests of a page in flight together, in headless Chromium (the class of stop 38's CI
failure on the redaction page): a form sent twice before its first answer came back, and
answers drawn in the order they arrived rather than the order they were asked in. Each
test makes the race certain by wrapping ``window.fetch`` in the page (a write held, a
read's answer delayed): no timing luck. A 2 s item keeps them fast."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Route, expect
from sqlalchemy import func, select

from onvif_control.ptz_sessions import OpenSession
from onvif_control.simulator import SimulatedCamera
from privacy_masks.model import NewLift, NewMask
from privacy_masks.service import MaskService
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.conftest import Site, login
from tests.web.test_case_pages import T0, bwc_item
from tests.web.test_live_pages import camera_id as camera_id  # the fixture
from tests.web.test_live_pages import get_control, move_camera
from tests.web.test_mask_lift_pages import SQUARE
from vms import job_rows
from vms.alarms import AlarmChange, AlarmKind
from vms.auth.permissions import Actor
from vms.clock import Clock, SystemClock
from vms.db.models import Bookmark, Export
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def clock() -> Clock:
    """The browser's clock hides a lift's banner at its end: the server's must agree."""
    return SystemClock()


# In the page: hold each request matching `hold` (method and URL part) 0.5 s before it
# is sent, and answer the next `late[1]` GETs whose URL matches the pattern `late[0]`
# 1.5 s late.
WRAP = """([hold, late]) => {
  const real = window.fetch;
  let delayed = 0;
  window.fetch = async (url, init) => {
    const method = (init && init.method) || 'GET';
    const held = hold && method === hold[0] && String(url).includes(hold[1]);
    if (held) await new Promise((r) => setTimeout(r, 500));
    const answer = await real(url, init);
    if (late && method === 'GET' && new RegExp(late[0]).test(String(url)) && delayed < late[1]) {
      delayed += 1;
      await new Promise((r) => setTimeout(r, 1500));
    }
    return answer;
  };
}"""


def iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def open_review(page: Page, media_id: str) -> None:
    start, end = T0 - dt.timedelta(seconds=1), T0 + dt.timedelta(seconds=3)
    page.goto(f"/review?start={iso(start)}&end={iso(end)}&media_id={media_id}")
    page.wait_for_function("() => window.vmsReview && window.vmsReview.players.length === 1")
    page.evaluate(f"() => window.vmsReview.seek({(T0.timestamp() + 1) * 1000})")


def count(services: Services, model: type[Bookmark]) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_bookmark_sent_twice_while_in_flight_is_stored_once(
    web_assets: Path, services: Services, site: object, page: Page
) -> None:
    """A double click on "Bookmark this instant" sent the form twice before the first
    answer came back: two bookmarks of the instant. (A double "Export this range" files
    one job: the server answers a repeated request with the job it filed.)"""
    item = bwc_item(services)
    login(page, "investigator")
    open_review(page, item)
    page.evaluate(WRAP, [["POST", "/api/v1/bookmarks"], None])  # the write held 0.5 s
    mark = page.get_by_role("form", name="Bookmark this instant")
    mark.get_by_label("Label", exact=True).fill("door opens")
    mark.get_by_role("button", name="Bookmark this instant").dblclick()
    mark.get_by_label("Label", exact=True).press("Enter")  # and Enter, still in flight
    expect(page.get_by_label("Bookmark: door opens").first).to_be_attached()
    page.wait_for_timeout(1000)  # a second write, had one been sent, is stored by now
    assert count(services, Bookmark) == 1
    expect(page.get_by_label("Bookmark: door opens")).to_have_count(1)


def test_a_bookmark_list_read_before_a_bookmark_does_not_hide_it_when_answered_after(
    web_assets: Path, services: Services, site: object, page: Page
) -> None:
    """The lane's bookmarks read as the page opens (slow, under load) came back after the
    read that followed a new bookmark, and redrew the lane without it."""
    item = bwc_item(services)
    login(page, "investigator")
    open_review(page, item)
    page.evaluate(WRAP, [None, ["/api/v1/bookmarks\\?", 1]])  # the next read answers late
    page.evaluate("() => { window.vmsReview.loadBookmarks(window.vmsReview.players[0].source); }")
    mark = page.get_by_role("form", name="Bookmark this instant")
    mark.get_by_label("Label", exact=True).fill("door opens")
    mark.get_by_role("button", name="Bookmark this instant").click()
    expect(page.get_by_label("Bookmark: door opens")).to_be_attached()
    page.wait_for_timeout(2000)  # the older read's answer has come back
    expect(page.get_by_label("Bookmark: door opens")).to_be_attached()


@pytest.mark.timeout(180)
def test_a_lift_list_read_before_a_lift_ended_does_not_show_it_running_again_PSCS_1(
    camera_id: str, page: Page, site: Site, actors: dict[str, Actor]
) -> None:
    """The camera page's running lifts were drawn in the order the reads' answers came:
    the read after a new lift, answered late, came back after the read that followed
    ending another lift, and listed the ended lift as running, with its "End now"."""
    masks = site.services.ports.get(MaskService)
    door = masks.create(actors["admin"], camera_id, NewMask("door", polygon=SQUARE))
    masks.create(actors["admin"], camera_id, NewMask("window", polygon=SQUARE))
    masks.lift(actors["admin"], camera_id, NewLift(door.id, "Warrant SW-1", 30))
    login(page, "admin")
    page.goto(f"/live/{camera_id}")
    page.evaluate(WRAP, [None, ["/mask-lifts\\?running=true", 1]])  # the next read: late
    panel = page.locator("#mask-lifts")
    end_door = panel.get_by_role("button", name="End the lift of \u201cdoor\u201d now")
    panel.get_by_label("Mask").select_option(label="window")
    panel.get_by_label("Investigative reason").fill("Warrant SW-2")
    panel.get_by_role("button", name="Lift mask").click()
    expect(panel.get_by_label("Investigative reason")).to_have_value("")  # lifted
    end_door.click()  # while the read after the lift is on its way back
    expect(end_door).to_have_count(0)
    page.wait_for_timeout(2000)  # the older read's answer has come back
    expect(end_door).to_have_count(0)
    end_window = panel.get_by_role("button", name="End the lift of \u201cwindow\u201d now")
    expect(end_window).to_have_count(1)


def test_an_alarm_list_read_answered_after_a_newer_one_does_not_undo_an_acknowledgement(
    page: Page, site: Site, actors: dict[str, Actor]
) -> None:
    """The alarms page reloads its list at each alarm event; the reload after a raise,
    answered late, came back after the one after an acknowledgement and showed the
    alarm unacknowledged again, with its button."""
    alarms = site.services.alarms
    lost = alarms.apply(AlarmChange(AlarmKind.VIDEO_LOST, "c1", True, "no video"))
    assert lost is not None
    login(page, "dispatcher", lands="**/live")
    page.goto("/alarms")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    page.evaluate(WRAP, [None, ["/alarms$", 1]])  # the next read of the list: late
    row = page.locator(f'#alarm-list tr[data-alarm-id="{lost.id}"]')
    expect(row.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(1)
    with page.expect_request(lambda r: r.url.endswith("/alarms")):
        alarms.apply(AlarmChange(AlarmKind.RECORDING_GAP, "c1", True, "stalled"))
    alarms.acknowledge(actors["sergeant"], lost.id)
    expect(row).to_contain_text("sergeant")
    page.wait_for_timeout(2000)  # the older read's answer has come back
    expect(row).to_contain_text("sergeant")
    expect(page.locator("#alarm-list tr[data-alarm-id]")).to_have_count(2)


def test_an_open_alarms_read_answered_after_a_clearing_does_not_show_it_again(
    page: Page, site: Site
) -> None:
    """The wall reads the open alarms at each (re)connection and follows the events; the
    read's answer, late, came after the event that cleared an alarm and showed it again."""
    alarms = site.services.alarms
    alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    login(page, "dispatcher", lands="**/live")
    disk = page.locator('[data-role="site-alarms"] [data-kind="disk_alarm"]')
    expect(disk).to_have_text("disk alarm")
    page.evaluate(WRAP, [None, ["/api/v1/alarms\\?open=true", 1]])  # the next read: late
    with page.expect_request(lambda r: "/api/v1/alarms?open=true" in r.url):
        page.evaluate("() => { window.vmsSocket.disconnect(); window.vmsSocket.connect(); }")
    alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, False))
    expect(disk).to_have_count(0)
    page.wait_for_timeout(2000)  # the read's answer, older than the clearing, has come
    expect(disk).to_have_count(0)


def test_the_open_alarms_are_shown_when_their_script_runs_after_the_socket_connected(
    page: Page, site: Site
) -> None:
    """The live pages read the open alarms only on the socket's "connect" event, and the
    socket is opened by live.js, before the page's own scripts: when alarms.js came later
    than the connection (a loaded server), the open alarms were never shown, until the
    next alarm event or reconnection."""
    site.services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    login(page, "dispatcher", lands="**/live")
    held: list[Route] = []
    page.route("**/static/alarms.js", lambda route: held.append(route))
    page.goto("/live", wait_until="commit")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    assert len(held) == 1
    held[0].continue_()  # alarms.js runs now, the socket already connected
    disk = page.locator('[data-role="site-alarms"] [data-kind="disk_alarm"]')
    expect(disk).to_have_text("disk alarm")


# In the page: answer the next ``ptz.status`` over the socket 1.5 s late, and ask it now
# (a reconnection asks where the camera points and who controls it).
LATE_STATUS = """() => {
  const socket = window.vmsSocket;
  const real = socket.emit;
  let late = 1;
  socket.emit = function (event, ...args) {
    const done = args[args.length - 1];
    if (event === 'ptz.status' && late > 0 && typeof done === 'function') {
      late -= 1;
      args[args.length - 1] = (...reply) => setTimeout(() => done(...reply), 1500);
    }
    return real.call(this, event, ...args);
  };
  socket.disconnect();
  socket.connect();
}"""


@pytest.mark.timeout(180)
def test_a_ptz_status_asked_before_taking_control_does_not_end_it_when_answered_after(
    camera_id: str, page: Page, site: Site
) -> None:
    """A status asked at a (re)connection, served before control was granted and answered
    after, said nobody controlled the camera: the page gave up the control it had just
    been granted ("ended while the connection was down") while the server kept it."""
    login(page, "dispatcher", lands="**/live")
    page.goto(f"/live/{camera_id}")
    expect(page.locator("#ptz-pose")).to_contain_text("pan ", timeout=20_000)
    page.evaluate(WRAP, [["POST", "/ptz/session"], None])  # taking control: held 0.5 s
    page.evaluate(LATE_STATUS)
    page.get_by_label("Purpose").select_option("investigation")
    page.get_by_role("button", name="Take control").click()
    right = page.get_by_role("button", name="Pan right")
    expect(right).to_be_visible()
    page.wait_for_timeout(2000)  # the status's answer, older than the grant, has come
    expect(page.locator("#ptz-notice")).to_be_hidden()
    expect(right).to_be_visible()


@pytest.mark.timeout(180)
def test_the_ptz_panel_shows_the_pose_when_its_script_runs_after_the_socket_connected(
    camera_id: str, page: Page, site: Site
) -> None:
    """The panel asked where the camera points only on the socket's "connect" event, and
    the socket is opened by live.js, before the page's own scripts: when ptz_control.js
    came later than the connection (a loaded server; CI, once), the page missed the
    event and said "Position: unknown" for good (a still camera sends no pose)."""
    login(page, "dispatcher", lands="**/live")
    held: list[Route] = []
    page.route("**/static/ptz_control.js", lambda route: held.append(route))
    page.goto(f"/live/{camera_id}", wait_until="commit")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    assert len(held) == 1
    held[0].continue_()  # the panel's script runs now, the socket already connected
    expect(page.locator("#ptz-pose")).to_contain_text("pan ", timeout=20_000)


@pytest.mark.timeout(180)
def test_a_lift_banner_poll_answered_after_a_lift_ended_does_not_show_it_again_PSCS_1(
    camera_id: str, page: Page, site: Site, actors: dict[str, Actor]
) -> None:
    """The banner's poll of the running lifts, answered late, came back after the read
    that followed ending the lift, and showed the private area as lifted again until the
    next poll (20 s)."""
    masks = site.services.ports.get(MaskService)
    door = masks.create(actors["admin"], camera_id, NewMask("door", polygon=SQUARE))
    masks.lift(actors["admin"], camera_id, NewLift(door.id, "Warrant SW-1", 30))
    login(page, "admin")
    page.goto(f"/live/{camera_id}")
    banner = page.locator('[data-role="lift-banner"]')
    expect(banner).to_contain_text("Privacy mask \u201cdoor\u201d lifted")
    page.evaluate(WRAP, [None, ["/mask-lifts\\?running=true", 1]])  # the next read: late
    with page.expect_request(lambda r: "/mask-lifts?running=true" in r.url):
        page.evaluate("() => { window.vmsRefreshLifts(); }")  # the poll
    page.get_by_role("button", name="End the lift of \u201cdoor\u201d now").click()
    expect(banner).to_be_hidden()
    page.wait_for_timeout(2000)  # the poll's answer, older than the end, has come back
    expect(banner).to_be_hidden()


@pytest.mark.timeout(180)
def test_a_camera_list_read_answered_after_a_health_event_does_not_undo_it(
    camera_id: str, sim: SimulatedCamera, page: Page, site: Site
) -> None:
    """The live pages read the cameras' health at each (re)connection and follow the
    health events; the read's answer, late, came after the event that said the camera
    went offline, and showed it online again (until its next change)."""
    login(page, "dispatcher", lands="**/live")
    page.goto(f"/live/{camera_id}")
    control = get_control(site.services)
    assert [c.new for c in control.health.check_all()] in ([], ["online"])
    health = page.locator('[data-role="health"]').first
    expect(health).to_have_text("online")
    page.evaluate(WRAP, [None, ["/api/v1/cameras$", 1]])  # the next read: late
    with page.expect_request(lambda r: r.url.endswith("/api/v1/cameras")):
        page.evaluate("() => { window.vmsSocket.disconnect(); window.vmsSocket.connect(); }")
    move_camera(site.services, camera_id, sim.onvif_url.replace(f":{sim.onvif_port}/", ":9/"))
    assert [c.new for c in control.health.check_all()] == ["offline"]
    expect(health).to_have_text("offline")
    page.wait_for_timeout(2000)  # the read's answer, older than the event, has come back
    expect(health).to_have_text("offline")


@pytest.mark.timeout(180)
def test_a_health_change_before_the_live_script_ran_is_shown(
    camera_id: str, sim: SimulatedCamera, page: Page, site: Site
) -> None:
    """The live pages read the cameras' health again only on the socket's "connect"
    event, and the socket is opened by live.js, before live_view.js: when that script
    came later than the connection (a loaded server), an event sent before it listened
    was lost and the page showed the health it was rendered with until the next change."""
    control = get_control(site.services)
    assert [c.new for c in control.health.check_all()] in ([], ["online"])
    login(page, "dispatcher", lands="**/live")
    held: list[Route] = []
    page.route("**/static/live_view.js", lambda route: held.append(route))
    page.goto(f"/live/{camera_id}", wait_until="commit")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    health = page.locator('[data-role="health"]').first
    expect(health).to_have_text("online")  # as rendered
    move_camera(site.services, camera_id, sim.onvif_url.replace(f":{sim.onvif_port}/", ":9/"))
    assert [c.new for c in control.health.check_all()] == ["offline"]  # nobody listened
    assert len(held) == 1
    held[0].continue_()  # live_view.js runs now, the socket already connected
    expect(health).to_have_text("offline")


# In the page: deliver each ``ptz.session`` event 1.5 s late, in order (a loaded bus).
LATE_SESSIONS = """() => {
  const socket = window.vmsSocket;
  const real = socket.onevent;
  socket.onevent = function (packet) {
    if ((packet.data || [])[0] !== 'ptz.session') return real.call(this, packet);
    setTimeout(() => real.call(this, packet), 1500);
  };
}"""


def taken_released_taken(page: Page, camera_id: str, wrap: str) -> Locator:
    """The dispatcher's camera page: control taken, the socket wrapped with ``wrap``,
    released and taken again at once. Returns the "Pan right" button, shown."""
    login(page, "dispatcher", lands="**/live")
    page.goto(f"/live/{camera_id}")
    expect(page.locator("#ptz-pose")).to_contain_text("pan ", timeout=20_000)
    page.get_by_label("Purpose").select_option("investigation")
    take = page.get_by_role("button", name="Take control")
    take.click()
    right = page.get_by_role("button", name="Pan right")
    expect(right).to_be_visible()
    page.evaluate(wrap)
    with page.expect_response(lambda r: r.request.method == "DELETE"):
        page.get_by_role("button", name="Release control").click()
    take.click()
    expect(right).to_be_visible()
    return right


@pytest.mark.timeout(180)
def test_a_ptz_release_event_arriving_after_control_is_taken_again_does_not_end_it(
    camera_id: str, page: Page, site: Site
) -> None:
    """Released, then taken again at once: the event of the release (nobody in control)
    came after the new grant's answer, and the page gave up the control the server had
    just granted ("Your control of this camera has ended")."""
    right = taken_released_taken(page, camera_id, LATE_SESSIONS)
    page.wait_for_timeout(2500)  # the release's event, older than the grant, has come
    expect(page.locator("#ptz-notice")).to_be_hidden()
    expect(right).to_be_visible()


# In the page: hold every ``ptz.session`` event until ``window.deliverSessions()``, which
# delivers them in the order they came, 0.1 s apart; answer the next ``ptz.status`` (a
# reconnection's) and count it; the answers after it come 9 s late (a loaded server),
# past the page's own wait (8 s).
HOLD_SESSIONS = """() => {
  const socket = window.vmsSocket;
  const onevent = socket.onevent;
  const onack = socket.onack;
  window.heldSessions = [];
  window.statusAnswers = 0;
  socket.onevent = function (packet) {
    if ((packet.data || [])[0] !== 'ptz.session') return onevent.call(this, packet);
    window.heldSessions.push(() => onevent.call(this, packet));
  };
  window.deliverSessions = () => {  // one a task, as messages come off a socket
    socket.onevent = onevent;
    window.heldSessions.splice(0).forEach((deliver, n) => setTimeout(deliver, 100 * n));
  };
  socket.onack = function (packet) {
    if (window.statusAnswers++ === 0) return onack.call(this, packet);
    setTimeout(() => onack.call(this, packet), 9000);
  };
}"""


@pytest.mark.timeout(180)
def test_a_stale_ptz_release_event_after_a_newer_status_does_not_end_control(
    camera_id: str, page: Page, site: Site
) -> None:
    """Released and taken again; the release's event ("nobody in control") came after a
    status that already showed the new grant. The page could not order them, so it
    asked the status again and, that answer not coming in time (a loaded server), gave
    up the control the server had granted. Now each carries the camera's session
    sequence (ptz-arbitration.md P6) and the event, older than the status, is not
    applied."""
    right = taken_released_taken(page, camera_id, HOLD_SESSIONS)
    # The release's event, and the grant's two copies (the ptz room's, the holder's).
    page.wait_for_function("() => window.heldSessions.length === 3")
    page.evaluate("() => { window.vmsSocket.disconnect(); window.vmsSocket.connect(); }")
    page.wait_for_function("() => window.statusAnswers === 1")  # the status: granted
    page.evaluate("() => window.deliverSessions()")  # then the release's, stale, event
    page.wait_for_timeout(9500)  # past the page's 8 s wait for a status answer
    expect(page.locator("#ptz-notice")).to_be_hidden()
    expect(right).to_be_visible()


@pytest.mark.timeout(180)
def test_a_stale_ptz_session_event_after_a_newer_controller_read_is_not_shown(
    camera_id: str, page: Page, site: Site, actors: dict[str, Actor]
) -> None:
    """The live wall reads who controls each camera at a (re)connection and follows the
    ptz.session events; an answer was kept from being undone by an older read, but an
    event older than the answer was drawn over it: released and taken again, the
    release's "Nobody in control" delivered after the read that showed the new holder
    showed nobody until the next event. Now the events and the read carry the camera's
    session sequence (ptz-arbitration.md P6) and the older event is not drawn."""
    ptz = get_control(site.services).ptz
    login(page, "dispatcher", lands="**/live")
    slot = page.locator(f'[data-camera-id="{camera_id}"] [data-role="controller"]').first
    expect(slot).to_have_text("Nobody in control")
    page.evaluate(HOLD_SESSIONS)
    sergeant = actors["sergeant"]
    taken = ptz.open_session(sergeant, camera_id, OpenSession(purpose="investigation"))
    ptz.close_session(sergeant, camera_id, taken.session_id)
    ptz.open_session(sergeant, camera_id, OpenSession(purpose="investigation"))
    page.wait_for_function("() => window.heldSessions.length === 3")  # take, release, take
    with page.expect_response(lambda r: r.url.endswith("/ptz/session")):  # the read
        page.evaluate("() => { window.vmsSocket.disconnect(); window.vmsSocket.connect(); }")
    expect(slot).to_contain_text("Controlled by sergeant")
    page.evaluate(SHOWN, f'[data-camera-id="{camera_id}"] [data-role="controller"]')
    page.evaluate("() => window.deliverSessions()")  # the events, older than the read
    page.wait_for_timeout(1000)
    assert not [t for t in page.evaluate("() => window.shown") if "Nobody" in t]
    expect(slot).to_contain_text("Controlled by sergeant")


def test_a_ptz_report_asked_first_and_answered_last_is_not_drawn_PSCS_5(page: Page) -> None:
    """Two periods asked one after the other: the first one's report, answered last, was
    drawn under the form (and its CSV link) showing the second period."""
    login(page, "auditor")
    page.goto("/audit/ptz")
    expect(page.locator("#ptz-hours")).to_contain_text("Outside hours")  # the report came
    page.evaluate(WRAP, [None, ["/api/v1/audit/ptz/report", 1]])  # the next report: late
    for start, end in (("2026-11-01T00:00Z", "2026-11-02T06:00Z"), ("2026-11-03T00:00Z", "")):
        page.locator("#ptz-start").fill(start)
        page.locator("#ptz-end").fill(end)
        page.get_by_role("button", name="Show").click()
    period = page.locator("#ptz-period")
    expect(period).to_contain_text("Period: 2026-11-03 00:00:00 UTC to ")
    page.wait_for_timeout(2000)  # the first report's answer has come back
    expect(period).to_contain_text("Period: 2026-11-03 00:00:00 UTC to ")


@pytest.mark.timeout(180)
def test_a_lift_or_its_end_clicked_twice_while_in_flight_is_sent_once_PSCS_1(
    camera_id: str, page: Page, site: Site, actors: dict[str, Actor]
) -> None:
    """A double click on "Lift mask" or "End now" sent a second request before the first
    answer came back; the server refused it and the read that followed hid the refusal."""
    masks = site.services.ports.get(MaskService)
    masks.create(actors["admin"], camera_id, NewMask("door", polygon=SQUARE))
    login(page, "admin")
    page.goto(f"/live/{camera_id}")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.method) if "/mask-lifts" in r.url else None)
    page.evaluate(WRAP, [["POST", "/mask-lifts"], None])  # the lift held 0.5 s
    panel = page.locator("#mask-lifts")
    panel.get_by_label("Investigative reason").fill("Warrant SW-1")
    panel.get_by_role("button", name="Lift mask").dblclick()
    end = panel.get_by_role("button", name="End the lift of \u201cdoor\u201d now")
    expect(end).to_have_count(1)
    page.evaluate(WRAP, [["DELETE", "/mask-lifts/"], None])  # the end held 0.5 s more
    end.dblclick()
    expect(end).to_have_count(0)
    page.wait_for_timeout(1000)  # a second request, had one been sent, is answered by now
    assert [m for m in sent if m != "GET"] == ["POST", "DELETE"]
    expect(page.locator("#lift-notice")).to_be_hidden()


def exports_sent(page: Page) -> list[str]:
    """The page's requests to the exports API from now on: "POST", or "GET" for a poll."""
    sent: list[str] = []
    pattern = re.compile(r"/api/v1/exports(/[^/?]+)?$")
    page.on("request", lambda r: sent.append(r.method) if pattern.search(r.url) else None)
    return sent


def test_an_export_sent_twice_while_in_flight_is_sent_and_followed_once(
    web_assets: Path, services: Services, site: object, page: Page
) -> None:
    """A double click on "Export this range" sent it twice: the server answered both with
    the job it filed (a repeat), and the page then polled that job twice as often."""
    item = bwc_item(services)
    login(page, "investigator")
    open_review(page, item)
    sent = exports_sent(page)
    page.evaluate(WRAP, [["POST", "/api/v1/exports"], None])  # the export held 0.5 s
    exporting = page.get_by_role("form", name="Export this range")
    exporting.get_by_label("Purpose").fill("court copy")
    exporting.get_by_role("button", name="Export this range").dblclick()
    expect(page.locator("#review-export-state")).to_contain_text("queued")
    page.wait_for_timeout(1000)  # the first polls are answered; the next comes at 2 s
    assert sent == ["POST", "GET"]


# In the page: every text the export's state (`where`) shows, in order.
SHOWN = """(where) => {
  const span = document.querySelector(where);
  window.shown = [];
  new MutationObserver(() => window.shown.push(span.textContent))
    .observe(span, { childList: true, characterData: true, subtree: true });
}"""


def run_half(services: Services, export_id: str) -> None:
    """The jobs role claims the export and runs half of it (its ``export.progress``)."""
    with services.db.transaction() as s:
        s.get_one(Export, export_id).state = "running"
    job_rows.set_progress(
        services.db, services.events, "export.progress", Export, export_id,
        "investigator", "running", 0.5,
    )  # fmt: skip


def test_an_export_poll_answered_after_a_progress_event_does_not_step_it_back(
    web_assets: Path, services: Services, site: object, page: Page
) -> None:
    """The page polls the export and hears its ``export.progress`` events; the poll's
    answer, late, came after the event that said it ran at 50 % and drew it queued at 0 %
    again (until the next poll)."""
    item = bwc_item(services)
    login(page, "investigator")
    open_review(page, item)
    page.wait_for_function("() => document.body.dataset.live === 'connected'")
    page.evaluate(SHOWN, "#review-export-state span")
    page.evaluate(WRAP, [None, ["/api/v1/exports/[^/]+$", 1]])  # the first poll: late
    exporting = page.get_by_role("form", name="Export this range")
    exporting.get_by_label("Purpose").fill("court copy")
    with page.expect_response(re.compile(r"/api/v1/exports/[^/]+$")):  # the poll, served
        exporting.get_by_role("button", name="Export this range").click()
    export_id = page.locator("#review-export-state").get_attribute("data-export")
    assert export_id
    run_half(services, export_id)
    expect(page.locator("#review-export-state")).to_contain_text("running… 50 %")
    page.wait_for_timeout(1500)  # the poll's answer, older than the event, has come back
    shown = page.evaluate("() => window.shown")
    assert shown[shown.index("running… 50 %") :] == ["running… 50 %"], shown


def test_an_export_poll_on_the_case_page_answered_after_a_progress_event_does_not_step_it_back(
    web_assets: Path, services: Services, site: object, page: Page
) -> None:
    """The case page as the review page: a late poll drew a running export queued again."""
    item = bwc_item(services)
    login(page, "investigator")
    page.goto("/cases")
    csrf = {"X-CSRF-Token": page.locator('meta[name="csrf-token"]').get_attribute("content")}
    opened = page.request.post("/api/v1/cases", data={"case_number": "C-9"}, headers=csrf)
    assert opened.status == 201, opened.text()
    source = {"media_id": item, "start": iso(T0), "end": iso(T0 + dt.timedelta(seconds=2))}
    body = {"purpose": "court copy", "sources": [source], "case_number": "C-9"}
    made = page.request.post("/api/v1/exports", data=body, headers=csrf)
    assert made.status in (200, 201, 202), made.text()
    export_id = made.json()["id"]
    late = json.dumps([None, ["/api/v1/exports/[^/]+$", 1]])
    page.add_init_script(f"({WRAP})({late})")  # the page's first poll (at 1 s): late
    with page.expect_response(re.compile(r"/api/v1/exports/[^/]+$")):  # the poll, served
        page.goto("/cases/C-9")
    page.wait_for_function("() => document.body.dataset.live === 'connected'")
    cell = f'#case-exports [data-export="{export_id}"]'
    page.evaluate(SHOWN, f"{cell} span")
    run_half(services, export_id)
    expect(page.locator(cell)).to_contain_text("running 50 %")
    page.wait_for_timeout(1500)  # the poll's answer, older than the event, has come back
    shown = page.evaluate("() => window.shown")
    assert shown[shown.index("running 50 %") :] == ["running 50 %"], shown


# In the page: a layout saved is answered 1 s late (a loaded server).
SLOW_PUT = """() => {
  const real = window.fetch;
  window.fetch = async (url, init) => {
    const answer = await real(url, init);
    if (init && init.method === 'PUT') await new Promise((r) => setTimeout(r, 1000));
    return answer;
  };
}"""


def test_two_wall_layouts_clicked_while_one_is_saved_send_one(page: Page, site: Site) -> None:
    """Two layouts clicked one after the other before the first was saved sent two PUTs,
    which could cross on the way (two server threads): the wall then reloaded with one
    layout and kept the other."""
    login(page, "dispatcher", lands="**/live")
    wall = page.locator("#camera-wall")
    expect(wall).to_have_attribute("data-layout", "4")
    layouts = page.get_by_role("group", name="Wall layout")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.post_data or "") if r.method == "PUT" else None)
    page.evaluate(SLOW_PUT)
    layouts.get_by_role("button", name="9", exact=True).click()
    layouts.get_by_role("button", name="16", exact=True).click(force=True)  # at once, as a person
    page.wait_for_timeout(1500)  # answered, the wall reloads with the layout saved
    assert [json.loads(b)["layout"] for b in sent] == [9]
    expect(wall).to_have_attribute("data-layout", "9")
    page.reload()
    expect(wall).to_have_attribute("data-layout", "9")
