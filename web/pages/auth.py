"""Sign-in pages: ``/login``, ``/logout`` and the start page ``/`` (ACC-1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import redirect, render_template, request, url_for

from vms.auth.permissions import Action, Actor, decide
from vms.errors import RateLimited, Unauthenticated, VMSError
from web.pages.blueprint import page_blueprint
from web.security import (
    check_csrf,
    end_session,
    remote_addr,
    require_actor,
    resolve_actor,
    services,
    start_session,
)

bp = page_blueprint("auth_pages", __name__)


def start_page(actor: Actor) -> str:
    """Where a user starts: the catalog, or the camera wall for those who watch cameras
    but may not search media (dispatchers), or the release log for release approvers."""
    if not decide(actor, Action.MEDIA_SEARCH).allowed and decide(actor, Action.LIVE_VIEW).allowed:
        return url_for("live_pages.wall")
    if (
        not decide(actor, Action.MEDIA_SEARCH).allowed
        and decide(actor, Action.RELEASES_READ).allowed
    ):
        return url_for("release_pages.release_log")
    return url_for("catalog_pages.catalog")


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
            actor, raw = services().users.sign_in_session(
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
            start_session(raw)
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
    return redirect(url_for("auth_pages.login"))


@bp.get("/")
def index() -> Any:
    return redirect(start_page(require_actor()))
