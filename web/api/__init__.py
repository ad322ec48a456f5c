"""REST API blueprints (``/api/v1``): handlers parse, call a service, serialise."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request

from vms.bounded import MAX_INT, parse_int, parse_time
from vms.errors import InvalidArgument


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return body


def time_arg(name: str) -> dt.datetime | None:
    """The query argument ``name`` as a bounded aware UTC time, or None when absent."""
    value = request.args.get(name)
    if not value:
        return None
    return parse_time(value, name)


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """The query argument ``name`` as a whole number in ``minimum..maximum``, or
    ``default`` when absent."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    return parse_int(value, name, minimum=minimum, maximum=maximum)
