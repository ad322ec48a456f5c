"""Times, whole numbers, numbers and months from untrusted input, parsed once and bounded.

Every time, integer or month a client sends (query strings, JSON bodies, form fields,
cursors) goes through these functions before it reaches arithmetic or the database, so an
absurd value is a 400 naming the field and the value instead of an ``OverflowError``
(``0001-01-01T00:00:00+14:00`` is not representable in UTC), an integer the database
cannot bind (``before_seq=10**23``) or a month past ``datetime.MAXYEAR`` (#10.10).

The bounds are wide enough for any real footage and any date arithmetic the VMS does on
them (retention adds years; reports step back days): years 1970..2200 and integers that
fit a signed 64-bit column.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from vms.clock import isoformat, parse_iso
from vms.errors import InvalidArgument

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
# Every representable aware time: for values the VMS itself stored (cursors), which must
# parse and be aware but may predate the input bounds.
ANY_TIME = (
    dt.datetime.min.replace(tzinfo=dt.UTC),
    dt.datetime.max.replace(tzinfo=dt.UTC),
)
MAX_INT = 2**63 - 1  # a signed 64-bit column (SQLite INTEGER, PostgreSQL BIGINT)

# Longer texts are refused before parsing: no real timestamp or number is this long, and
# the value is echoed (shortened) in the error.
_MAX_TEXT = 64
_INT = re.compile(r"[+-]?[0-9]{1,40}")  # ASCII digits only: int() also takes "1_000", "١٢"
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def shown(value: object) -> str:
    """``value`` as it is echoed in an error: its repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _MAX_TEXT + 2 else text[:_MAX_TEXT] + "...'"


def _refuse(field: str, value: object, why: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {shown(value)} {why}", field=field, value=shown(value))


def _range_text(earliest: dt.datetime, latest: dt.datetime) -> str:
    return f"is outside {isoformat(earliest)} .. {isoformat(latest)}"


def check_time(
    value: dt.datetime,
    field: str,
    *,
    earliest: dt.datetime = EARLIEST,
    latest: dt.datetime = LATEST,
) -> dt.datetime:
    """``value`` (aware) if it falls in ``earliest..latest``, else InvalidArgument."""
    if not earliest <= value <= latest:
        raise _refuse(field, isoformat(value), _range_text(earliest, latest))
    return value


def check_window(
    start: dt.datetime | None,
    end: dt.datetime | None,
    *,
    start_field: str = "start",
    end_field: str = "end",
) -> None:
    """InvalidArgument naming ``end_field`` and both values when the half-open window
    ``[start, end)`` is empty or inverted (``end <= start``); either end may be open
    (None). A search over such a window would answer "nothing" for a question that was
    asked wrongly, in silence."""
    if start is not None and end is not None and end <= start:
        raise InvalidArgument(
            f"{end_field}: {isoformat(end)!r} must be after {start_field} "
            f"{isoformat(start)!r} (an empty or inverted window)",
            field=end_field,
            value=isoformat(end),
        )


def parse_time(
    value: object,
    field: str,
    *,
    earliest: dt.datetime = EARLIEST,
    latest: dt.datetime = LATEST,
) -> dt.datetime:
    """An ISO 8601 timestamp with an offset (``Z`` or ``+hh:mm``, INV-7) as aware UTC,
    within ``earliest..latest`` (default years 1970..2200); InvalidArgument naming
    ``field`` and the value otherwise."""
    if not isinstance(value, str):
        raise _refuse(field, value, "is not an ISO 8601 timestamp (a string)")
    if len(value) > _MAX_TEXT:
        raise _refuse(field, value, f"is longer than {_MAX_TEXT} characters")
    try:
        moment = parse_iso(value, field=field)
    except ValueError as exc:
        if isinstance(exc.__cause__, OverflowError):  # not representable in UTC at all
            raise _refuse(field, value, _range_text(earliest, latest)) from None
        raise InvalidArgument(str(exc), field=field, value=shown(value)) from None
    if not earliest <= moment <= latest:
        raise _refuse(field, value, _range_text(earliest, latest))
    return moment


def parse_int(value: object, field: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """A whole number (a JSON integer or a string of ASCII digits) in
    ``minimum..maximum`` (default 0..2**63-1); InvalidArgument naming ``field`` and the
    value otherwise."""
    if isinstance(value, bool):
        raise _refuse(field, value, "is not a whole number")
    if isinstance(value, str):
        text = value.strip()
        if not _INT.fullmatch(text):
            raise _refuse(field, value, "is not a whole number")
        number = int(text)
    elif isinstance(value, int):
        number = value
    else:
        raise _refuse(field, value, "is not a whole number")
    if not minimum <= number <= maximum:
        raise _refuse(field, value, f"is outside {minimum}..{maximum}")
    return number


def parse_number(value: object, field: str) -> float:
    """A finite number from JSON (an integer or a float) as a float; InvalidArgument
    naming ``field`` and the value for anything else, including NaN, infinities (JSON
    ``Infinity`` parses) and integers too large for a float (``float(10**400)`` raises
    OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(
            f"{field} must be a number, not {shown(value)}", field=field, value=shown(value)
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidArgument(
            f"{field} must be a finite number, not {shown(value)}", field=field, value=shown(value)
        )
    return number


def parse_month(
    value: object, field: str, zone: dt.tzinfo = dt.UTC
) -> tuple[dt.datetime, dt.datetime]:
    """A month ``YYYY-MM`` within the time bounds, as its first instant and the first
    instant of the next month, midnight in ``zone`` (the agency's time zone), as UTC
    datetimes; InvalidArgument naming ``field`` and the value."""
    match = _MONTH.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise _refuse(field, value, "is not a month written YYYY-MM")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise _refuse(field, value, "is not a month written YYYY-MM (month 01..12)")
    if not EARLIEST.year <= year <= LATEST.year:
        raise _refuse(field, value, f"is outside {EARLIEST.year}-01 .. {LATEST.year}-12")
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)
