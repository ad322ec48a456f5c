"""The records unit's forms in headless Chromium (RET-3, RET-10, REL-1): a refused form
comes back with the server's reason next to it and with everything the user entered, so
nothing has to be typed or chosen again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, login, switch_user
from tests.web.forms import send_refused
from tests.web.test_release_pages import pdf_item

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_a_refused_preservation_request_keeps_every_answer_RET_3(page: Page) -> None:
    login(page, "commander")
    page.goto("/retention/preservation")
    form = page.get_by_role("form", name="Log a request")
    form.get_by_label("Received via").select_option("oral")
    form.get_by_label("Litigation anticipated (RET-9)").check()
    answers = {
        "Request number": "PR-77",
        "Requester name": "Ada Counsel",
        "Received at": "yesterday noon",
        "Reason": "claim expected",
    }
    form = send_refused(page, "Log a request", answers, "Log request", "yesterday noon", status=400)
    expect(form.get_by_label("Received via")).to_have_value("oral")
    expect(form.get_by_label("Litigation anticipated (RET-9)")).to_be_checked()


def test_release_forms_show_the_refusal_beside_them_and_keep_the_answers_REL_1(
    page: Page, site: Site
) -> None:
    """REL-1, ACC-5: the release log's form and a request's share form, refused, come back
    with the reason inside the form and with what was entered (the share form used to
    lose the expiry and reset the downloads to 3, with the reason at the page's top)."""
    media_id = pdf_item(site.services, "share")
    login(page, "commander")
    page.goto("/releases")
    page.get_by_role("form", name="Log a request").get_by_label("Kind").select_option("foia")
    answers = {
        "Request number": "FOIA-90",
        "Requester name": "A. Reporter",
        "Received at": "last tuesday",
        "Legal basis": "public records act",
        "Items": media_id,
    }
    form = send_refused(page, "Log a request", answers, "Log request", "last tuesday")
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
    send_refused(
        page,
        "Share with the requester",
        {"Expires at (UTC)": "2026-11-01T00:00Z", "Downloads allowed": "5"},  # before now
        "Create link",
        "expires_at must be in the future",
    )


def test_legal_hold_forms_show_the_refusal_beside_them_and_keep_the_answers_RET_10(
    page: Page, site: Site
) -> None:
    """RET-10: placing or releasing a legal hold, refused, comes back with the reason in
    the form that was sent, and the release notice typed in a hold's row is kept."""
    media_id = pdf_item(site.services, "hold")
    login(page, "commander")
    page.goto("/retention/legal-holds")
    answers = {"Reference": "LH-1", "Reason": "civil claim", "Media ids": "no-such-item"}
    form = send_refused(page, "Place a hold", answers, "Place hold", "no-such-item")
    form.get_by_label("Media ids").fill(media_id)
    form.get_by_role("button", name="Place hold").click()
    expect(page.locator("#holds")).to_contain_text("LH-1")

    notice = "N" * 201  # longer than a release notice reference may be
    send_refused(page, "Release hold LH-1", {"Notice": notice}, "Release", "notice")
    expect(page.get_by_role("form", name="Place a hold").get_by_role("alert")).to_have_count(0)
