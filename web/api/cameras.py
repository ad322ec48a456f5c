"""Cameras API (``/api/v1/cameras``): onboarding, listing, editing, calibration (issue 4
item 2). Handlers parse, call the camera service, serialise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from onvif_control.cameras import CameraService
from onvif_control.plugin import get
from web.api import json_body
from web.security import require_actor, services

bp = Blueprint("cameras_api", __name__)


def cameras() -> CameraService:
    return get(services()).cameras


@bp.post("/cameras")
def add_camera() -> Any:
    """``{name, onvif_url, username, password, calibration?}`` (admin): connects first."""
    actor = require_actor()
    response = jsonify(cameras().add(actor, json_body()))
    response.status_code = 201
    return response


@bp.get("/cameras")
def list_cameras() -> Any:
    actor = require_actor()
    return jsonify({"cameras": cameras().list_cameras(actor)})


@bp.get("/cameras/<camera_id>")
def get_camera(camera_id: str) -> Any:
    actor = require_actor()
    return jsonify(cameras().get(actor, camera_id))


@bp.patch("/cameras/<camera_id>")
def update_camera(camera_id: str) -> Any:
    actor = require_actor()
    return jsonify(cameras().update(actor, camera_id, json_body()))


@bp.delete("/cameras/<camera_id>")
def delete_camera(camera_id: str) -> Any:
    actor = require_actor()
    cameras().delete(actor, camera_id)
    return Response(status=204)


@bp.put("/cameras/<camera_id>/calibration")
def put_calibration(camera_id: str) -> Any:
    """The whole calibration; fields left out take their defaults."""
    actor = require_actor()
    return jsonify(cameras().set_calibration(actor, camera_id, json_body()))
