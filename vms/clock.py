"""Injected time (INV-7).

Code that decides by time takes a :class:`Clock` (or a ``now`` value) instead of reading
the wall clock, so tests can move time without sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = ensure_utc(start)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when)


def ensure_utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as an aware UTC datetime; naive datetimes are refused (INV-7)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (INV-7: times must be UTC-aware)")
    return value.astimezone(UTC)


def parse_iso(text: str, *, field: str = "time") -> dt.datetime:
    """Parse an ISO 8601 timestamp with an offset (``Z`` accepted) into aware UTC.

    Raises :class:`ValueError` naming ``field`` and the value when it has no offset, does
    not parse or is not representable in UTC. Input from clients goes through
    :func:`vms.bounded.parse_time`, which also bounds it.
    """
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{field}: {text!r} is not an ISO 8601 timestamp") from exc
    if value.tzinfo is None:
        raise ValueError(f"{field}: {text!r} has no UTC offset (write it as ...Z or +00:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise ValueError(f"{field}: {text!r} is out of range") from exc


def isoformat(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, or None."""
    if value is None:
        return None
    return ensure_utc(value).isoformat().replace("+00:00", "Z")
