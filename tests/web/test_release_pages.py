"""Release, legal-hold and records pages (issue 16.5-16.7) through the Flask client: a
records commander logs a FOIA request with the form, a release approver approves it with
the CSRF-protected form, the commander records the release and creates a share link, and
a client with no account downloads the file. Legal holds are placed and released from
their page; the dashboard lists what is open."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import sign_in
from tests.media import make_pdf
from tests.web.forms import hidden_fields, sent_twice
from vms.audit.log import Who
from vms.db.models import AuditEntry, LegalHold, ReleaseRequest, ShareLink, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def pdf_item(services: Services, tag: str) -> str:
    data = make_pdf().replace(b"%PDF-1.4\n", b"%PDF-1.4\n%" + tag.encode() + b"\n", 1)
    return services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(source=SourceKind.HANDHELD, device_id="REC-1", original_filename="a.pdf"),
        Who("setup", "admin"),
    ).media_id


def log_request(client: Any, csrf: str, services: Services, number: str) -> str:
    """A FOIA request ``number`` for a new PDF item, logged with the release log's form;
    returns the request's page path."""
    r = client.post(
        "/releases",
        data={
            "csrf_token": csrf,
            "kind": "foia",
            "request_number": number,
            "requester_name": "A. Reporter",
            "received_at": "2026-11-19T09:00Z",
            "legal_basis": "public records act",
            "items": pdf_item(services, number),
        },
    )
    assert r.status_code == 302, r.data
    return str(r.headers["Location"])


def test_foia_request_logged_approved_released_and_shared_from_the_pages_REL_1_ACC_5(
    app: Flask, services: Services
) -> None:
    commander = app.test_client()
    csrf = sign_in(commander, "commander")
    release_path = log_request(commander, csrf, services, "FOIA-88")
    page = commander.get("/releases")
    assert b"FOIA-88" in page.data and b"2026-12-09" in page.data  # the FOIA due date
    assert b"Approve" not in commander.get(release_path).data  # commanders do not decide

    approver = app.test_client()
    csrf_a = sign_in(approver, "approver")
    assert b"Approve" in approver.get(release_path).data
    refused = approver.post(release_path, data={"op": "approve", "reason": "ok"})
    assert refused.status_code in (400, 403)  # no CSRF token
    r = approver.post(release_path, data={"csrf_token": csrf_a, "op": "approve", "reason": "ok"})
    assert r.status_code == 302
    with services.db.session() as s:
        row = s.execute(select(ReleaseRequest)).scalar_one()
        assert (row.state, row.decided_by) == ("approved", "approver")

    r = commander.post(release_path, data={"csrf_token": csrf, "op": "release"})
    assert r.status_code == 302
    share = {"csrf_token": csrf, "op": "share", "expires_at": "2026-11-25T12:00Z"}
    r = commander.post(release_path, data={**share, "max_downloads": "2"})
    assert r.status_code == 400  # not the page's form: no one-time key (REL-1)
    assert b"form_key is missing: reload the page" in r.data
    share |= hidden_fields(commander.get(release_path).data, "share")
    r = commander.post(release_path, data={**share, "max_downloads": "2", "form_key": "x.y"})
    assert r.status_code == 400 and b"was not issued with this page" in r.data
    r = commander.post(release_path, data={**share, "max_downloads": "2"})
    assert r.status_code == 200
    match = re.search(rb'id="share-url" href="[^"]*(/s/[A-Za-z0-9_-]+)"', r.data)
    assert match, r.data
    outsider = app.test_client()
    landing = outsider.get(match.group(1).decode())
    assert landing.status_code == 200 and b"a.pdf" in landing.data
    got = outsider.get(match.group(1).decode() + "/package/1")
    assert got.status_code == 200 and got.data.startswith(b"%PDF")
    got.close()


