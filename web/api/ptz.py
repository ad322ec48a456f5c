"""PTZ API: sessions, commands, status (``/api/v1/cameras/{id}/ptz...``) and the PTZ
audit for auditors (``/api/v1/audit/ptz``, ``/api/v1/audit/ptz/report``).

Every session change and command is authorised, arbitrated and audited by the PTZ
service (INV-6, PSCS-2); these handlers only parse and serialise. A command or session
request whose body the request model refuses is still handed to the service, which
authorises and audits the refusal (:func:`refuse_command`, :func:`refuse_session`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import Response

from onvif_control.plugin import CameraControl, get
from onvif_control.ptz import PtzService
from onvif_control.ptz_audit import PtzAuditQuery, to_csv
from onvif_control.ptz_commands import MalformedCommand, PtzState
from onvif_control.ptz_sessions import SessionView
from vms.auth.permissions import Action, Actor
from vms.bounded import shown
from vms.db.models import Role
from vms.errors import InvalidArgument
from web.contract import ApiBlueprint, parse_model, text
from web.schemas.ptz import (
    CloseSessionQuery,
    CommandOut,
    ControllerOut,
    OpenSessionIn,
    PtzAuditOut,
    PtzAuditQueryIn,
    PtzCommandIn,
    PtzReportOut,
    PtzReportQuery,
    SessionOut,
    StatusOut,
)
from web.security import require_actor, services

bp = ApiBlueprint("ptz_api", __name__, tag="ptz")


def control() -> CameraControl:
    return get(services())


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else shown(value)


def refuse_command(
    ptz: PtzService, actor: Actor, camera_id: str, error: InvalidArgument, data: Any
) -> None:
    """A command body the model refused: the PTZ service authorises and audits it as a
    refused command (INV-6), then the error (or the session's, or the permission's) is
    raised."""
    sent = data if isinstance(data, dict) else {}
    attempt = MalformedCommand(
        session_id=_as_text(sent.get("session_id")),
        op=_as_text(sent.get("op")),
        args={k: v for k, v in sent.items() if k not in ("session_id", "op")},
    )
    raise ptz.refuse_malformed(actor, camera_id, attempt, error)


def refuse_session(actor: Actor, camera_id: str, error: InvalidArgument, data: Any) -> None:
    """A session request the model refused: authorised, audited, raised (PSCS-2)."""
    sent = data if isinstance(data, dict) else {}
    asked = {k: sent.get(k) for k in ("purpose", "incident_number", "reserve")}
    raise control().ptz.refuse_malformed_session(actor, camera_id, asked, error)


def command_from(ptz: PtzService, actor: Actor, camera_id: str, data: Any) -> dict[str, Any]:
    """Parse a command as ``POST .../ptz`` does and run it: for the Socket.IO joystick
    (same model, same service, same audit; INV-6). The answer is the REST API's JSON."""
    try:
        if not isinstance(data, dict):
            raise InvalidArgument("the command must be a JSON object")
        body = parse_model(PtzCommandIn, data)
    except InvalidArgument as exc:
        refuse_command(ptz, actor, camera_id, exc, data)
        raise
    result = ptz.command(actor, camera_id, body.command())
    return CommandOut.model_validate(result, from_attributes=True).model_dump(mode="json")


def shown_to(actor: Actor, controller: SessionView | None) -> SessionView | None:
    """``controller`` as ``actor`` may see it: its session id only to its holder and
    admins (issue 10, item 13; everywhere a controller is shown)."""
    holder = controller is not None and controller.username == actor.username
    if controller is not None and not holder and actor.role is not Role.ADMIN:
        return dataclasses.replace(controller, session_id=None)
    return controller


def status_of(ptz: PtzService, actor: Actor, camera_id: str) -> PtzState:
    """``GET .../ptz/status`` for ``actor`` (the controller as :func:`shown_to` says)."""
    state = ptz.status(actor, camera_id)
    return dataclasses.replace(state, controller=shown_to(actor, state.controller))


