"""The records unit's forms in headless Chromium (RET-3, RET-10, REL-1): a refused form
comes back with the server's reason next to it and with everything the user entered, so
nothing has to be typed or chosen again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import login

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