def test_legal_holds_page_places_and_releases_a_hold_RET_10(app: Flask, services: Services) -> None:
    media_id = pdf_item(services, "hold")
    client = app.test_client()
    csrf = sign_in(client, "commander")
    r = client.post(
        "/retention/legal-holds",
        data={
            "csrf_token": csrf,
            "op": "create",
            "reference": "LH-5",
            "reason": "litigation",
            "media_ids": media_id,
        },
    )
    assert r.status_code == 302
    assert b"LH-5" in client.get("/retention/legal-holds").data
    assert b"LH-5" in client.get("/records").data
    with services.db.session() as s:
        hold_id = s.execute(select(LegalHold.id)).scalar_one()
    r = client.post(
        "/retention/legal-holds",
        data={"csrf_token": csrf, "op": "release", "hold_id": hold_id, "notice": ""},
    )
    assert r.status_code == 400 and b"notice" in r.data  # RET-10: the notice is required
    r = client.post(
        "/retention/legal-holds",
        data={"csrf_token": csrf, "op": "release", "hold_id": hold_id, "notice": "N-1"},
    )
    assert r.status_code == 302
    with services.db.session() as s:
        assert s.get_one(LegalHold, hold_id).state == "released"
        assert s.execute(
            select(AuditEntry).where(AuditEntry.action == "legal_hold.release")
        ).scalar_one()


def test_an_officer_gets_the_refusal_page_not_the_forms(app: Flask) -> None:
    client = app.test_client()
    sign_in(client, "officer")
    for path in ("/releases", "/retention/legal-holds", "/records"):
        r = client.get(path)
        assert r.status_code == 403, path


def test_the_release_log_page_is_paged_and_reaches_the_oldest_request_REL_1(
    app: Flask, services: Services
) -> None:
    """REL-1: every release request is reachable from the release log. Before, the page
    showed the first 200 and nothing said more existed."""
    media_id = pdf_item(services, "many")
    commander = app.test_client()
    csrf = sign_in(commander, "commander")
    for n in range(201):
        form = {
            "csrf_token": csrf,
            "kind": "media",
            "request_number": f"R-{n:03d}",
            "requester_name": "A. Reporter",
            "received_at": "2026-11-19T09:00Z",
            "legal_basis": "press",
            "items": media_id,
        }
        assert commander.post("/releases", data=form).status_code == 302
    seen: set[str] = set()
    url: str | None = "/releases"
    pages = 0
    page = ""
    while url is not None and pages < 5:
        page = commander.get(url).get_data(as_text=True)
        pages += 1
        seen |= set(re.findall(r">(R-\d{3})</a>", page))
        older = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Older', page)
        url = html.unescape(older.group(1)) if older else None
    assert seen == {f"R-{n:03d}" for n in range(201)}, sorted(
        {f"R-{n:03d}" for n in range(201)} - seen
    )
    assert pages == 3 and "Newer" in page


def test_the_legal_holds_page_is_paged_RET_10(app: Flask, services: Services) -> None:
    """RET-10: the legal holds page shows 100 holds a page with a way to the older ones,
    instead of every hold the agency ever placed on one page."""
    media_id = pdf_item(services, "holds")
    client = app.test_client()
    csrf = sign_in(client, "commander")
    for n in range(101):
        form = {
            "csrf_token": csrf,
            "op": "create",
            "reference": f"LH-{n:03d}",
            "reason": "claim",
            "media_ids": media_id,
        }
        assert client.post("/retention/legal-holds", data=form).status_code == 302
    first = client.get("/retention/legal-holds").get_data(as_text=True)
    assert len(re.findall(r"<td>(LH-\d{3})</td>", first)) == 100
    older = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Older', first)
    assert older is not None
    second = client.get(html.unescape(older.group(1))).get_data(as_text=True)
    shown = set(re.findall(r"<td>(LH-\d{3})</td>", first + second))
    assert shown == {f"LH-{n:03d}" for n in range(101)}
    assert "Newer" in second