def status_json(ptz: PtzService, actor: Actor, camera_id: str) -> dict[str, Any]:
    """``GET .../ptz/status``'s JSON, for the Socket.IO ``ptz.status`` event."""
    state = status_of(ptz, actor, camera_id)
    return StatusOut.model_validate(state, from_attributes=True).model_dump(mode="json")


@bp.operation(
    "POST",
    "/cameras/<camera_id>/ptz/session",
    body=OpenSessionIn,
    response=SessionOut,
    status=201,
    on_invalid_body=lambda error, data, camera_id: refuse_session(
        require_actor(), camera_id, error, data
    ),
)
def open_session(camera_id: str, body: OpenSessionIn) -> Any:
    """Take control of a camera's PTZ.

    Arbitrated by role priority and idle expiry (rules A1-A5); a higher-priority user
    takes over (the displaced operator is told); an admin may reserve a camera for
    maintenance. Granted or refused, the request is audited (INV-6, PSCS-2)."""
    return control().ptz.open_session(require_actor(), camera_id, body.command())


@bp.operation("GET", "/cameras/<camera_id>/ptz/session", response=ControllerOut)
def current_session(camera_id: str) -> Any:
    """Who steers the camera.

    For the roles that watch it live (``live.view``; refusals audited, ACC-1); the
    session id only to its holder and admins (issue 10, item 13)."""
    actor = require_actor()
    services().authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
    state = control().ptz.control(camera_id)
    return {"controller": shown_to(actor, state.controller), "session_seq": state.session_seq}


@bp.operation(
    "DELETE", "/cameras/<camera_id>/ptz/session", query=CloseSessionQuery, response=SessionOut
)
def close_session(camera_id: str, query: CloseSessionQuery) -> Any:
    """Release your session (or, as an admin, anyone's: A6); ``?session_id=`` optional."""
    return control().ptz.close_session(require_actor(), camera_id, query.session_id)


@bp.operation(
    "POST",
    "/cameras/<camera_id>/ptz",
    body=PtzCommandIn,
    response=CommandOut,
    on_invalid_body=lambda error, data, camera_id: refuse_command(
        control().ptz, require_actor(), camera_id, error, data
    ),
)
def command(camera_id: str, body: PtzCommandIn) -> Any:
    """Send a PTZ command in your session.

    Checked against the software limits (clamped or refused), rate-limited per session,
    and audited with the poses before and after, granted or refused (INV-6)."""
    return control().ptz.command(require_actor(), camera_id, body.command())


@bp.operation("GET", "/cameras/<camera_id>/ptz/status", response=StatusOut)
def status(camera_id: str) -> Any:
    """A camera's pose, whether it moves, and who controls it (the session id only to
    its holder and admins)."""
    return status_of(control().ptz, require_actor(), camera_id)


@bp.operation(
    "GET",
    "/audit/ptz",
    query=PtzAuditQueryIn,
    response=PtzAuditOut,
    responses={200: text("text/csv", "The entries as CSV (``format=csv``)")},
)
def ptz_audit(query: PtzAuditQueryIn) -> Any:
    """PTZ audit entries, oldest first (auditors, admins).

    Filtered by camera, user (including what the system did to their sessions) and
    period; ``format=csv`` for a spreadsheet. Reading them is audited (ACC-6)."""
    q = PtzAuditQuery(camera=query.camera, user=query.user, start=query.start, end=query.end)
    rows = control().audit.entries(require_actor(), q)
    if query.format == "csv":
        return Response(
            to_csv(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="ptz-audit.csv"'},
        )
    return {"entries": rows}


@bp.operation("GET", "/audit/ptz/report", query=PtzReportQuery, response=PtzReportOut)
def ptz_report(query: PtzReportQuery) -> Any:
    """The PTZ-use report (auditors, admins); default period: the last 7 days."""
    end = query.end or services().clock.now()
    start = query.start or end - dt.timedelta(days=7)
    return control().audit.report(require_actor(), start, end)
