"""Cameras API (``/api/v1/cameras``): onboarding, listing, editing, calibration, a new
certificate's pin (issue 4 item 2). Handlers parse, call the camera service (or the
camera certificates), serialise."""

from __future__ import annotations

from typing import Any

from flask import Response

from onvif_control.cameras import CameraService
from onvif_control.plugin import get
from web.contract import ApiBlueprint
from web.schemas.cameras import (
    CalibrationIn,
    CalibrationOut,
    CameraDetailOut,
    CameraListOut,
    CameraPatchIn,
    CertificateIn,
    NewCameraIn,
)
from web.security import require_actor, services

bp = ApiBlueprint("cameras_api", __name__, tag="cameras")


def cameras() -> CameraService:
    return get(services()).cameras


@bp.operation("POST", "/cameras", body=NewCameraIn, response=CameraDetailOut, status=201)
def add_camera(body: NewCameraIn) -> Any:
    """Onboard an ONVIF camera (admin).

    The camera is connected to first: its device information, profiles, stream URIs,
    PTZ node and presets are read, and only then is it stored. Wrong credentials or an
    unreachable address store nothing (the refusal is audited). An ONVIF URL with
    credentials in it is refused. An https camera's certificate is pinned: the one it
    presents (shown as ``tls_fingerprint``), or refused unless it is the
    ``tls_fingerprint`` given."""
    return cameras().add(require_actor(), body.command())


@bp.operation("GET", "/cameras", response=CameraListOut)
def list_cameras() -> Any:
    """Every camera with its health, for the roles that manage, view or steer cameras."""
    return {"cameras": cameras().list_cameras(require_actor())}


@bp.operation("GET", "/cameras/<camera_id>", response=CameraDetailOut)
def get_camera(camera_id: str) -> Any:
    """One camera, with what it told at onboarding (profiles, PTZ node)."""
    return cameras().get(require_actor(), camera_id)


@bp.operation("PATCH", "/cameras/<camera_id>", body=CameraPatchIn, response=CameraDetailOut)
def update_camera(camera_id: str, body: CameraPatchIn) -> Any:
    """Change a camera's name, address or credentials (admin).

    A new address or credentials are tried on the camera first; on failure nothing
    changes. Moving the camera to another scheme, host or port needs its password
    again."""
    return cameras().update(require_actor(), camera_id, body.command())


@bp.operation("DELETE", "/cameras/<camera_id>", status=204)
def delete_camera(camera_id: str) -> Response:
    """Remove a camera (admin); its recordings stay, its open PTZ sessions end."""
    cameras().delete(require_actor(), camera_id)
    return Response(status=204)


@bp.operation(
    "PUT",
    "/cameras/<camera_id>/calibration",
    body=CalibrationIn,
    response=CalibrationOut,
)
def put_calibration(camera_id: str, body: CalibrationIn) -> Any:
    """Replace a camera's calibration (admin); fields left out take their defaults."""
    return cameras().set_calibration(require_actor(), camera_id, body.command())


@bp.operation(
    "POST", "/cameras/<camera_id>/certificate", body=CertificateIn, response=CameraDetailOut
)
def accept_certificate(camera_id: str, body: CertificateIn) -> Any:
    """Pin the certificate a camera presents now (admin), after it changed: on its https
    ONVIF side (``port`` ``onvif``, the default) or on the port of its ``rtsps`` stream
    (``port`` ``rtsp``: a certificate of its own there). The fingerprint given must be
    the one the camera presents on that port, or 409 naming it."""
    certificates = get(services()).certificates
    return certificates.accept(require_actor(), camera_id, body.tls_fingerprint, body.port)