def test_the_approvers_log_shows_what_waits_for_their_decision_ACC_5(
    app: Flask, services: Services
) -> None:
    """ACC-5: the release log shows an approver the requests waiting for their decision,
    each with a way to decide it, above the log. Before, a received request with no due
    date sorted after every open request with one (approved ones too) and, with 100 of
    those, was on the log's second page, with nothing on the first saying it waited."""
    media_id = pdf_item(services, "waits")
    commander = app.test_client()
    csrf = sign_in(commander, "commander")

    def log(number: str, client: object = commander, token: str = csrf, **extra: str) -> str:
        form = {
            "csrf_token": token,
            "kind": "media",
            "request_number": number,
            "requester_name": "A. Reporter",
            "received_at": "2026-11-19T09:00Z",
            "legal_basis": "press",
            "items": media_id,
            **extra,
        }
        r = client.post("/releases", data=form)  # type: ignore[attr-defined]
        assert r.status_code == 302, r.data
        return str(r.headers["Location"])

    approver = app.test_client()
    csrf_a = sign_in(approver, "approver")
    for n in range(100):  # approved, with due dates: sorted before undated open requests
        path = log(f"R-{n:03d}", due_at="2026-12-01T00:00Z")
        r = approver.post(path, data={"csrf_token": csrf_a, "op": "approve", "reason": "ok"})
        assert r.status_code == 302
    waiting = log("R-WAIT")
    admin = app.test_client()
    csrf_admin = sign_in(admin, "admin")
    log("R-ADMIN", admin, csrf_admin)  # logged by an admin, who may not decide it
    denied = log("R-DENIED")
    r = approver.post(denied, data={"csrf_token": csrf_a, "op": "deny", "reason": "no"})
    assert r.status_code == 302

    start = approver.get("/")
    assert start.headers["Location"].endswith("/releases")
    page = approver.get("/releases").get_data(as_text=True)
    box = re.search(r'<section id="awaiting-decision".*?</section>', page, re.S)
    assert box is not None, "no 'Awaiting your decision' section on the approver's log"
    assert re.findall(r"<td>(R-[A-Z0-9]+)</td>", box.group(0)) == ["R-WAIT", "R-ADMIN"]
    assert f'href="{waiting}#decide"' in box.group(0)
    assert b'id="decide"' in approver.get(waiting).data  # the link leads to the form

    # The admin approves too, but not what they logged themself (allow_self_approval off).
    mine = admin.get("/releases").get_data(as_text=True)
    box = re.search(r'<section id="awaiting-decision".*?</section>', mine, re.S)
    assert box is not None
    assert re.findall(r"<td>(R-[A-Z0-9]+)</td>", box.group(0)) == ["R-WAIT"]
    # The records commander does not decide: no such section.
    assert 'id="awaiting-decision"' not in commander.get("/releases").get_data(as_text=True)


def test_no_decision_form_for_the_approver_who_logged_the_request_ACC_5(
    app: Flask, services: Services
) -> None:
    """ACC-5 ([releases] allow_self_approval = false): an admin who logged a request is
    not offered Approve and Deny, which could only be refused; a note says another
    approver decides it. The approver gets the form."""
    media_id = pdf_item(services, "self")
    admin = app.test_client()
    csrf = sign_in(admin, "admin")
    form = {
        "csrf_token": csrf,
        "kind": "media",
        "request_number": "R-SELF",
        "requester_name": "A. Reporter",
        "received_at": "2026-11-19T09:00Z",
        "legal_basis": "press",
        "items": media_id,
    }
    r = admin.post("/releases", data=form)
    assert r.status_code == 302
    path = r.headers["Location"]
    mine = admin.get(path).get_data(as_text=True)
    assert 'id="decide"' not in mine, "the admin who logged it is offered the decision form"
    assert "another approver decides it" in mine
    refused = admin.post(path, data={"csrf_token": csrf, "op": "approve", "reason": "ok"})
    assert refused.status_code == 403  # the service refuses it still
    approver = app.test_client()
    sign_in(approver, "approver")
    assert 'id="decide"' in approver.get(path).get_data(as_text=True)


def test_the_records_dashboard_says_when_a_list_goes_on_RET_3(
    app: Flask, services: Services
) -> None:
    """RET-3: the dashboard lists the newest 100 open preservation requests and says
    that more are open, with the way to the log. Before, the 101st was silently left
    out, so the list read as all that was open."""
    media_id = pdf_item(services, "dash")
    client = app.test_client()
    csrf = sign_in(client, "commander")
    for n in range(101):
        form = {
            "csrf_token": csrf,
            "request_number": f"PR-{n:03d}",
            "requester_name": "Claims rep",
            "received_at": "2026-11-20T11:00Z",
            "received_via": "written",
            "reason": "claim",
            "media_ids": media_id,
        }
        assert client.post("/retention/preservation", data=form).status_code == 302
    page = client.get("/records").get_data(as_text=True)
    box = page.split('id="dash-preservation"', 1)[1].split("</section>", 1)[0]
    assert len(re.findall(r"<li>PR-\d{3}:", box)) == 100
    assert "More than 100 are open" in box, "the dashboard does not say the list goes on"
    assert 'href="/retention/preservation"' in box
    releases = page.split('id="dash-releases"', 1)[1].split("</section>", 1)[0]
    assert "More than" not in releases and "<li>None.</li>" in releases


