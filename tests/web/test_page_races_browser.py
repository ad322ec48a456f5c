"""Requests of a page in flight together, in headless Chromium (the class of stop 38's CI
failure on the redaction page): a form sent twice before its first answer came back, and
answers drawn in the order they arrived rather than the order they were asked in. Each
test makes the race certain by wrapping ``window.fetch`` in the page (a write held, a
read's answer delayed): no timing luck. A 2 s item keeps them fast."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.web.conftest import login
from tests.web.test_case_pages import T0, bwc_item
from vms.db.models import Bookmark
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


# In the page: hold each request matching `hold` (method and URL part) 0.5 s before it
# is sent, and answer the next `late` GET matching its URL part 1.5 s late.
WRAP = """([hold, late]) => {
  const real = window.fetch;
  let delayed = 0;
  window.fetch = async (url, init) => {
    const method = (init && init.method) || 'GET';
    const held = hold && method === hold[0] && String(url).includes(hold[1]);
    if (held) await new Promise((r) => setTimeout(r, 500));
    const answer = await real(url, init);
    if (late && method === 'GET' && String(url).includes(late[0]) && delayed < late[1]) {
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
    page.evaluate(WRAP, [None, ["/api/v1/bookmarks?", 1]])  # the next read answers late
    page.evaluate("() => { window.vmsReview.loadBookmarks(window.vmsReview.players[0].source); }")
    mark = page.get_by_role("form", name="Bookmark this instant")
    mark.get_by_label("Label", exact=True).fill("door opens")
    mark.get_by_role("button", name="Bookmark this instant").click()
    expect(page.get_by_label("Bookmark: door opens")).to_be_attached()
    page.wait_for_timeout(2000)  # the older read's answer has come back
    expect(page.get_by_label("Bookmark: door opens")).to_be_attached()
