"""What every page blueprint shares: refusals and missing items get a page, not the
API's JSON, and ``can`` tells templates which navigation to show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from vms.auth.permissions import Action, decide
from vms.errors import Unauthenticated, VMSError
from web.security import resolve_actor


def page_error(exc: VMSError) -> Any:
    """The error page of a refusal or a missing item; signing in when nobody is."""
    if isinstance(exc, Unauthenticated):
        # Back to the page as it was asked for, query included (a filtered list stays
        # filtered); a form's POST comes back as the page that holds the form.
        back = request.full_path if request.method == "GET" else request.path
        return redirect(url_for("auth_pages.login", next=back.removesuffix("?")))
    titles = {403: "Not permitted", 404: "Not found", 400: "Invalid request"}
    title = titles.get(exc.http_status, "Something went wrong")
    return render_template("error.html", title=title, message=exc.message), exc.http_status


def page_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint of pages: its errors are answered by :func:`page_error`."""
    bp = Blueprint(name, import_name)
    bp.register_error_handler(VMSError, page_error)
    return bp


def navigation() -> dict[str, Any]:
    """The template global ``can(action)``: may the signed-in user do ``action`` at all
    (for showing navigation)?"""

    def can(action: str) -> bool:
        try:
            actor = resolve_actor()
        except VMSError:
            return False
        return actor is not None and decide(actor, Action(action)).allowed

    return {"can": can}


@dataclass(frozen=True)
class FormRefusal:
    """Why the page's form ``form`` was refused (its message and HTTP status)."""

    form: str
    message: str
    status: int


def refusal(error: VMSError, form: str) -> FormRefusal:
    """A refusal of the page's form ``form``, to show inside it with what was entered
    (``request.form``), instead of the error page that loses it."""
    return FormRefusal(form, error.message, error.http_status)