def test_the_records_dashboard_reads_only_the_active_holds_RET_10(
    app: Flask, services: Services
) -> None:
    """RET-10: the dashboard lists the active legal holds and its audit entry names those;
    it read every hold ever placed, released ones too, and listed them all in the entry
    of each view."""
    media_id = pdf_item(services, "holds-dash")
    client = app.test_client()
    csrf = sign_in(client, "commander")
    for reference in ("LH-OLD", "LH-NOW"):
        form = {
            "csrf_token": csrf,
            "op": "create",
            "reference": reference,
            "reason": "claim",
            "media_ids": media_id,
        }
        assert client.post("/retention/legal-holds", data=form).status_code == 302
    with services.db.session() as s:
        old = s.execute(select(LegalHold).where(LegalHold.reference == "LH-OLD")).scalar_one()
        old_id, now_id = (
            old.id,
            s.execute(select(LegalHold.id).where(LegalHold.reference == "LH-NOW")).scalar_one(),
        )
    released = {"csrf_token": csrf, "op": "release", "hold_id": old_id, "notice": "settled"}
    assert client.post("/retention/legal-holds", data=released).status_code == 302
    page = client.get("/records").get_data(as_text=True)
    box = page.split('id="dash-holds"', 1)[1].split("</section>", 1)[0]
    assert "LH-NOW" in box and "LH-OLD" not in box
    with services.db.session() as s:
        entry = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "legal_hold.read")
                .order_by(AuditEntry.seq.desc())
            )
            .scalars()
            .first()
        )
        assert entry is not None
        assert entry.details["hold_ids"] == [now_id], "the dashboard read released holds too"


def approved_release(app: Flask, services: Services, number: str) -> tuple[Any, str, str]:
    """A FOIA request logged by the commander and approved by the approver from the
    pages: (the commander's client, its CSRF token, the request's page path)."""
    commander = app.test_client()
    csrf = sign_in(commander, "commander")
    release_path = log_request(commander, csrf, services, number)
    approver = app.test_client()
    csrf_a = sign_in(approver, "approver")
    r = approver.post(release_path, data={"csrf_token": csrf_a, "op": "approve", "reason": "ok"})
    assert r.status_code == 302, r.data
    return commander, csrf, release_path


def test_the_share_form_sent_twice_makes_one_link_REL_1_ACC_6(
    app: Flask, services: Services
) -> None:
    """REL-1, ACC-6: the share form sent twice (a double-click, a browser's retry) made two
    links, both audited; the browser shows the second answer only, so nobody held the
    first link's address, live until it expired. The page's form carries a one-time key:
    the second post with it makes nothing and says so (409), with the link list."""
    commander, _, release_path = approved_release(app, services, "FOIA-91")
    page = commander.get(release_path)
    form = {
        **hidden_fields(page.data, "share"),
        "op": "share",
        "expires_at": "2026-11-25T12:00Z",
        "max_downloads": "2",
    }
    first = commander.post(release_path, data=form)
    assert first.status_code == 200, first.data
    assert b'id="share-url"' in first.data
    again = commander.post(release_path, data=form)
    with services.db.session() as s:
        links = s.execute(select(ShareLink)).scalars().all()
        audited = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "release.share"))
            .scalars()
            .all()
        )
    assert len(links) == 1, [link.id for link in links]
    assert len(audited) == 1
    assert again.status_code == 409, again.data
    text = html.unescape(again.data.decode())
    assert "this form was already submitted" in text
    assert b'id="share-url"' not in again.data  # no second link shown
    assert links[0].id in text  # the link it made, named, to revoke if nobody has it
    # The page the second answer shows carries a new key: another link, asked for, is made.
    form = {**form, **hidden_fields(again.data, "share")}
    assert commander.post(release_path, data=form).status_code == 200
    with services.db.session() as s:
        assert len(s.execute(select(ShareLink)).scalars().all()) == 2


