"""PTZ API: sessions, commands, status (``/api/v1/cameras/{id}/ptz...``) and the PTZ
audit for auditors (``/api/v1/audit/ptz``, ``/api/v1/audit/ptz/report``).

Every session change and command is authorised, arbitrated and audited by the PTZ
service (INV-6, PSCS-2); these handlers only parse and serialise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from onvif_control.plugin import CameraControl, get
from onvif_control.ptz_audit import PtzAuditQuery, to_csv
from vms.auth.permissions import Action
from vms.db.models import Role
from vms.errors import InvalidArgument
from web.api import json_body, time_arg
from web.security import require_actor, services

bp = Blueprint("ptz_api", __name__)


def control() -> CameraControl:
    return get(services())


@bp.post("/cameras/<camera_id>/ptz/session")
def open_session(camera_id: str) -> Any:
    """``{purpose, incident_number?, note?, reserve?}`` -> ``{session_id, expires_at}``."""
    actor = require_actor()
    response = jsonify(control().ptz.open_session(actor, camera_id, json_body()))
    response.status_code = 201
    return response


@bp.get("/cameras/<camera_id>/ptz/session")
def current_session(camera_id: str) -> Any:
    """Who steers the camera, for the roles that watch it live (``live.view``; refusals
    audited, ACC-1); the session id only to its holder and admins (issue 10, item 13)."""
    actor = require_actor()
    services().authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
    controller = control().ptz.controller(camera_id)
    holder = controller is not None and controller.get("username") == actor.username
    if controller is not None and not holder and actor.role is not Role.ADMIN:
        controller = {k: v for k, v in controller.items() if k != "session_id"}
    return jsonify({"controller": controller})


@bp.delete("/cameras/<camera_id>/ptz/session")
def close_session(camera_id: str) -> Any:
    """Release your session (or, as an admin, anyone's); ``?session_id=`` optional."""
    actor = require_actor()
    session_id = request.args.get("session_id") or None
    return jsonify(control().ptz.close_session(actor, camera_id, session_id))


@bp.post("/cameras/<camera_id>/ptz")
def command(camera_id: str) -> Any:
    """``{session_id, op, pan?, tilt?, zoom?, speed?, preset?, timeout?, units?}``."""
    actor = require_actor()
    return jsonify(control().ptz.command(actor, camera_id, json_body()))


@bp.get("/cameras/<camera_id>/ptz/status")
def status(camera_id: str) -> Any:
    actor = require_actor()
    return jsonify(control().ptz.status(actor, camera_id))


@bp.get("/audit/ptz")
def ptz_audit() -> Any:
    """``?camera=&user=&start=&end=&format=json|csv`` (auditors, admins)."""
    actor = require_actor()
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidArgument(f"format {fmt!r} must be json or csv")
    query = PtzAuditQuery(
        camera=request.args.get("camera") or None,
        user=request.args.get("user") or None,
        start=time_arg("start"),
        end=time_arg("end"),
    )
    rows = control().audit.entries(actor, query)
    if fmt == "csv":
        return Response(
            to_csv(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="ptz-audit.csv"'},
        )
    return jsonify({"entries": rows})


@bp.get("/audit/ptz/report")
def ptz_report() -> Any:
    """``?start=&end=`` (default: the last 7 days): the PTZ-use report."""
    actor = require_actor()
    end = time_arg("end") or services().clock.now()
    start = time_arg("start") or end - dt.timedelta(days=7)
    return jsonify(control().audit.report(actor, start, end))
