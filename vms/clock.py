"""Injected time (INV-7).

Code that decides by time takes a :class:`Clock` (or a ``now`` value) instead of reading
the wall clock, so tests can move time without sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import zoneinfo
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    """Something that tells the current time: wall time as an aware UTC datetime, and a
    monotonic reading in seconds for durations and deadlines inside a process (never
    stored, never compared with wall time)."""

    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock (the one place production code reads it; ruff TID251 bans the
    readings elsewhere, docs/design/time.md)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to (tests, simulations).

    Wall and monotonic time move together: :meth:`advance` moves both by ``delta``;
    :meth:`set` moves the monotonic reading by as much as the wall time moved forward,
    and leaves it where it is when the wall time is set back (as a real system's
    monotonic clock does when its wall clock is stepped back). The monotonic reading
    starts well above zero, like a real one, so it is never mistaken for a ``0.0``
    "never happened" default.
    """

    def __init__(self, start: dt.datetime, monotonic: float = 1000.0) -> None:
        self._now = ensure_utc(start)
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def advance(self, delta: dt.timedelta | float) -> None:
        """Move both readings forward by ``delta`` (a timedelta or seconds)."""
        step = delta if isinstance(delta, dt.timedelta) else dt.timedelta(seconds=delta)
        if step < dt.timedelta(0):
            raise ValueError(f"a clock does not advance by a negative delta ({step})")
        with self._lock:
            self._now += step
            self._monotonic += step.total_seconds()

    def set(self, when: dt.datetime) -> None:
        when = ensure_utc(when)
        with self._lock:
            self._monotonic += max(0.0, (when - self._now).total_seconds())
            self._now = when


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


def agency_zone(name: str, *, field: str = "time_zone") -> dt.tzinfo:
    """The agency's time zone by its IANA name (``America/Chicago``; ``UTC``): the
    calendar its reports' months and its normal hours are written in. Times are still
    stored and shown in UTC (INV-7); only the edges of a month or an hour window are
    placed in the agency's day. ValueError naming ``field`` and the value otherwise."""
    text = name.strip() if isinstance(name, str) else ""
    if text.upper() == "UTC":
        return UTC
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{field}: {name!r} is not a time zone name such as UTC or America/Chicago"
        ) from None
