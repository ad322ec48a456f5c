"""The case pages' forms through the Flask client (issue 15.3): each carries a one-time
key (web/form_keys.py), so the same form sent twice (a double-click, a browser's retry)
is answered with the first answer, made and audited once (ACC-6), while another attempt
from a page drawn again is still refused (409)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import sign_in
from tests.web.forms import hidden_fields, sent_twice
from tests.web.test_release_pages import pdf_item
from vms.db.models import AuditEntry, Case, CaseItem, CustodyEvent
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def audited(services: Services, action: str) -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count()).where(AuditEntry.action == action, AuditEntry.outcome == "ok")
            ).scalar_one()
        )


def test_the_open_case_form_sent_twice_opens_the_case_once_RET_5_ACC_6(
    app: Flask, services: Services
) -> None:
    """RET-5, ACC-6: the "Open case" form sent twice opened the case with the first post
    and answered the second with a 409 "already exists" page, as if the case had not been
    opened by this very form. Now the second post goes where the first went."""
    client: Any = app.test_client()
    sign_in(client, "investigator")
    form = {**hidden_fields(client.get("/cases").data, "open-case"), "case_number": "D-1"}
    assert sent_twice(client, "/cases", form) == "/cases/D-1?opened=1"
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(Case)).scalar_one() == 1
    assert audited(services, "case.create") == 1
    # Asked again from the page drawn anew: a real second attempt, refused as before.
    form |= hidden_fields(client.get("/cases").data, "open-case")
    refused = client.post("/cases", data=form)
    assert refused.status_code == 409 and b"already exists" in refused.data
    # A key issued for another form is not taken for this one.
    forged = client.post("/cases", data={**form, "form_key": "x.y"})
    assert forged.status_code == 400 and b"was not issued with this page" in forged.data


def test_the_add_item_forms_sent_twice_add_the_item_once_RET_5_ACC_6(
    app: Flask, services: Services
) -> None:
    """RET-5, ACC-6: the case page's "Add an item" form and the media page's "Add to a
    case" form, sent twice, added the item with the first post and answered the second
    with a 409 "already in case" page. Now the second post goes where the first went;
    the item is added, given its custody event and audited once."""
    kept, filed = pdf_item(services, "kept"), pdf_item(services, "filed")
    client: Any = app.test_client()
    sign_in(client, "investigator")
    opening = {**hidden_fields(client.get("/cases").data, "open-case"), "case_number": "D-2"}
    assert client.post("/cases", data=opening).status_code == 302
    sent = (
        (
            "/cases/D-2/items",
            {**hidden_fields(client.get("/cases/D-2").data, "add-item"), "media_id": kept},
        ),
        (
            f"/media/{filed}/case",
            {
                **hidden_fields(client.get(f"/media/{filed}").data, "file-to-case"),
                "case_number": "D-2",
                "note": "the receipt",
            },
        ),
    )
    for path, form in sent:
        assert sent_twice(client, path, form) == "/cases/D-2?done=item"
    with services.db.session() as s:
        links = s.execute(select(CaseItem.media_id)).scalars().all()
        custody = select(CustodyEvent).where(CustodyEvent.action == "added_to_case")
        assert len(s.execute(custody).scalars().all()) == 2
    assert sorted(links) == sorted([kept, filed])
    assert audited(services, "case.item_add") == 2
    # Asked again from the page drawn anew: a real second attempt, refused as before.
    form = {**hidden_fields(client.get("/cases/D-2").data, "add-item"), "media_id": kept}
    refused = client.post("/cases/D-2/items", data=form)
    assert refused.status_code == 409 and b"already in case" in refused.data


def test_the_close_case_form_sent_twice_closes_the_case_once_RET_5_ACC_6(
    app: Flask, services: Services
) -> None:
    """RET-5, ACC-6: "Close case" sent twice (a double-click) closed the case again with
    the second post, moving its close time and auditing a second close. Now the second
    post goes where the first went, closed and audited once; closing it again from the
    page drawn anew is a 409 naming since when and by whom."""
    client: Any = app.test_client()
    sign_in(client, "commander")
    opening = {**hidden_fields(client.get("/cases").data, "open-case"), "case_number": "D-3"}
    assert client.post("/cases", data=opening).status_code == 302
    page, other_tab = client.get("/cases/D-3").data, client.get("/cases/D-3").data
    assert b"Close case" in page
    form = hidden_fields(page, "case-state-form")
    assert form["state"] == "closed"
    assert sent_twice(client, "/cases/D-3/state", form) == "/cases/D-3?done=closed"
    with services.db.session() as s:
        closed_at = s.get_one(Case, "D-3").closed_at
    assert closed_at is not None and audited(services, "case.close") == 1
    # Another close, from a page drawn before the first (its own key): refused.
    refused = client.post("/cases/D-3/state", data=hidden_fields(other_tab, "case-state-form"))
    assert refused.status_code == 409 and b"is already closed (since" in refused.data
    assert b"by commander" in refused.data
    # The page drawn anew offers "Reopen case"; sent twice, it reopens the case once.
    again = hidden_fields(client.get("/cases/D-3").data, "case-state-form")
    assert again["state"] == "open"
    assert sent_twice(client, "/cases/D-3/state", again) == "/cases/D-3?done=open"
    with services.db.session() as s:
        case = s.get_one(Case, "D-3")
        assert (case.state, case.closed_at) == ("open", None)
    assert audited(services, "case.open") == 1 and audited(services, "case.close") == 1


def test_the_state_form_for_a_number_that_is_no_case_is_a_404_RET_5(
    app: Flask, services: Services
) -> None:
    """RET-5: ``POST /cases/<number>/state`` (a form without its one-time key, as from a
    page drawn before the keys) for a number that is no case made one, straight into
    "closed", a close audited of a case nobody opened. Now the case page's 404, nothing
    made or audited."""
    from web.form_keys import FIELD

    client: Any = app.test_client()
    sign_in(client, "commander")
    opening = {**hidden_fields(client.get("/cases").data, "open-case"), "case_number": "D-4"}
    assert client.post("/cases", data=opening).status_code == 302
    form = hidden_fields(client.get("/cases/D-4").data, "case-state-form")
    sent = {k: v for k, v in form.items() if k != FIELD}
    r = client.post("/cases/NO-SUCH-2/state", data=sent)
    assert r.status_code == 404, r.data[:300]
    with services.db.session() as s:
        assert s.get(Case, "NO-SUCH-2") is None
    assert audited(services, "case.close") == 0
