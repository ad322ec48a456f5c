"""Retention pages: the preservation request log with its form (RET-3), and where the
retention API blueprint is registered (``register(app)``, one line in ``create_app``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, render_template, request, url_for

from retention.plugin import get
from retention.preservation import MAX_LOG_OFFSET
from vms.auth.permissions import Action
from vms.bounded import parse_int
from vms.errors import VMSError
from web.api import retention as retention_api
from web.bus import deliver
from web.contract import parse_model
from web.pages.blueprint import page_blueprint
from web.schemas.retention import NewPreservationIn
from web.security import require_actor, services
from web.vms_app import services_of

bp = page_blueprint("retention_pages", __name__)
LOG_PAGE = 100  # requests a page of the log shows; "Older" and "Newer" page on (RET-3)


# Service events every signed-in browser is told of (the disk alarm of INV-3).
BROADCAST_TOPICS = frozenset({"retention.disk_alarm"})
SIGNED_IN_ROOM = "signed-in"  # joined by every authenticated Socket.IO connection


def register(app: Flask) -> None:
    """Register the retention API and pages, and forward the disk alarm to browsers."""
    app.register_blueprint(retention_api.bp, url_prefix="/api/v1")
    app.register_blueprint(bp)

    def forward(topic: str, payload: dict[str, Any]) -> None:
        socketio = app.extensions.get("socketio")  # set once create_app made it
        if topic in BROADCAST_TOPICS and socketio is not None:
            deliver(socketio, topic, payload, SIGNED_IN_ROOM)

    services_of(app).events.subscribe(forward)


def parse_scope_lines(text: str) -> list[dict[str, str]]:
    """Form scope, one part a line: ``device:CAM-1 START END`` or ``officer:B1 START END``."""
    out: list[dict[str, str]] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or ":" not in parts[0]:
            raise ValueError(f"scope line {line.strip()!r}: write 'device:ID START END'")
        kind, _, name = parts[0].partition(":")
        key = {"device": "device_id", "officer": "officer_badge"}.get(kind)
        if key is None:
            raise ValueError(f"scope line {line.strip()!r}: start with device: or officer:")
        out.append({key: name, "start": parts[1], "end": parts[2]})
    return out


def _form_data(form: Any) -> dict[str, Any]:
    """The form's fields as the API's request body (``NewPreservationIn``)."""
    return {
        "request_number": form.get("request_number", ""),
        "requester": {
            "name": form.get("requester_name", ""),
            "organization": form.get("requester_organization") or None,
            "contact": form.get("requester_contact") or None,
        },
        "received_at": form.get("received_at", ""),
        "received_via": form.get("received_via", ""),
        "reason": form.get("reason", ""),
        "litigation_anticipated": form.get("litigation_anticipated") == "on",
        "case_number": form.get("case_number") or None,
        "scope": parse_scope_lines(form.get("scope", "")),
        "media_ids": form.get("media_ids", "").split(),
    }


@bp.route("/retention/preservation", methods=["GET", "POST"])
def preservation() -> Any:
    actor = require_actor()
    retention = get(services())
    error = None
    status = 200
    if request.method == "POST":  # CSRF is checked by require_actor for sessions
        try:
            command = parse_model(NewPreservationIn, _form_data(request.form)).command()
            created = retention.preservation.create(actor, command)
        except ValueError as exc:
            error, status = str(exc), 400
        except VMSError as exc:
            error, status = exc.message, exc.http_status
        else:
            return redirect(url_for("retention_pages.preservation", created=created.id))
    offset = parse_int(request.args.get("offset") or "0", "offset", maximum=MAX_LOG_OFFSET)
    requests = retention.preservation.log(actor, limit=LOG_PAGE + 1, offset=offset)
    return (
        render_template(
            "preservation.html",
            requests=requests[:LOG_PAGE],
            older=offset + LOG_PAGE if len(requests) > LOG_PAGE else None,
            newer=max(offset - LOG_PAGE, 0) if offset else None,
            error=error,
            form=request.form,
            created=request.args.get("created"),
            can_manage=services().authoriser.allows(actor, Action.PRESERVATION_MANAGE),
        ),
        status,
    )