def hold_form(client: Any, reference: str, media_id: str) -> dict[str, str]:
    """The holds page's "Place a hold" form, as served to ``client`` and filled in."""
    return {
        **hidden_fields(client.get("/retention/legal-holds").data, "new-hold"),
        "reference": reference,
        "reason": "litigation",
        "media_ids": media_id,
    }


def test_the_hold_form_sent_twice_places_one_hold_RET_10(app: Flask, services: Services) -> None:
    """RET-10, ACC-6: the holds page's form sent twice placed two holds under one
    reference, each audited; now the second is answered with the first."""
    client = app.test_client()
    sign_in(client, "commander")
    form = hold_form(client, "LH-6", pdf_item(services, "twice"))
    for _ in range(2):
        assert client.post("/retention/legal-holds", data=form).status_code == 302
    with services.db.session() as s:
        assert len(s.execute(select(LegalHold)).scalars().all()) == 1
        created = select(AuditEntry).where(AuditEntry.action == "legal_hold.create")
        assert len(s.execute(created).scalars().all()) == 1


def test_the_release_form_sent_twice_releases_the_hold_once_RET_10_ACC_6(
    app: Flask, services: Services
) -> None:
    """RET-10, ACC-6: a hold's *Release* form sent twice (a double-click, a browser's
    retry) released the hold with the first post and answered the second with a 409
    "already released" page. The form's one-time key tells the repeat: it goes where the
    first went, the release recorded and audited once; a post without the key, or with
    another notice, is still refused."""
    client = app.test_client()
    sign_in(client, "commander")
    placing = hold_form(client, "LH-8", pdf_item(services, "let-go"))
    assert client.post("/retention/legal-holds", data=placing).status_code == 302
    with services.db.session() as s:
        hold_id = s.execute(select(LegalHold.id)).scalar_one()
    form = {
        **hidden_fields(client.get("/retention/legal-holds").data, f"release-{hold_id}"),
        "notice": "N-8",
    }
    assert sent_twice(client, "/retention/legal-holds", form) == "/retention/legal-holds"
    with services.db.session() as s:
        released = select(AuditEntry).where(AuditEntry.action == "legal_hold.release")
        assert len(s.execute(released).scalars().all()) == 1
        assert s.get_one(LegalHold, hold_id).release_notice == "N-8"
    for changed in ({"form_key": ""}, {"notice": "N-9"}):
        refused = client.post("/retention/legal-holds", data={**form, **changed})
        assert refused.status_code == 409 and b"already released" in refused.data


def test_the_review_decision_and_release_forms_sent_twice_act_once_ACC_5_ACC_6(
    app: Flask, services: Services
) -> None:
    """ACC-5, ACC-6: a release request's *Start review*, *Approve* and *Record the
    release* forms sent twice (a double-click, a browser's retry) did their step with
    the first post and answered the second with a 409 page ("is approved: it cannot
    become approved"; the release's even audited as refused), the only answer the
    browser shows. Each form's one-time key tells the repeat: it goes where the first
    went, the step audited once; a post without the key is still refused."""
    commander = app.test_client()
    csrf = sign_in(commander, "commander")
    release_path = log_request(commander, csrf, services, "FOIA-95")
    approver = app.test_client()
    sign_in(approver, "approver")
    steps = (
        (commander, "review", {"op": "review"}),
        (approver, "decide", {"op": "approve", "reason": "public record"}),
        (commander, "record-release", {"op": "release"}),
    )
    for client, form_id, fields in steps:
        form = {**hidden_fields(client.get(release_path).data, form_id), **fields}
        assert sent_twice(client, release_path, form) == release_path
        refused = client.post(release_path, data={**form, "form_key": ""})
        assert refused.status_code == 409, refused.data
    with services.db.session() as s:
        audited = s.execute(
            select(AuditEntry.action, AuditEntry.outcome).where(
                AuditEntry.action.in_(["release.review", "release.approve", "release.release"])
            )
        ).all()
    assert sorted(audited) == [
        ("release.approve", "ok"),
        ("release.release", "denied"),  # the post without the key (ACC-5)
        ("release.release", "ok"),
        ("release.review", "ok"),
    ]
