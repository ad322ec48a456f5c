"""``POST /api/v1/auth/token``: exchange a username and password for a bearer token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from vms.clock import isoformat
from vms.errors import InvalidArgument
from web.api import json_body
from web.security import remote_addr, require_actor, services

bp = Blueprint("auth_api", __name__)


@bp.post("/auth/token")
def token() -> Any:
    body = json_body()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidArgument("username and password (strings) are required")
    actor = services().users.authenticate(username, password, remote_addr())
    issued = services().users.issue_token(actor)
    return jsonify({"token": issued.token, "expires_at": isoformat(issued.expires_at)}), 201


@bp.get("/auth/me")
def me() -> Any:
    actor = require_actor()
    return jsonify(
        {
            "username": actor.username,
            "role": actor.role.value,
            "badge": actor.badge,
            "supervises": sorted(actor.supervised_badges),
        }
    )
