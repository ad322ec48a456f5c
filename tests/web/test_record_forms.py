"""The records unit's forms in headless Chromium (RET-3, RET-10, REL-1): a refused form
comes back with the server's reason next to it and with everything the user entered, so
nothing has to be typed or chosen again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, login, switch_user
from tests.web.test_release_pages import pdf_item

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_a_refused_preservation_request_keeps_every_answer_RET_3(page: Page) -> None:
    login(page, "commander")
    page.goto("/retention/preservation")
    form = page.get_by_role("form", name="Log a request")
    form.get_by_label("Request number").fill("PR-77")
    form.get_by_label("Requester name").fill("Ada Counsel")
    form.get_by_label("Received at").fill("yesterday noon")
    form.get_by_label("Received via").select_option("oral")
    form.get_by_label("Reason").fill("claim expected")
    form.get_by_label("Litigation anticipated (RET-9)").check()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button", name="Log request").click()
    assert answer.value.status == 400
    form = page.get_by_role("form", name="Log a request")
    expect(form.get_by_role("alert")).to_contain_text("yesterday noon")
    expect(form.get_by_label("Request number")).to_have_value("PR-77")
    expect(form.get_by_label("Received at")).to_have_value("yesterday noon")
    expect(form.get_by_label("Received via")).to_have_value("oral")
    expect(form.get_by_label("Litigation anticipated (RET-9)")).to_be_checked()
    expect(form.get_by_label("Reason")).to_have_value("claim expected")


def test_release_forms_show_the_refusal_beside_them_and_keep_the_answers_REL_1(
    page: Page, site: Site
) -> None:
    """REL-1, ACC-5: the release log's form and a request's share form, refused, come back
    with the reason inside the form and with what was entered (the share form used to
    lose the expiry and reset the downloads to 3, with the reason at the page's top)."""
    media_id = pdf_item(site.services, "share")
    login(page, "commander")
    page.goto("/releases")
    form = page.get_by_role("form", name="Log a request")
    form.get_by_label("Kind").select_option("foia")
    form.get_by_label("Request number").fill("FOIA-90")
    form.get_by_label("Requester name").fill("A. Reporter")
    form.get_by_label("Received at").fill("last tuesday")
    form.get_by_label("Legal basis").fill("public records act")
    form.get_by_label("Items").fill(media_id)
    form.get_by_role("button", name="Log request").click()
    form = page.get_by_role("form", name="Log a request")
    expect(form.get_by_role("alert")).to_contain_text("last tuesday")
    expect(form.get_by_label("Request number")).to_have_value("FOIA-90")
    form.get_by_label("Received at").fill("2026-11-19T09:00Z")
    form.get_by_role("button", name="Log request").click()
    page.wait_for_url(re.compile(r"/releases/[\w-]+$"))
    release = page.url

    switch_user(page, "approver", lands="**/releases")
    page.goto(release)
    decide = page.get_by_role("form", name="Decision")
    decide.get_by_label("Reason").fill("public interest")
    decide.get_by_role("button", name="Approve").click()
    expect(page.locator("#release-state")).to_have_text("approved")

    switch_user(page, "commander")
    page.goto(release)
    share = page.get_by_role("form", name="Share with the requester")
    share.get_by_label("Expires at (UTC)").fill("2026-11-01T00:00Z")  # before now
    share.get_by_label("Downloads allowed").fill("5")
    share.get_by_role("button", name="Create link").click()
    share = page.get_by_role("form", name="Share with the requester")
    expect(share.get_by_role("alert")).to_contain_text("expires_at must be in the future")
    expect(share.get_by_label("Expires at (UTC)")).to_have_value("2026-11-01T00:00Z")
    expect(share.get_by_label("Downloads allowed")).to_have_value("5")


def test_legal_hold_forms_show_the_refusal_beside_them_and_keep_the_answers_RET_10(
    page: Page, site: Site
) -> None:
    """RET-10: placing or releasing a legal hold, refused, comes back with the reason in
    the form that was sent, and the release notice typed in a hold's row is kept."""
    media_id = pdf_item(site.services, "hold")
    login(page, "commander")
    page.goto("/retention/legal-holds")
    form = page.get_by_role("form", name="Place a hold")
    form.get_by_label("Reference").fill("LH-1")
    form.get_by_label("Reason").fill("civil claim")
    form.get_by_label("Media ids").fill("no-such-item")
    form.get_by_role("button", name="Place hold").click()
    form = page.get_by_role("form", name="Place a hold")
    expect(form.get_by_role("alert")).to_contain_text("no-such-item")
    expect(form.get_by_label("Reference")).to_have_value("LH-1")
    form.get_by_label("Media ids").fill(media_id)
    form.get_by_role("button", name="Place hold").click()
    expect(page.locator("#holds")).to_contain_text("LH-1")

    notice = "N" * 201  # longer than a release notice reference may be
    release = page.get_by_role("form", name="Release hold LH-1")
    release.get_by_label("Notice").fill(notice)
    release.get_by_role("button", name="Release").click()
    release = page.get_by_role("form", name="Release hold LH-1")
    expect(release.get_by_role("alert")).to_contain_text("notice")
    expect(release.get_by_label("Notice")).to_have_value(notice)
    expect(page.get_by_role("form", name="Place a hold").get_by_role("alert")).to_have_count(0)
