"""The retention API (``/api/v1``): preservation requests (RET-2, RET-3), legal holds
(RET-10), cases (RET-5), the destruction log and upcoming deletions (RET-13), and the
tagging reports (TAG-3, TAG-7). Handlers parse, call a retention service, serialise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from retention.plugin import Retention, get
from web.api import int_arg, json_body
from web.security import require_actor, services

bp = Blueprint("retention_api", __name__)


def retention() -> Retention:
    return get(services())


@bp.post("/preservation-requests")
def create_request() -> Any:
    actor = require_actor()
    response = jsonify(retention().preservation.create(actor, json_body()))
    response.status_code = 201
    return response


@bp.get("/preservation-requests")
def list_requests() -> Any:
    actor = require_actor()
    rows = retention().preservation.log(
        actor, state=request.args.get("state") or None, limit=int_arg("limit", 100)
    )
    return jsonify({"requests": rows})


@bp.get("/preservation-requests/<request_id>")
def get_request(request_id: str) -> Any:
    actor = require_actor()
    return jsonify(retention().preservation.get(actor, request_id))


@bp.post("/preservation-requests/<request_id>/release")
def release_request(request_id: str) -> Any:
    actor = require_actor()
    return jsonify(retention().preservation.release(actor, request_id, json_body()))


@bp.post("/preservation-requests/<request_id>/form")
def attach_form(request_id: str) -> Any:
    """The scanned form: the raw PDF as the body (or a multipart ``file`` field)."""
    actor = require_actor()
    upload = request.files.get("file")
    if upload is not None:
        body: Any = upload.stream
        filename = upload.filename
    else:
        body = request.stream  # streamed to the store, never held whole in memory
        filename = request.args.get("filename") or "preservation-form.pdf"
    return jsonify(retention().preservation.attach_form(actor, request_id, body, filename))


@bp.post("/legal-holds")
def create_hold() -> Any:
    actor = require_actor()
    response = jsonify(retention().legal_holds.create(actor, json_body()))
    response.status_code = 201
    return response


@bp.get("/legal-holds")
def list_holds() -> Any:
    actor = require_actor()
    return jsonify({"holds": retention().legal_holds.log(actor)})


@bp.get("/legal-holds/<hold_id>")
def get_hold(hold_id: str) -> Any:
    actor = require_actor()
    return jsonify(retention().legal_holds.get(actor, hold_id))


@bp.post("/legal-holds/<hold_id>/release")
def release_hold(hold_id: str) -> Any:
    actor = require_actor()
    return jsonify(retention().legal_holds.release(actor, hold_id, json_body()))


@bp.put("/cases/<case_number>")
def set_case(case_number: str) -> Any:
    """``{"state": "open" | "closed"}`` (RET-5)."""
    actor = require_actor()
    body = json_body()
    return jsonify(retention().cases.set_state(actor, case_number, str(body.get("state"))))


@bp.get("/retention/destruction-log")
def destruction_log() -> Any:
    actor = require_actor()
    before = int_arg("before_id", 0) or None
    return jsonify(
        retention().reports.destruction_log(
            actor,
            before_id=before,
            device_id=request.args.get("device_id") or None,
            limit=int_arg("limit", 100),
        )
    )


@bp.get("/retention/upcoming")
def upcoming() -> Any:
    actor = require_actor()
    return jsonify(
        retention().reports.upcoming(actor, days=int_arg("days", 7), limit=int_arg("limit", 500))
    )


@bp.get("/reports/untagged")
def untagged() -> Any:
    actor = require_actor()
    return jsonify(retention().reports.untagged(actor, limit=int_arg("limit", 500)))


@bp.get("/reports/monthly")
def monthly() -> Any:
    actor = require_actor()
    month = request.args.get("month") or services().clock.now().strftime("%Y-%m")
    return jsonify(retention().reports.monthly(actor, month))
