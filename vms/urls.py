"""URLs without their secrets: the one function that every URL, or message that may hold
one, goes through before it is logged, audited, stored as a detail, put in an error or
returned by the API (#10.11).

Camera URLs carry credentials (``rtsp://user:password@host/...``): the recorder builds
them for FFmpeg, cameras return them from ``GetStreamUri``, users paste them. Pure: no
I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

REDACTED = "***"

# ``scheme://`` then the user info up to the last ``@`` of the same token (a password
# may hold a raw ``@``); a token ends at white space, a quote or an angle bracket.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s'\"<>]*)@")


def _redact(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    user, colon, _ = userinfo.partition(":")
    # ``user:password@`` keeps the user (useful in a log); anything else (a bare token,
    # or an ``@`` further along a path) is hidden whole.
    keep = f"{user}:" if colon and "/" not in user and user else ""
    return f"{match.group('scheme')}{keep}{REDACTED}@"


def redact_credentials(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it replaced
    by ``***`` (``rtsp://admin:***@cam/1``); a user info without a password is hidden
    whole (``https://***@host``). Text without such URLs comes back unchanged."""
    if "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(_redact, text)


def redact_json(value: Any) -> Any:
    """A JSON-like value (dicts, lists, scalars) with :func:`redact_credentials` applied
    to every string in it, keys included."""
    if isinstance(value, str):
        return redact_credentials(value)
    if isinstance(value, dict):
        return {redact_json(k): redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value


STREAM_SCHEMES = ("rtsp", "rtsps")


def stream_url_problem(url: str, camera_host: str, other_hosts: Iterable[str] = ()) -> str | None:
    """Why a camera's stream URL (``GetStreamUri``'s answer) may not be opened, or None.

    FFmpeg opens whatever it is given: ``file:``, ``concat:``, ``subfile:`` or ``http:``
    would record a local file or the media node's own services as footage, and another
    host would receive the camera's credentials. So only ``rtsp``/``rtsps`` to
    ``camera_host`` (the ONVIF host the admin entered) or one of ``other_hosts`` (a relay
    the admin named, ``[cameras] stream_hosts``) is allowed. Hosts compare without case.
    A URL that does not parse, or whose port is no TCP port, is refused here too: it
    would fail later where a ValueError is no answer (the certificate API, the relay)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsed here: out of range or not a number raises)
    except ValueError as exc:
        return f"it does not parse as a URL with a TCP port ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in STREAM_SCHEMES:
        return f"its scheme is {scheme or 'missing'!r}, not rtsp or rtsps"
    host = (parts.hostname or "").lower()
    allowed = {camera_host.lower(), *(h.strip().lower() for h in other_hosts if h.strip())}
    if host not in allowed:
        return f"its host {host or 'missing'!r} is not the camera's ({camera_host!r})"
    return None
