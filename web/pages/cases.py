"""Case pages (issue 15.3): the case list (``/cases``), one case (``/cases/<number>``)
with its items, bookmarks and exports, and the forms that open a case, add an item,
and bookmark a moment (also from the media page). Forms carry the CSRF token
(checked by ``require_actor`` for sessions) and are parsed with the API's request
models, so a form and the API refuse the same input with the same message.
``register(app)`` also registers the cases API (one line in ``web/pages/__init__.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import Flask, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from retention.casefile import MAX_OFFSET, CaseFile, CaseFileService, CaseQuery
from retention.plugin import get as retention
from vms.auth.permissions import Action
from vms.bounded import parse_int
from vms.clock import isoformat
from vms.errors import Conflict, InvalidArgument, NotFound
from web import form_keys
from web.api import cases as cases_api
from web.contract import parse_model
from web.pages.blueprint import FormRefusal, page_blueprint, refusal
from web.pages.catalog import media_detail
from web.pages.review import MAX_PLAYED
from web.schemas.cases import AddCaseItemIn, NewBookmarkIn, NewCaseIn
from web.schemas.retention import CaseStateIn
from web.security import require_actor, services

bp = page_blueprint("case_pages", __name__)
CASES_PAGE = 100  # cases a page of the case list shows; "Older" and "Newer" page on


def register(app: Flask) -> None:
    """Register the cases API and pages."""
    app.register_blueprint(cases_api.bp, url_prefix="/api/v1")
    app.register_blueprint(bp)


def casefiles() -> CaseFileService:
    return services().ports.get(CaseFileService, reader="the case pages")


def form_data(form: MultiDict[str, str], *fields: str) -> dict[str, str]:
    """The named form fields that were filled in (an empty field is an absent one)."""
    return {f: form[f].strip() for f in fields if form.get(f, "").strip()}


@bp.route("/cases", methods=["GET", "POST"])
def cases() -> Any:
    actor = require_actor()
    refused = None
    if request.method == "POST":
        try:
            body = parse_model(NewCaseIn, form_data(request.form, "case_number"))
            key = form_keys.redeem_sent(request.form, "case.open", "cases")  # ACC-6
            created = casefiles().create(actor, dataclasses.replace(body.command(), form_key=key))
        except (InvalidArgument, Conflict, NotFound) as exc:
            refused = refusal(exc, "case")
        else:
            return redirect(url_for("case_pages.case", number=created.case_number, opened=1))
    state = request.args.get("state") or None
    offset = parse_int(request.args.get("offset") or "0", "offset", maximum=MAX_OFFSET)
    listing = casefiles().list_cases(
        actor,
        CaseQuery(
            state=state if state in ("open", "closed") else None,
            limit=CASES_PAGE + 1,  # one more: is there an older page?
            offset=offset,
        ),
    )
    html = render_template(
        "cases.html",
        cases=listing.cases[:CASES_PAGE],
        state=state,
        older=offset + CASES_PAGE if len(listing.cases) > CASES_PAGE else None,
        newer=max(offset - CASES_PAGE, 0) if offset else None,
        can_manage=services().authoriser.allows(actor, Action.CASES_MANAGE),
        refused=refused,
        form=request.form,
        # A new key each time the form is drawn: the form sent twice opens the case
        # once; asked again from a page drawn anew, a 409 says it exists (ACC-6).
        open_key=form_keys.issue("case.open", "cases"),
    )
    return html, refused.status if refused else 200


def review_link(folder: CaseFile) -> str | None:
    """The review page over the case's range: from the first to the last instant of its
    items (in the catalog) and bookmarks, with up to four of them chosen and the case
    number filled in for bookmarks and the export; None for a case with neither."""
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    items: list[str] = []
    cameras: list[str] = []
    for i in folder.items:
        if i.in_catalog and i.recorded_start is not None:
            spans.append((i.recorded_start, i.recorded_end or i.recorded_start))
            items.append(i.media_id)
    for b in folder.bookmarks:
        spans.append((b.start, b.end or b.start))
        if b.camera_id and b.camera_id not in cameras:
            cameras.append(b.camera_id)
        if b.media_id and b.media_id not in items:
            items.append(b.media_id)
    if not spans:
        return None
    start = min(s for s, _ in spans)
    end = max(max(e for _, e in spans), start + dt.timedelta(seconds=1))
    chosen = (cameras + items)[:MAX_PLAYED]
    return url_for(
        "review_pages.review",
        start=isoformat(start),
        end=isoformat(end),
        camera=[c for c in chosen if c in cameras],
        media_id=[m for m in chosen if m not in cameras],
        case=folder.case_number,
    )


@bp.get("/cases/<number>")
def case(number: str, refused: FormRefusal | None = None) -> Any:
    actor = require_actor()
    folder = casefiles().get(actor, number)
    html = render_template(
        "case.html",
        refused=refused,
        form=request.form if refused else {},
        case=folder,
        review=review_link(folder)
        if services().authoriser.allows(actor, Action.MEDIA_SEARCH)
        else None,
        can_manage=services().authoriser.allows(actor, Action.CASES_MANAGE),
        can_close=services().authoriser.allows(actor, Action.RETENTION_MANAGE),
        done=request.args.get("done"),
        opened=request.args.get("opened"),
        # A new key each time the page is drawn: the form sent twice adds once (ACC-6).
        add_key=form_keys.issue("case.item_add", number),
        state_key=form_keys.issue("case.state", number),
    )
    return html, refused.status if refused else 200


@bp.post("/cases/<number>/items")
def add_item(number: str) -> Any:
    actor = require_actor()
    try:
        body = parse_model(AddCaseItemIn, form_data(request.form, "media_id", "note"))
        key = form_keys.redeem_sent(request.form, "case.item_add", number)  # ACC-6
        casefiles().add_item(actor, number, dataclasses.replace(body.command(), form_key=key))
    except (InvalidArgument, Conflict, NotFound) as exc:
        return case(number, refusal(exc, "item"))  # the case itself missing: its 404 page
    return redirect(url_for("case_pages.case", number=number, done="item"))


@bp.post("/cases/<number>/state")
def set_state(number: str) -> Any:
    """The case page's "Close case" or "Reopen case" button, the data steward's (RET-5):
    the form sent twice goes where the first went, closed or reopened once (ACC-6); a
    case already in that state is a 409 naming since when and by whom."""
    actor = require_actor()
    try:
        body = parse_model(CaseStateIn, form_data(request.form, "state"))
        key = form_keys.redeem_sent(request.form, "case.state", number)  # ACC-6
        command = dataclasses.replace(body.command(), form_key=key)
        changed = retention(services()).cases.set_state(actor, number, command)
    except (InvalidArgument, Conflict, NotFound) as exc:
        return case(number, refusal(exc, "state"))
    return redirect(url_for("case_pages.case", number=number, done=changed.state))


@bp.post("/media/<media_id>/case")
def file_media(media_id: str) -> Any:
    """The media page's "Add to case" form."""
    actor = require_actor()
    data = form_data(request.form, "note")
    number = request.form.get("case_number", "").strip()
    try:
        body = parse_model(AddCaseItemIn, {"media_id": media_id, **data})
        parse_model(NewCaseIn, {"case_number": number} if number else {})  # names the fault
        key = form_keys.redeem_sent(request.form, "case.file", media_id)  # ACC-6
        casefiles().add_item(actor, number, dataclasses.replace(body.command(), form_key=key))
    except (InvalidArgument, Conflict, NotFound) as exc:
        return media_detail(media_id, refusal(exc, "case"))  # a missing item: its 404 page
    return redirect(url_for("case_pages.case", number=number, done="item"))


@bp.post("/bookmarks")
def bookmark() -> Any:
    """A bookmark from the case page or the media page; back to where it was made."""
    actor = require_actor()
    fields = ("start", "end", "label", "note", "camera_id", "media_id", "case_number")
    try:
        body = parse_model(NewBookmarkIn, form_data(request.form, *fields))
        services().bookmarks.create(actor, body.command())
    except (InvalidArgument, Conflict, NotFound) as exc:
        number = request.form.get("case_number", "").strip()
        if request.form.get("back") == "case" and number:
            return case(number, refusal(exc, "bookmark"))  # the case page's form, with its answers
        media_id = request.form.get("media_id", "").strip()
        if request.form.get("back") == "media" and media_id:
            return media_detail(media_id, refusal(exc, "bookmark"))  # the media page's form
        raise
    if request.form.get("back") == "media" and body.media_id:
        return redirect(url_for("catalog_pages.media_detail", media_id=body.media_id, bookmarked=1))
    if body.case_number:
        return redirect(url_for("case_pages.case", number=body.case_number, done="bookmark"))
    return redirect(url_for("case_pages.cases"))
