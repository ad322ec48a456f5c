"""Case pages in headless Chromium (issue 15.3): an investigator opens a case, bookmarks
an instant of a body-camera video from its page and adds the video to the case; the
case page then lists both. An officer gets none of it: no navigation, a refusal page,
no forms, and the API refuses (audited)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.media import make_video
from tests.web.conftest import Site, login
from tests.web.forms import send_refused
from vms.audit.log import Who
from vms.catalog_values import RestrictionChange
from vms.db.models import AuditEntry, SourceKind, User
from vms.ingest import IngestRequest
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

Shoot = Callable[[Page, str], None]
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def bwc_item(services: Services) -> str:
    """A 2-second body-camera video of officer B1, recorded at T0."""
    return services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2, seed=11)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-0042",
            officer_badge="B1",
            recorded_at=T0,
            title="Stop on 5th",
        ),
        Who("setup", "admin"),
    ).media_id


def test_investigator_bookmarks_an_instant_and_files_a_bwc_item_in_a_case(
    page: Page, site: Site, shoot: Shoot
) -> None:
    media_id = bwc_item(site.services)
    login(page, "investigator")
    page.get_by_role("link", name="Cases").click()
    opening = page.get_by_role("form", name="Open a case")
    opening.get_by_label("Case number").fill("C-55")
    opening.get_by_role("button", name="Open case").click()
    page.wait_for_url("**/cases/C-55?opened=1")
    expect(page.get_by_role("heading", name="Case C-55")).to_be_visible()
    expect(page.locator("#case-items")).to_contain_text("No items yet")

    # Bookmark the player's position (the start: the video is not playing) in the case.
    # Not the investigator's own recording: the purpose first (ACC-4), then the player.
    page.goto(f"/media/{media_id}")
    mark = page.get_by_role("form", name="Bookmark a moment")
    expect(mark.get_by_role("button", name="Use the player's position")).to_have_count(0)
    purpose = page.get_by_role("form", name="State the purpose of this review")
    purpose.get_by_label("Purpose of this review").select_option("investigation")
    purpose.get_by_role("button", name="Open the recording").click()
    page.wait_for_url("**purpose=investigation")
    mark.get_by_label("At (UTC)").fill("")
    mark.get_by_role("button", name="Use the player's position").click()
    expect(mark.get_by_label("At (UTC)")).to_have_value("2026-11-20T09:00:00Z")
    mark.get_by_label("Label").fill("door opens")
    mark.get_by_label("Note").fill("suspect steps out")
    mark.get_by_label("Case number (optional)").fill("C-55")
    mark.get_by_role("button", name="Save bookmark").click()
    page.wait_for_url(f"**/media/{media_id}?bookmarked=1")
    expect(page.get_by_role("status").filter(has_text="Bookmark saved")).to_be_visible()

    # File the video in the case, with a note.
    filing = page.get_by_role("form", name="Add to a case")
    filing.get_by_label("Case number").fill("C-55")
    filing.get_by_label("Why it belongs there").fill("officer's view of the stop")
    filing.get_by_role("button", name="Add to case").click()
    page.wait_for_url("**/cases/C-55?done=item")
    items = page.locator("#case-items")
    expect(items).to_contain_text("Stop on 5th")
    expect(items).to_contain_text("officer (B1)")  # the officer, by name and badge
    expect(items).to_contain_text("added by investigator")
    expect(items).to_contain_text("officer's view of the stop")
    expect(items).to_contain_text("kept while held")  # RET-5
    marks = page.locator("#case-bookmarks")
    expect(marks).to_contain_text("2026-11-20 09:00:00")
    expect(marks).to_contain_text("door opens")
    expect(marks).to_contain_text("investigator")
    expect(page.locator("#case-exports")).to_contain_text("No exports")
    shoot(page, "case")

    # The case list counts them.
    page.get_by_role("link", name="← Cases").click()
    row = page.locator("#case-table tbody tr").filter(has_text="C-55")
    expect(row).to_contain_text("open")
    expect(row.locator("td.num").nth(0)).to_have_text("1")
    expect(row.locator("td.num").nth(1)).to_have_text("1")

    # Both pages fit a phone: wide tables scroll in their own box, never the page.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/cases", "/cases/C-55", f"/media/{media_id}"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} is {overflow}px wider than the screen"


def test_a_bad_bookmark_gets_a_page_naming_the_value(page: Page, site: Site) -> None:
    media_id = bwc_item(site.services)
    login(page, "investigator")
    page.goto(f"/media/{media_id}")
    mark = page.get_by_role("form", name="Bookmark a moment")
    mark.get_by_label("At (UTC)").fill("2026-11-20T09:00:01Z")
    mark.get_by_label("Until (UTC, optional)").fill("2026-11-20T09:00:00Z")
    mark.get_by_label("Label").fill("backwards")
    with page.expect_response(lambda r: r.url.endswith("/bookmarks")) as answer:
        mark.get_by_role("button", name="Save bookmark").click()
    assert answer.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("2026-11-20T09:00:00Z")
    expect(page.get_by_role("alert")).to_contain_text("before start")


def test_an_officer_cannot_reach_cases_or_bookmark(page: Page, site: Site, shoot: Shoot) -> None:
    media_id = bwc_item(site.services)  # the officer's own recording
    login(page, "officer")
    expect(page.get_by_role("link", name="Cases")).to_have_count(0)
    response = page.goto("/cases")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not permitted")).to_be_visible()
    shoot(page, "denied")

    page.goto(f"/media/{media_id}")
    expect(page.locator("video")).to_have_count(1)  # the officer may watch it (ACC-2)...
    expect(page.get_by_role("heading", name="Case and bookmarks")).to_have_count(0)
    # ...but a hand-made request with the session is refused and audited.
    status = page.evaluate(
        """async (mediaId) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch("/api/v1/bookmarks", {
                method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                body: JSON.stringify({media_id: mediaId, start: "2026-11-20T09:00:01Z",
                                      label: "mine"}),
            });
            return r.status;
        }""",
        media_id,
    )
    assert status == 403
    with site.services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(AuditEntry.actor == "officer", AuditEntry.outcome == "denied")
        ).scalars()
        refusals = {(e.action, e.target) for e in denied}
    assert refusals >= {("cases.read", "cases"), ("cases.manage", f"media:{media_id}")}


def test_no_case_or_bookmark_form_on_a_restricted_item_they_may_not_file_ACC_7(
    page: Page, site: Site
) -> None:
    """Filing an item in a case or bookmarking it needs ``media.edit`` on the item, which
    investigators and records staff lack on a restricted one (ACC-7): the media page,
    which they may still open (metadata), shows no form that can only end in a 403."""
    media_id = bwc_item(site.services)
    with site.services.db.session() as s:
        admin = site.services.users.actor_for(
            s, s.execute(select(User).where(User.username == "admin")).scalar_one()
        )
    site.services.catalog.set_restricted(admin, media_id, RestrictionChange(True, "IA file"))
    for user in ("investigator", "commander"):
        page.goto("about:blank")
        page.context.clear_cookies()
        login(page, user)
        page.goto(f"/media/{media_id}")
        expect(page.get_by_role("heading", name="Stop on 5th")).to_be_visible()
        expect(page.get_by_role("form", name="Add to a case")).to_have_count(0)
        expect(page.get_by_role("form", name="Bookmark a moment")).to_have_count(0)
    # The admin, who may, still has both.
    page.goto("about:blank")
    page.context.clear_cookies()
    login(page, "admin")
    page.goto(f"/media/{media_id}")
    expect(page.get_by_role("form", name="Add to a case")).to_have_count(1)
    expect(page.get_by_role("form", name="Bookmark a moment")).to_have_count(1)


def test_refused_case_forms_show_the_reason_beside_them_and_keep_the_answers(
    page: Page, site: Site
) -> None:
    """Opening a case, adding an item and bookmarking on the case pages: a refusal comes
    back as the page with the reason inside the form that was sent and what was typed,
    not as an error page that loses it all."""
    login(page, "investigator")
    page.goto("/cases")
    opening = page.get_by_role("form", name="Open a case")
    opening.get_by_label("Case number").fill("C-61")
    opening.get_by_role("button", name="Open case").click()
    page.wait_for_url("**/cases/C-61?opened=1")
    page.goto("/cases")
    again = {"Case number": "C-61"}  # again: it exists
    send_refused(page, "Open a case", again, "Open case", "C-61")
    expect(page.locator("#case-table")).to_contain_text("C-61")  # the list is still there

    page.goto("/cases/C-61")
    answers = {"Media id": "no-such-item", "Note": "seen on the wall"}
    send_refused(page, "Add an item", answers, "Add item", "no-such-item")

    answers = {
        "Camera id": "no-such-camera",
        "At (UTC)": "2026-11-20T09:00:01Z",
        "Until (UTC, optional)": "2026-11-20T09:00:00Z",
        "Label": "backwards",
    }
    send_refused(page, "Add a bookmark", answers, "Save bookmark", "before start")
    expect(page.get_by_role("form", name="Add an item").get_by_role("alert")).to_have_count(0)


def test_refused_media_page_case_forms_keep_the_answers_beside_the_reason(
    page: Page, site: Site
) -> None:
    """The media page's "Add to a case" and "Bookmark a moment" forms, refused, come back
    as the media page with the reason inside the form and what was typed (they replaced
    the page with the error page)."""
    media_id = bwc_item(site.services)
    login(page, "investigator")
    page.goto(f"/media/{media_id}")
    answers = {"Case number": "NO-CASE-1", "Why it belongs there": "seen at the scene"}
    send_refused(page, "Add to a case", answers, "Add to case", "NO-CASE-1")

    answers = {
        "At (UTC)": "2026-11-20T09:00:01Z",
        "Until (UTC, optional)": "2026-11-20T09:00:00Z",
        "Label": "backwards",
    }
    send_refused(page, "Bookmark a moment", answers, "Save bookmark", "before start")
    expect(page.get_by_role("form", name="Add to a case").get_by_role("alert")).to_have_count(0)


def test_a_refused_review_approval_keeps_the_answers_beside_the_reason_ACC_2(
    page: Page, site: Site
) -> None:
    """ACC-2: the supervisor's written approval on the media page, refused (an expiry
    that is not a time), comes back with the reason in the form and what was typed."""
    media_id = bwc_item(site.services)  # officer B1's, whom the sergeant supervises
    login(page, "sergeant")
    page.goto(f"/media/{media_id}")
    flag = page.get_by_role("form", name="Flag as a critical incident")
    flag.get_by_label("Reason").fill("serious injury at the stop")
    flag.get_by_role("button", name="Flag as a critical incident").click()
    page.wait_for_url("**critical=1")
    answers = {
        "Document reference": "MEMO-12",
        "Expires (UTC, optional)": "next friday",
        "Reason": "report writing",
    }
    approval = "Record the officer's review approval"
    send_refused(page, approval, answers, "Record the approval", "next friday")
