"""Pure readers of what cameras send and operators type: zeep objects into JSON-safe
values, optional numbers and paths, ISO times and durations, and the device service URL
(where credentials must not be)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vms.errors import InvalidArgument
from vms.urls import redact_credentials


def plain(value: Any) -> Any:
    """A zeep object as JSON-safe dicts, lists and scalars (for storing capabilities)."""
    # Imported here: zeep costs ~0.1 s, and the other readers here (device URLs) are used
    # by commands that talk to no camera.
    import zeep.helpers

    value = zeep.helpers.serialize_object(value, dict)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None and k != "_value_1"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def as_float(value: Any) -> float | None:
    """``value`` as a float, or None when absent or not a number."""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def cut(value: Any, limit: int = 200) -> str | None:
    """A camera's free text (model, firmware...) as a string of at most ``limit``
    characters, ending with an ellipsis when it was longer; None when absent. A camera
    may answer megabytes: the registry keeps 200 characters of each."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def get_path(obj: Any, *path: str) -> Any:
    """``obj.a.b...`` through zeep objects and dicts alike; None where a step is missing."""
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def duration(seconds: float) -> str:
    """An ``xs:duration`` (``PT1.5S``) for ONVIF timeouts."""
    return f"PT{seconds:.3f}S".replace(".000S", "S")


def parse_utc(text: str | None) -> dt.datetime | None:
    """An aware UTC time from an ISO 8601 text; None for missing, naive or bad text."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        # Year 9999 west of UTC, year 1 east of it: valid text, no UTC datetime.
        return value.astimezone(dt.UTC) if value.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def parse_onvif_url(url: str) -> tuple[str, int]:
    """Host and port of a device service URL (``http://host:port/onvif/device_service``)."""
    return onvif_endpoint(url)[1:]


def onvif_endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a device service URL: where the credentials go. Refuses a
    URL with user info, naming it without its password (#10.11)."""
    shown = redact_credentials(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # a bracketed host it cannot read ("Invalid IPv6 URL")
        raise InvalidArgument(
            f"onvif_url {shown!r} has a malformed host: one in brackets is a whole IPv6 "
            "address, [::1]",
            field="onvif_url",
        ) from None
    if "@" in parts.netloc:
        raise InvalidArgument(
            f"onvif_url {shown!r} holds credentials: put them in username and password, "
            "not the URL",
            field="onvif_url",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(
            f"onvif_url {shown!r} must be http(s)://host[:port]/...", field="onvif_url"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidArgument(
            f"onvif_url {shown!r} has an invalid port", field="onvif_url"
        ) from None
    return parts.scheme, parts.hostname.lower(), port


def on_host(url: str, host: str) -> str | None:
    """``url``, a service address a camera advertised (an XAddr), moved to ``host``: its
    scheme (http or https), port and path kept, any user info dropped; None when it is
    no http(s) URL. Calls signed with the camera's password go only to the host the
    admin gave, whatever host the camera names (#10.11; a camera behind NAT names its
    LAN address)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
