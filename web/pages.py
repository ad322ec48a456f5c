"""Server-rendered pages: sign-in, catalog search, media detail, upload, audit log."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, redirect, render_template, request, session, url_for

from vms.audit.log import AuditQuery, entry_json, search
from vms.auth.permissions import Action, ItemFacts, decide
from vms.catalog import MediaQuery, media_json
from vms.errors import InvalidArgument, RateLimited, Unauthenticated, VMSError
from web.api import int_arg, time_arg
from web.security import check_csrf, remote_addr, require_actor, services, start_session

bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("pages.catalog")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/"):
        return url_for("pages.catalog")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    if request.method == "POST":
        try:
            check_csrf()
            actor = services().users.authenticate(
                request.form.get("username", ""), request.form.get("password", ""), remote_addr()
            )
        except RateLimited as exc:
            error, status = exc.message, 429
        except Unauthenticated as exc:
            error, status = exc.message, 401
        except VMSError as exc:
            error, status = exc.message, exc.http_status
        else:
            start_session(actor)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout() -> Any:
    check_csrf()
    session.clear()
    return redirect(url_for("pages.login"))


@bp.get("/")
def index() -> Any:
    return redirect(url_for("pages.catalog"))


@bp.get("/catalog")
def catalog() -> Any:
    actor = require_actor()
    args = request.args
    error = None
    items: list[dict[str, Any]] = []
    next_cursor = None
    try:
        page = services().catalog.search(
            actor,
            MediaQuery(
                source=args.get("source") or None,
                device_id=args.get("device_id") or None,
                officer_badge=args.get("officer_badge") or None,
                case_number=args.get("case_number") or None,
                category=args.get("category") or None,
                start=time_arg("start"),
                end=time_arg("end"),
                cursor=args.get("cursor") or None,
                limit=int_arg("limit", 50),
            ),
        )
        items = [media_json(i) for i in page.items]
        next_cursor = page.next_cursor
    except InvalidArgument as exc:
        error = exc.message
    return render_template(
        "catalog.html",
        items=items,
        next_cursor=next_cursor,
        args=args,
        error=error,
        categories=services().categories.categories,
    )


@bp.get("/media/<media_id>")
def media_detail(media_id: str) -> Any:
    actor = require_actor()
    body = services().catalog.get(actor, media_id)
    item_facts = ItemFacts(officer_badge=body["officer_badge"], restricted=body["restricted"])
    return render_template(
        "media.html",
        item=body,
        can_view=decide(actor, Action.MEDIA_VIEW, item_facts).allowed,
        can_edit=decide(actor, Action.MEDIA_EDIT, item_facts).allowed,
        categories=services().categories.categories,
    )


@bp.get("/upload")
def upload() -> Any:
    actor = require_actor()
    return render_template(
        "upload.html",
        can_upload=decide(actor, Action.MEDIA_UPLOAD).allowed,
        categories=services().categories.categories,
    )


@bp.get("/audit")
def audit() -> Any:
    actor = require_actor()
    svc = services()
    svc.catalog.require(actor, Action.AUDIT_READ, "audit")
    query = AuditQuery(
        action=request.args.get("action") or None,
        actor=request.args.get("actor") or None,
        target=request.args.get("target") or None,
        start=time_arg("start"),
        end=time_arg("end"),
        before_seq=int_arg("before_seq", 0) or None,
        limit=100,
    )
    with svc.db.session() as s:
        entries = [entry_json(e) for e in search(s, query)]
    next_before = entries[-1]["seq"] if len(entries) == 100 else None
    return render_template(
        "audit.html", entries=entries, args=request.args, next_before=next_before
    )
