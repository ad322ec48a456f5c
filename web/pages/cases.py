"""Case pages (issue 15.3): the case list (``/cases``), one case (``/cases/<number>``)
with its items, bookmarks and exports, and the forms that open a case, add an item,
and bookmark a moment (also from the media page). Forms carry the CSRF token
(checked by ``require_actor`` for sessions) and are parsed with the API's request
models, so a form and the API refuse the same input with the same message.
``register(app)`` also registers the cases API (one line in ``web/pages/__init__.py``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from retention.casefile import CaseFileService, CaseQuery
from vms.auth.permissions import Action
from web.api import cases as cases_api
from web.contract import parse_model
from web.pages.blueprint import page_blueprint
from web.schemas.cases import AddCaseItemIn, NewBookmarkIn, NewCaseIn
from web.security import require_actor, services

bp = page_blueprint("case_pages", __name__)


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
    if request.method == "POST":
        body = parse_model(NewCaseIn, form_data(request.form, "case_number"))
        created = casefiles().create(actor, body.command())
        return redirect(url_for("case_pages.case", number=created.case_number, opened=1))
    state = request.args.get("state") or None
    listing = casefiles().list_cases(
        actor, CaseQuery(state=state if state in ("open", "closed") else None)
    )
    return render_template(
        "cases.html",
        cases=listing.cases,
        state=state,
        can_manage=services().authoriser.allows(actor, Action.CASES_MANAGE),
    )


@bp.get("/cases/<number>")
def case(number: str) -> Any:
    actor = require_actor()
    folder = casefiles().get(actor, number)
    return render_template(
        "case.html",
        case=folder,
        can_manage=services().authoriser.allows(actor, Action.CASES_MANAGE),
        done=request.args.get("done"),
        opened=request.args.get("opened"),
    )


@bp.post("/cases/<number>/items")
def add_item(number: str) -> Any:
    actor = require_actor()
    body = parse_model(AddCaseItemIn, form_data(request.form, "media_id", "note"))
    casefiles().add_item(actor, number, body.command())
    return redirect(url_for("case_pages.case", number=number, done="item"))


@bp.post("/media/<media_id>/case")
def file_media(media_id: str) -> Any:
    """The media page's "Add to case" form."""
    actor = require_actor()
    data = form_data(request.form, "note")
    body = parse_model(AddCaseItemIn, {"media_id": media_id, **data})
    number = request.form.get("case_number", "").strip()
    parse_model(NewCaseIn, {"case_number": number} if number else {})  # names what is wrong
    casefiles().add_item(actor, number, body.command())
    return redirect(url_for("case_pages.case", number=number, done="item"))


@bp.post("/bookmarks")
def bookmark() -> Any:
    """A bookmark from the case page or the media page; back to where it was made."""
    actor = require_actor()
    fields = ("start", "end", "label", "note", "camera_id", "media_id", "case_number")
    body = parse_model(NewBookmarkIn, form_data(request.form, *fields))
    services().bookmarks.create(actor, body.command())
    if request.form.get("back") == "media" and body.media_id:
        return redirect(url_for("catalog_pages.media_detail", media_id=body.media_id, bookmarked=1))
    if body.case_number:
        return redirect(url_for("case_pages.case", number=body.case_number, done="bookmark"))
    return redirect(url_for("case_pages.cases"))
