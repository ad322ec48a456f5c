"""Release and records pages (issue 16, items 5-7): the release log and a request's page
(approve/deny for approvers, release and share for the records unit), the legal holds
page, the records commander's dashboard, and the outsiders' share links ``/s/<token>``
(no account). ``register(app)`` also registers the release API."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Flask, Response, redirect, render_template, request, send_file, url_for

from retention.legal import MAX_LOG_OFFSET as HOLDS_MAX_OFFSET
from retention.plugin import Retention, get
from retention.releases import MAX_LOG_OFFSET, OPEN_STATES, Decision
from vms.auth.permissions import Action
from vms.bounded import parse_int
from vms.errors import NotFound, RateLimited, VMSError
from vms.exports.signing import installed_fingerprint
from vms.filenames import content_disposition
from web import form_keys
from web.api import releases as releases_api
from web.api.media import stream_stored
from web.contract import parse_model
from web.pages.blueprint import page_blueprint
from web.schemas.releases import DecisionIn, NewReleaseIn, NewShareIn
from web.schemas.retention import NewHoldIn, ReleaseHoldIn
from web.security import remote_addr, require_actor, services

bp = page_blueprint("release_pages", __name__)
LOG_PAGE = 100  # requests a page of the release log shows; "Older" and "Newer" page on
DASH_LIST = 100  # entries each list of the records dashboard shows before "more"


def register(app: Flask) -> None:
    app.register_blueprint(releases_api.bp, url_prefix="/api/v1")
    app.register_blueprint(bp)


def _retention() -> Retention:
    return get(services())


def _run(action: Any) -> tuple[str | None, int, Any]:
    """Call ``action()``; a bad form or a refusal becomes (message, status, None)."""
    try:
        return None, 200, action()
    except ValueError as exc:
        return str(exc), 400, None
    except VMSError as exc:
        return exc.message, exc.http_status, None


def _release_form(form: Any) -> dict[str, Any]:
    return {
        "kind": form.get("kind", ""),
        "request_number": form.get("request_number", ""),
        "requester": {
            "name": form.get("requester_name", ""),
            "organization": form.get("requester_organization") or None,
            "contact": form.get("requester_contact") or None,
        },
        "received_at": form.get("received_at", ""),
        "legal_basis": form.get("legal_basis", ""),
        "document_media_id": form.get("document_media_id") or None,
        "items": form.get("items", "").split(),
        "due_at": form.get("due_at") or None,
    }


@bp.route("/releases", methods=["GET", "POST"])
def release_log() -> Any:
    """The release log: open requests first, overdue first (REL-1), and the form."""
    actor = require_actor()
    service = _retention().releases
    error, status = None, 200
    if request.method == "POST":  # CSRF is checked by require_actor for sessions
        error, status, created = _run(
            lambda: service.create(
                actor, parse_model(NewReleaseIn, _release_form(request.form)).command()
            )
        )
        if created is not None:
            return redirect(url_for("release_pages.release_page", release_id=created.id))
    offset = parse_int(request.args.get("offset") or "0", "offset", maximum=MAX_LOG_OFFSET)
    listing = service.log(actor, limit=LOG_PAGE + 1, offset=offset)
    # ACC-5: what waits for this approver's decision, above the log (where it may be
    # pages away behind approved requests with earlier due dates).
    can_approve = services().authoriser.allows(actor, Action.RELEASES_APPROVE)
    awaiting = service.awaiting_decision(actor, limit=LOG_PAGE + 1).releases if can_approve else ()
    return (
        render_template(
            "releases.html",
            awaiting=awaiting[:LOG_PAGE],
            awaiting_more=len(awaiting) > LOG_PAGE,
            can_approve=can_approve,
            releases=listing.releases[:LOG_PAGE],
            older=offset + LOG_PAGE if len(listing.releases) > LOG_PAGE else None,
            newer=max(offset - LOG_PAGE, 0) if offset else None,
            error=error,
            form=request.form,
            can_manage=services().authoriser.allows(actor, Action.RELEASES_MANAGE),
        ),
        status,
    )


@bp.route("/releases/<release_id>", methods=["GET", "POST"])
def release_page(release_id: str) -> Any:
    """One request: approve or deny (approvers), review, release, share, revoke."""
    actor = require_actor()
    retention = _retention()
    service, shares = retention.releases, retention.release_shares
    error, status, new_link = None, 200, None
    if request.method == "POST":
        op = request.form.get("op", "")
        form = request.form

        def step_key(step: str) -> str | None:
            """The step's form key (ACC-6): sent twice, the step is done once and the
            second post goes where the first went."""
            return form_keys.redeem_sent(form, f"release.{step}", release_id)

        def decision() -> Decision:
            reason = {"reason": form.get("reason", "")}
            command = parse_model(DecisionIn, reason).command()
            return dataclasses.replace(command, form_key=step_key("decide"))

        actions: dict[str, Any] = {
            "approve": lambda: service.approve(actor, release_id, decision()),
            "deny": lambda: service.deny(actor, release_id, decision()),
            "review": lambda: service.review(actor, release_id, step_key("review")),
            "release": lambda: service.release(actor, release_id, step_key("release")),
            "share": lambda: shares.share(
                actor,
                release_id,
                parse_model(
                    NewShareIn,
                    {
                        "expires_at": form.get("expires_at", ""),
                        # The model parses it: "1e3" is a 400 naming the field, not int()'s
                        # "invalid literal" message.
                        "max_downloads": form.get("max_downloads") or "1",
                    },
                )
                .command()
                .with_link_id(  # REL-1: the page's one-time key, a second post makes nothing
                    form_keys.redeem(form.get(form_keys.FIELD, ""), "release.share", release_id)
                ),
            ),
            "revoke": lambda: shares.revoke(actor, release_id, form.get("link_id", "")),
        }
        if op not in actions:
            error, status = f"unknown operation {op!r}", 400
        else:
            error, status, result = _run(actions[op])
            if op == "share" and result is not None:
                new_link = releases_api.share_url(result.token)
            elif result is not None:
                return redirect(url_for("release_pages.release_page", release_id=release_id))
    record = service.get(actor, release_id)
    allows = services().authoriser.allows
    return (
        render_template(
            "release.html",
            r=record,
            error=error,
            # A refused form's reason is shown inside it, with what was entered.
            failed_op=request.form.get("op", "") if error else "",
            form=request.form,
            new_link=new_link,
            # A new key each time the form is drawn: after a link was made, another one
            # asked for is made; the same page's form sent twice makes one (REL-1).
            share_key=form_keys.issue("release.share", release_id),
            # The review, decision and release forms' keys: each sent twice acts once (ACC-6).
            step_keys={
                step: form_keys.issue(f"release.{step}", release_id)
                for step in ("review", "decide", "release")
            },
            now=services().clock.now(),
            can_manage=allows(actor, Action.RELEASES_MANAGE),
            can_approve=allows(actor, Action.RELEASES_APPROVE),
            # ACC-5: who logged it does not decide it (unless the setting allows): no
            # decision form that can only be refused, a note instead.
            logged_it=record.created_by == actor.username
            and not services().config.releases.allow_self_approval,
            open_states=OPEN_STATES,
        ),
        status if error else 200,
    )


@bp.route("/retention/legal-holds", methods=["GET", "POST"])
def legal_holds() -> Any:
    """Legal holds (RET-10): list, create (reference, reason, items), release with the
    notice; each audited by the retention service."""
    actor = require_actor()
    holds = _retention().legal_holds
    error, status = None, 200
    if request.method == "POST":
        form = request.form
        if form.get("op") == "release":
            hold_id = form.get("hold_id", "")
            notice = {"notice": form.get("notice") or None}
            error, status, done = _run(
                lambda: holds.release(
                    actor,
                    hold_id,
                    dataclasses.replace(
                        parse_model(ReleaseHoldIn, notice).command(),
                        # The form's one-time key: sent twice, released once (ACC-6).
                        form_key=form_keys.redeem_sent(form, "legal_hold.release", hold_id),
                    ),
                )
            )
        else:
            error, status, done = _run(
                lambda: holds.create(
                    actor,
                    parse_model(
                        NewHoldIn,
                        {
                            "reference": form.get("reference", ""),
                            "reason": form.get("reason", ""),
                            "media_ids": form.get("media_ids", "").split(),
                        },
                    ).command(),
                )
            )
        if done is not None:
            return redirect(url_for("release_pages.legal_holds"))
    offset = parse_int(request.args.get("offset") or "0", "offset", maximum=HOLDS_MAX_OFFSET)
    listed = holds.log(actor, limit=LOG_PAGE + 1, offset=offset)
    can_manage = services().authoriser.allows(actor, Action.RETENTION_MANAGE)
    return (
        render_template(
            "legal_holds.html",
            holds=listed[:LOG_PAGE],
            older=offset + LOG_PAGE if len(listed) > LOG_PAGE else None,
            newer=max(offset - LOG_PAGE, 0) if offset else None,
            error=error,
            form=request.form,
            can_manage=can_manage,
            # A new key for each release form each time the page is drawn (ACC-6).
            release_keys={
                h.id: form_keys.issue("legal_hold.release", h.id)
                for h in listed[:LOG_PAGE]
                if h.state == "active" and can_manage
            },
        ),
        status,
    )


@bp.route("/records")
def dashboard() -> Any:
    """The records commander's dashboard: open preservation requests, active legal
    holds, open release requests by due date, deletions of the next 7 days."""
    actor = require_actor()
    retention = _retention()
    authoriser = services().authoriser
    allows = authoriser.allows
    if not (allows(actor, Action.RETENTION_READ) or allows(actor, Action.RELEASES_READ)):
        authoriser.require(actor, Action.RETENTION_READ, "records-dashboard")  # 403, audited
    # Each list shows DASH_LIST entries and says when there are more (it cut them off
    # silently: the 101st open preservation request or deletion was just not there).
    preservation = (
        retention.preservation.log(actor, state="active", limit=DASH_LIST + 1)
        if allows(actor, Action.RETENTION_READ)
        else ()
    )
    holds = (  # the active ones only: not every hold ever placed, read and audited
        retention.legal_holds.log(actor, active_only=True, limit=DASH_LIST + 1)
        if allows(actor, Action.RETENTION_READ)
        else ()
    )
    releases = (  # open requests come first in the log
        [
            r
            for r in retention.releases.log(actor, limit=DASH_LIST + 1).releases
            if r.state in OPEN_STATES
        ]
        if allows(actor, Action.RELEASES_READ)
        else []
    )
    upcoming = (
        retention.reports.upcoming(actor, days=7, limit=DASH_LIST + 1)
        if allows(actor, Action.RETENTION_READ)
        else None
    )
    return render_template(
        "records.html",
        preservation=preservation[:DASH_LIST],
        more_preservation=len(preservation) > DASH_LIST,
        holds=holds[:DASH_LIST],
        more_holds=len(holds) > DASH_LIST,
        releases=releases[:DASH_LIST],
        more_releases=len(releases) > DASH_LIST,
        upcoming=upcoming.items[:DASH_LIST] if upcoming else None,
        more_upcoming=upcoming is not None and len(upcoming.items) > DASH_LIST,
        shown=DASH_LIST,
    )


# -- outsiders' share links (no account) ------------------------------------------------


def _private(response: Response) -> Response:
    # The token is in the URL: never sent on as a referrer, never cached.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_found() -> Response:
    """The one answer for a wrong, expired, revoked or used-up token."""
    return _private(
        Response(
            render_template("share_missing.html"),
            status=404,
        )
    )


def _throttled(exc: RateLimited) -> Response:
    """Too many unusable links tried from this address (ACC-5): 429, how long to wait."""
    response = Response(
        render_template("share_throttled.html", message=exc.message), status=exc.http_status
    )
    if "retry_after_seconds" in exc.details:
        response.headers["Retry-After"] = str(exc.details["retry_after_seconds"])
    return _private(response)


@bp.route("/s/<token>")
def share_landing(token: str) -> Response:
    try:
        landing = _retention().shares.landing(token, remote=remote_addr())
    except NotFound:
        return _not_found()
    except RateLimited as exc:
        return _throttled(exc)
    html = render_template(
        "share.html",
        landing=landing,
        token=token,
        # INV-8: the one agency page an outside recipient can open; a package's own key
        # proves nothing until compared with this (the API's public-key needs an account).
        fingerprint=installed_fingerprint(services().config.secrets_dir),
    )
    return _private(Response(html))


@bp.route("/s/<token>/package")
def share_package(token: str) -> Response:
    """The first (usually the only) file of the link."""
    return share_download(token, 1)


@bp.route("/s/<token>/package/<int:position>")
def share_download(token: str, position: int) -> Response:
    if request.method == "HEAD":
        return _share_head(token, position)
    try:
        download = _retention().shares.download(token, position, remote=remote_addr())
    except NotFound:
        return _not_found()
    except RateLimited as exc:
        return _throttled(exc)
    if download.file is None:  # in the object store
        response = stream_stored(
            download.sha256,
            download.size,
            download.content_type,
            conditional=False,
            body=download.body,
        )
    else:  # the original, opened before the download was counted (ACC-6, RET-13)
        response = send_file(
            download.file, mimetype=download.content_type, conditional=False, max_age=0
        )
        response.content_length = download.size
    response.headers["Content-Disposition"] = content_disposition(
        download.name,
        attachment=True,
        default=f"release-{position}.zip",
        content_type=download.content_type,
    )
    return _private(response)


def _share_head(token: str, position: int) -> Response:
    """A HEAD of a shared file sends no bytes: its type and size from the link's landing
    (checked and throttled as a GET is), neither counted as one of the link's downloads
    nor recorded as a download (ACC-5, ACC-6: the custody chain says what went out)."""
    try:
        landing = _retention().shares.landing(token, remote=remote_addr())
    except NotFound:
        return _not_found()
    except RateLimited as exc:
        return _throttled(exc)
    shared = next((f for f in landing.files if f.position == position), None)
    if shared is None:
        return _not_found()
    response = Response(status=200, mimetype=shared.content_type)
    response.content_length = shared.size
    response.headers["Content-Disposition"] = content_disposition(
        shared.name,
        attachment=True,
        default=f"release-{position}.zip",
        content_type=shared.content_type,
    )
    return _private(response)
