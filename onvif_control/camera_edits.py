"""What an edit of a camera may store, and what its audit entry says of it (``PATCH``,
:meth:`onvif_control.cameras.CameraService.update`; docs/design/security.md, "Camera
certificates", 5, 9 and 11): the expected certificate of a move, a stream moved away
from its pin, and no stream downgraded from ``rtsps``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from onvif_control.tls_pins import format_fingerprint, parse_fingerprint
from vms.db.models import Camera
from vms.media.rtsps import stream_endpoint

log = logging.getLogger("onvif_control.cameras")


# Not copied into a camera edit's audit entry: the password never, the expected
# certificate as ``tls_fingerprint_expected`` (``tls_fingerprint`` names the pin change).
NOT_COPIED = ("password", "tls_fingerprint")


def expected_in(changes: Mapping[str, str]) -> dict[str, str]:
    """``{"tls_fingerprint_expected": ...}`` (canonical) for an edit that names one."""
    given = changes.get("tls_fingerprint")
    if given is None:
        return {}
    return {"tls_fingerprint_expected": format_fingerprint(parse_fingerprint(given))}


def downgrade(camera_id: str, before: str | None, after: str | None) -> str | None:
    """Why an edit may not store ``after`` as the main stream of a camera whose stream
    was ``before``: TLS dropped (``rtsps`` to anything else), which would record its
    video in clear and unchecked, taken from whoever answered the re-read
    (docs/design/security.md, "Camera certificates", 11); None when TLS stays (or was
    never there)."""
    was_tls = (before or "").lower().startswith("rtsps://")
    if not was_tls or (after or "").lower().startswith("rtsps://"):
        return None
    return (
        f"camera {camera_id} now gives its main stream as {after or 'none'} where it was "
        f"{before}: its video would be recorded without TLS and unchecked, so nothing was "
        "changed. Turn RTSPS back on at the camera and retry; to record it over plain "
        "rtsp, remove the camera and onboard it again"
    )


def stream_moved(camera: Camera) -> dict[str, Any]:
    """``{"stream_moved": ...}`` for the audit of an edit after which the camera's
    ``rtsps`` stream is at another host or port than its own pin was taken at: the pin
    stays with its place and the stream is refused at the new one until an admin accepts
    the certificate presented there (docs/design/security.md, "Camera certificates", 9);
    empty otherwise (the same place keeps its pin)."""
    pinned_at = camera.rtsp_tls_endpoint
    now_at = stream_endpoint(camera.main_stream_uri)
    if camera.rtsp_tls_fingerprint is None or pinned_at is None or now_at == pinned_at:
        return {}
    log.warning(
        "camera %s: rtsps stream moved %s -> %s; its pin %s stays with %s until an admin "
        "accepts the certificate at the new place",
        camera.name,
        pinned_at,
        now_at,
        camera.rtsp_tls_fingerprint,
        pinned_at,
    )
    return {
        "stream_moved": {
            "from": pinned_at,
            "to": now_at,
            "rtsp_tls_fingerprint": camera.rtsp_tls_fingerprint,
        }
    }
