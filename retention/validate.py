"""Parsing the JSON bodies of the retention API into values, with messages that name the
field and the value (STYLE practice 4), and the shared JSON form of destruction records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from vms.bounded import parse_time
from vms.clock import isoformat
from vms.db.models import DestructionRecord
from vms.errors import InvalidArgument

MAX_MEDIA_IDS = 10_000


def _name(field: str, where: str | None) -> str:
    return f"{where}.{field}" if where else field


def required_text(body: dict[str, Any], field: str, max_len: int, where: str | None = None) -> str:
    """A non-empty printable string of at most ``max_len`` characters."""
    value = optional_text(body, field, max_len, where)
    if value is None:
        raise InvalidArgument(f"{_name(field, where)} is required")
    return value


def optional_text(
    body: dict[str, Any], field: str, max_len: int, where: str | None = None
) -> str | None:
    """A printable string (stripped; empty means absent) or None."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{_name(field, where)} must be a string, not {value!r}")
    value = value.strip()
    if len(value) > max_len or not all(c.isprintable() or c in "\n\t" for c in value):
        raise InvalidArgument(
            f"{_name(field, where)} must be at most {max_len} printable characters"
        )
    return value or None


def time_field(body: dict[str, Any], field: str, where: str | None = None) -> dt.datetime:
    """A required ISO 8601 timestamp with an offset, as aware UTC (INV-7)."""
    value = body.get(field)
    if value is None:
        raise InvalidArgument(f"{_name(field, where)} must be an ISO 8601 timestamp")
    return parse_time(value, _name(field, where))  # bounded (#10.10)


def bool_field(body: dict[str, Any], field: str) -> bool:
    value = body.get(field, False)
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field} must be true or false, not {value!r}")
    return value


def media_id_list(value: object) -> list[str]:
    """A list of media ids (deduplicated, order kept)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgument("media_ids must be a list of media ids")
    if len(value) > MAX_MEDIA_IDS:
        raise InvalidArgument(f"at most {MAX_MEDIA_IDS} media_ids per request")
    return list(dict.fromkeys(v.strip() for v in value))


def destruction_json(record: DestructionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "media_id": record.media_id,
        "sha256": record.sha256,
        "source": record.source,
        "device_id": record.device_id,
        "officer_badge": record.officer_badge,
        "recorded_start": isoformat(record.recorded_start),
        "recorded_end": isoformat(record.recorded_end),
        "size_bytes": record.size_bytes,
        "case_number": record.case_number,
        "rule": record.rule,
        "expired_at": isoformat(record.expired_at),
        "purged_at": isoformat(record.purged_at),
        "run_id": record.run_id,
    }
