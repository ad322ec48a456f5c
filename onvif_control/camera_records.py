"""A camera as shown (API, CLI, pages), read from its row: stream URIs without
credentials, never the password (#10.11). Written by :mod:`onvif_control.cameras`
(onboarding and edits) and :mod:`onvif_control.camera_certificates` (a new pin).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from onvif_control.adapter.models import Preset
from vms.camera_model import Calibration
from vms.db.models import Camera
from vms.errors import NotFound
from vms.urls import redact_credentials


@dataclass(frozen=True)
class CameraRecord:
    """A camera as shown (API, CLI, pages): stream URIs without credentials, never
    the password. ``health`` is online, offline or unknown (OPS-1)."""

    id: str
    name: str
    onvif_url: str
    username: str
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    profile_token: str
    sub_profile_token: str | None
    main_stream_uri: str | None
    sub_stream_uri: str | None
    ptz_supported: bool
    presets: tuple[Preset, ...]
    calibration: Calibration
    tls_fingerprint: str | None
    tls_ca: bool
    rtsp_tls_fingerprint: str | None
    # The host:port that pin belongs to (a stream elsewhere is refused until accepted).
    rtsp_tls_endpoint: str | None
    health: str
    health_detail: str | None
    last_seen_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class CameraDetail(CameraRecord):
    """A camera with what it told at onboarding: profiles, PTZ node and configuration
    (as the device described them)."""

    capabilities: dict[str, Any]


def camera_record(camera: Camera) -> CameraRecord:
    return CameraRecord(**_shown_fields(camera))


def camera_detail(camera: Camera) -> CameraDetail:
    return CameraDetail(**_shown_fields(camera), capabilities=camera.capabilities)


def _shown_fields(camera: Camera) -> dict[str, Any]:
    return {
        "id": camera.id,
        "name": camera.name,
        "onvif_url": redact_credentials(camera.onvif_url),
        "username": camera.username,
        "manufacturer": camera.manufacturer,
        "model": camera.model,
        "firmware": camera.firmware,
        "serial": camera.serial,
        "profile_token": camera.profile_token,
        "sub_profile_token": camera.sub_profile_token,
        "main_stream_uri": shown_uri(camera.main_stream_uri),
        "sub_stream_uri": shown_uri(camera.sub_stream_uri),
        "ptz_supported": camera.ptz_supported,
        "presets": tuple(Preset(**p) for p in camera.presets),
        "calibration": Calibration.from_dict(camera.calibration),
        "tls_fingerprint": camera.tls_fingerprint,
        "tls_ca": camera.tls_ca_pem is not None,
        "rtsp_tls_fingerprint": camera.rtsp_tls_fingerprint,
        "rtsp_tls_endpoint": camera.rtsp_tls_endpoint,
        "health": camera.health,
        "health_detail": camera.health_detail,
        "last_seen_at": camera.last_seen_at,
        "created_at": camera.created_at,
        "updated_at": camera.updated_at,
    }


def camera_row(s: Any, camera_id: str, *, lock: bool = False) -> Camera:
    """The camera; ``lock`` (for a change): its row locked first, so a delete at the
    same instant either waits for the change or leaves nothing to change (a 404;
    an UPDATE of the row deleted in between was a StaleDataError, a 500)."""
    camera = s.get(Camera, camera_id, with_for_update=lock or None)
    if camera is None:
        raise NotFound(f"camera {camera_id!r} does not exist")
    assert isinstance(camera, Camera)
    return camera


def shown_uri(url: str | None) -> str | None:
    """``url`` without the credentials a camera may have put in it (#10.11)."""
    return redact_credentials(url) if url is not None else None
