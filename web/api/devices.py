"""Devices API (``/api/v1/devices``): which officers a BWC/dash/handheld device is issued
to (issue #10.1). Admins only (``devices.manage``); every change audited."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from vms.errors import InvalidArgument
from web.api import json_body
from web.security import require_actor, services

bp = Blueprint("devices_api", __name__)


@bp.get("/devices")
def list_devices() -> Any:
    """Every device with its officers, and whether assignment is enforced."""
    actor = require_actor()
    return jsonify(services().devices.list_devices(actor))


@bp.put("/devices/<device_id>/officers/<badge>")
def assign(device_id: str, badge: str) -> Any:
    """Issue the device to the officer; an optional body ``{"kind": "bwc|dash|handheld"}``
    registers a device never seen before with that kind (default bwc)."""
    actor = require_actor()
    body = json_body() if request.content_length else {}
    unknown = set(body) - {"kind"}
    if unknown:
        raise InvalidArgument(f"unknown field(s) {', '.join(sorted(unknown))}")
    kind = body.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise InvalidArgument(f"kind must be a string, not {kind!r}")
    return jsonify(services().devices.assign(actor, device_id, badge, kind=kind))


@bp.delete("/devices/<device_id>/officers/<badge>")
def unassign(device_id: str, badge: str) -> Any:
    actor = require_actor()
    return jsonify(services().devices.unassign(actor, device_id, badge))
