"""Server-rendered pages: sign-in, catalog search, media detail, upload, audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, redirect, render_template, request, url_for

from vms.audit.log import AuditQuery, entry_json, search
from vms.auth.permissions import Action, Actor, ItemFacts
from vms.catalog import MediaQuery, media_json
from vms.clock import parse_iso
from vms.errors import InvalidArgument, RateLimited, Unauthenticated, VMSError
from web.api import int_arg, time_arg
from web.security import (
    check_csrf,
    end_session,
    remote_addr,
    require_actor,
    resolve_actor,
    services,
    start_session,
)

# The upload page sends chunks of at most this size (and never more than the server's
# ``[web] max_chunk_bytes``): small enough that a dropped connection loses little.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024

bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@bp.app_template_filter("when")
def when(value: str | None) -> str:
    """An ISO 8601 UTC time as ``2026-11-21 22:15:03`` (the pages say "UTC" in headings)."""
    if not value:
        return ""
    try:
        moment = parse_iso(value, field="time")
    except ValueError:
        return value
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("bytes")
def human_bytes(value: int | None) -> str:
    """``204681`` as ``199.9 KiB``."""
    if value is None:
        return ""
    size = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    """``75.4`` as ``1:15``; short clips keep a decimal (``2.0 s``)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


SOURCE_NAMES = {
    "fixed": "Fixed camera",
    "bwc": "Body-worn camera",
    "dash": "Dash camera",
    "handheld": "Handheld",
    "export": "Export",
    "redacted": "Redacted copy",
}


@bp.app_template_filter("source_name")
def source_name(source: str) -> str:
    """``bwc`` as ``Body-worn camera``."""
    return SOURCE_NAMES.get(source, source)


@bp.app_template_filter("sentence")
def sentence(message: str) -> str:
    """An error message as a sentence: ``wrong password`` -> ``Wrong password.``"""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message[-1] in ".!?)" else message + "."


@bp.app_context_processor
def _permissions() -> dict[str, Any]:
    def can(action: str) -> bool:
        """May the signed-in user do ``action`` at all (for showing navigation)?"""
        try:
            actor = resolve_actor()
        except VMSError:
            return False
        return actor is not None and services().authoriser.allows(actor, Action(action))

    return {"can": can}


@bp.errorhandler(VMSError)
def page_error(exc: VMSError) -> Any:
    """Refusals and missing items on a page get a page, not the API's JSON (other page
    blueprints register this handler too)."""
    if isinstance(exc, Unauthenticated):
        return redirect(url_for("pages.login", next=request.path))
    titles = {403: "Not permitted", 404: "Not found", 400: "Invalid request"}
    title = titles.get(exc.http_status, "Something went wrong")
    return render_template("error.html", title=title, message=exc.message), exc.http_status


def start_page(actor: Actor) -> str:
    """Where a user starts: the catalog, or the camera wall for those who watch cameras
    but may not search media (dispatchers)."""
    allows = services().authoriser.allows
    if not allows(actor, Action.MEDIA_SEARCH) and allows(actor, Action.LIVE_VIEW):
        return url_for("live_pages.wall")
    return url_for("pages.catalog")


def _safe_next(target: str | None, actor: Actor) -> str:
    if not target:
        return start_page(actor)
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/"):
        return start_page(actor)
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    retry_after = None
    if request.method == "POST":
        try:
            check_csrf()
            actor = services().users.authenticate(
                request.form.get("username", ""), request.form.get("password", ""), remote_addr()
            )
        except RateLimited as exc:
            error, status = exc.message, 429
            retry_after = exc.details.get("retry_after_seconds")
        except Unauthenticated as exc:
            error, status = exc.message, 401
        except VMSError as exc:
            error, status = exc.message, exc.http_status
        else:
            start_session(actor)
            return redirect(_safe_next(request.args.get("next"), actor))
    elif (signed_in := resolve_actor()) is not None:
        return redirect(_safe_next(request.args.get("next"), signed_in))
    username = request.form.get("username", "")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return render_template("login.html", error=error, username=username), status, headers


@bp.post("/logout")
def logout() -> Any:
    check_csrf()
    end_session()  # revokes the server-side session: a copied cookie is dead too
    return redirect(url_for("pages.login"))


@bp.get("/")
def index() -> Any:
    return redirect(start_page(require_actor()))


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
    filtered = any(args.get(k) for k in args if k not in ("cursor", "limit"))
    html = render_template(
        "catalog.html",
        items=items,
        next_cursor=next_cursor,
        args=args,
        filtered=filtered,
        error=error,
        categories=services().categories.categories,
        sources=SOURCE_NAMES,
    )
    return html, 400 if error else 200  # the form again, with what was wrong (#10.10)


@bp.get("/media/<media_id>")
def media_detail(media_id: str) -> Any:
    actor = require_actor()
    body = services().catalog.get(actor, media_id)
    item_facts = ItemFacts(officer_badge=body["officer_badge"], restricted=body["restricted"])
    return render_template(
        "media.html",
        item=body,
        can_view=services().authoriser.allows(actor, Action.MEDIA_VIEW, item_facts),
        can_edit=services().authoriser.allows(actor, Action.MEDIA_EDIT, item_facts),
        categories=services().categories.categories,
    )


@bp.get("/upload")
def upload() -> Any:
    actor = require_actor()
    return render_template(
        "upload.html",
        can_upload=services().authoriser.allows(actor, Action.MEDIA_UPLOAD),
        categories=services().categories.categories,
        chunk_bytes=min(UPLOAD_CHUNK_BYTES, services().config.web.max_chunk_bytes),
    )


AUDIT_PAGE = 100


@bp.get("/audit")
def audit() -> Any:
    actor = require_actor()
    svc = services()
    svc.authoriser.require(actor, Action.AUDIT_READ, "audit")
    entries: list[dict[str, Any]] = []
    error = None
    try:
        query = AuditQuery(
            action=request.args.get("action") or None,
            actor=request.args.get("actor") or None,
            target=request.args.get("target") or None,
            start=time_arg("start"),
            end=time_arg("end"),
            before_seq=int_arg("before_seq", 0) or None,
            limit=AUDIT_PAGE,
        )
    except InvalidArgument as exc:
        error = exc.message
    else:
        with svc.db.session() as s:
            entries = [entry_json(e) for e in search(s, query)]
    next_before = entries[-1]["seq"] if len(entries) == AUDIT_PAGE else None
    html = render_template(
        "audit.html", entries=entries, args=request.args, next_before=next_before, error=error
    )
    return html, 400 if error else 200
