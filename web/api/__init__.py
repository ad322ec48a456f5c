"""REST API blueprints (``/api/v1``): handlers parse, call a service, serialise."""

from __future__ import annotations

from typing import Any

from flask import request

from vms.clock import parse_iso
from vms.errors import InvalidArgument


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return body


def time_arg(name: str) -> Any:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return parse_iso(value, field=name)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def int_arg(name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a whole number, not {value!r}") from None
