"""A form sent and refused in headless Chromium: it must come back with the server's
reason inside it and with everything that was typed (tests/web/test_case_pages.py,
test_record_forms.py)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from playwright.sync_api import Locator, Page, expect


def send_refused(
    page: Page,
    form: str,
    answers: Mapping[str, str],
    button: str,
    reason: str,
    *,
    status: int | None = None,
) -> Locator:
    """Fill the form named ``form`` (``answers``: label -> text; choices and boxes are
    the caller's, before), send it with ``button`` and check it came back refused:
    ``reason`` in the alert inside it and every answer still typed in. ``status``: the
    answer's HTTP status too, when given. Returns the form as it came back."""
    sent = page.get_by_role("form", name=form)
    for label, text in answers.items():
        sent.get_by_label(label).fill(text)
    if status is None:
        sent.get_by_role("button", name=button).click()
    else:
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            sent.get_by_role("button", name=button).click()
        assert answer.value.status == status
    back = page.get_by_role("form", name=form)
    expect(back.get_by_role("alert")).to_contain_text(reason)
    for label, text in answers.items():
        expect(back.get_by_label(label)).to_have_value(text)
    return back


def hidden_fields(page_html: bytes, form_id: str) -> dict[str, str]:
    """The hidden fields (name -> value) of the form ``id=form_id`` in ``page_html``, as a
    browser sends them with it: the CSRF token and any key the page issued with the form
    (a Flask test client's post of the form the page served)."""
    start = rb'<form[^>]*\bid="' + re.escape(form_id.encode()) + rb'"'
    found = re.search(start + rb".*?</form>", page_html, re.S)
    assert found, f"no form {form_id!r} in the page"
    fields: dict[str, str] = {}
    for tag in re.findall(rb"<input[^>]*>", found.group(0)):
        if b'type="hidden"' not in tag:
            continue
        name = re.search(rb'name="([^"]*)"', tag)
        value = re.search(rb'value="([^"]*)"', tag)
        if name:
            fields[html.unescape(name.group(1).decode())] = html.unescape(
                value.group(1).decode() if value else ""
            )
    return fields


def sent_twice(client: Any, path: str, form: Mapping[str, str]) -> str:
    """Post ``form`` to ``path`` twice through the Flask client ``client``, as a
    double-click or a browser's retry does (the same one-time key): both answers must be
    the first's redirect (ACC-6). Returns where they lead."""
    first = client.post(path, data=form)
    assert first.status_code == 302, first.data
    again = client.post(path, data=form)
    assert again.status_code == 302, again.data
    assert again.headers["Location"] == first.headers["Location"]
    return str(first.headers["Location"])
