"""Privacy masks API (``/api/v1/cameras/<id>/masks``): admin only, audited (PSCS-1)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from privacy_masks.service import MaskService
from vms.errors import Unavailable
from web.api import json_body
from web.security import require_actor, services

bp = Blueprint("masks_api", __name__)


def masks() -> MaskService:
    service = services().ports.find(MaskService)
    if service is None:
        raise Unavailable("privacy masks are not installed")
    return service


@bp.get("/cameras/<camera_id>/masks")
def list_masks(camera_id: str) -> Any:
    return jsonify(masks().list_masks(require_actor(), camera_id))


@bp.post("/cameras/<camera_id>/masks")
def create_mask(camera_id: str) -> Any:
    response = jsonify(masks().create(require_actor(), camera_id, json_body()))
    response.status_code = 201
    return response


@bp.put("/cameras/<camera_id>/masks/<mask_id>")
def update_mask(camera_id: str, mask_id: str) -> Any:
    return jsonify(masks().update(require_actor(), camera_id, mask_id, json_body()))


@bp.delete("/cameras/<camera_id>/masks/<mask_id>")
def delete_mask(camera_id: str, mask_id: str) -> Any:
    return jsonify(masks().delete(require_actor(), camera_id, mask_id))
