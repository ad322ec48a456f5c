"""Cameras API models (issue 4 item 2): onboarding, editing, calibration, and the camera
as the API shows it (never its password)."""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from onvif_control.cameras import CameraChanges, NewCamera
from onvif_control.tls_pins import ca_context, normalise_fingerprint
from vms.camera_model import Calibration
from vms.errors import InvalidArgument
from web.contract import Number, OutTime, Printable, RequestModel, ResponseModel

MAX_PASSWORD = 200


def _password(value: str) -> str:
    # Kept as sent (not stripped: a space may be part of it), but not blank.
    if not value.strip():
        raise ValueError("is empty")
    if len(value) > MAX_PASSWORD:
        raise ValueError(f"is longer than {MAX_PASSWORD} characters")
    return value


def _fingerprint(value: str) -> str:
    try:
        return normalise_fingerprint(value)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from None


def _ca_bundle(value: str) -> str:
    try:
        ca_context(value)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from None
    return value


Name = Annotated[str, Printable(200, required=True)]
OnvifUrl = Annotated[str, Printable(500, required=True)]
Username = Annotated[str, Printable(200, required=True)]
Password = Annotated[str, AfterValidator(_password)]
Fingerprint = Annotated[str, AfterValidator(_fingerprint)]
CaBundle = Annotated[str, AfterValidator(_ca_bundle)]


class CalibrationIn(RequestModel):
    """A camera's ranges (degrees), fields of view and software limits; fields left out
    take their defaults (pan -180..180, tilt -90..20, fields of view 60 and 6, no
    software limits)."""

    pan_min: Number = -180.0
    pan_max: Number = 180.0
    tilt_min: Number = -90.0
    tilt_max: Number = 20.0
    hfov_wide: Number = 60.0
    hfov_tele: Number = 6.0
    limit_pan_min: Number | None = None
    limit_pan_max: Number | None = None
    limit_tilt_min: Number | None = None
    limit_tilt_max: Number | None = None
    limit_zoom_max: Number | None = None

    def command(self) -> Calibration:
        try:
            return Calibration(**{f.name: getattr(self, f.name) for f in fields(Calibration)})
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None


class NewCameraIn(RequestModel):
    name: Name
    onvif_url: OnvifUrl
    username: Username
    password: Password
    calibration: CalibrationIn | None = None
    # An https camera's expected certificate (SHA-256, AB:CD:... or 64 hex digits);
    # left out, the certificate it presents at onboarding is pinned.
    tls_fingerprint: Fingerprint | None = None
    # Or a PEM CA bundle that verifies the camera's certificate (chain and address).
    tls_ca_pem: CaBundle | None = None

    def command(self) -> NewCamera:
        return NewCamera(
            self.name,
            self.onvif_url,
            self.username,
            self.password,
            self.calibration.command() if self.calibration is not None else None,
            self.tls_fingerprint,
            self.tls_ca_pem,
        )


class CertificateIn(RequestModel):
    """The certificate to pin: the fingerprint the camera presents now, as shown, on
    ``port``: ``onvif`` (the default: its https ONVIF side) or ``rtsp`` (the port of its
    ``rtsps`` main stream, pinned apart when it presents another certificate there)."""

    tls_fingerprint: Fingerprint
    port: Literal["onvif", "rtsp"] = "onvif"


class CameraPatchIn(RequestModel):
    """The fields to change; at least one."""

    name: Name | None = None
    onvif_url: OnvifUrl | None = None
    username: Username | None = None
    password: Password | None = None
    # With an onvif_url that moves an https camera: the certificate expected there
    # (as at onboarding); left out, the one met there is pinned.
    tls_fingerprint: Fingerprint | None = None

    def command(self) -> CameraChanges:
        return CameraChanges(
            self.name, self.onvif_url, self.username, self.password, self.tls_fingerprint
        )


class CalibrationOut(ResponseModel):
    pan_min: float
    pan_max: float
    tilt_min: float
    tilt_max: float
    hfov_wide: float
    hfov_tele: float
    limit_pan_min: float | None
    limit_pan_max: float | None
    limit_tilt_min: float | None
    limit_tilt_max: float | None
    limit_zoom_max: float | None


class PresetOut(ResponseModel):
    token: str
    name: str | None
    x: float | None
    y: float | None
    zoom: float | None


class CameraOut(ResponseModel):
    """A camera as listed: stream URIs without credentials, never the password."""

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
    presets: list[PresetOut]
    calibration: CalibrationOut
    # An https camera's pinned certificate (SHA-256, AB:CD:...); null for http.
    tls_fingerprint: str | None
    # True: verified by the CA bundle given at onboarding (no pin).
    tls_ca: bool
    # The pin of its rtsps stream's port when it is not the ONVIF side's (AB:CD:...);
    # null: the stream is checked against tls_fingerprint (or the CA bundle).
    rtsp_tls_fingerprint: str | None
    # Where that pin was taken or accepted (host:port): a stream moved elsewhere is
    # refused until an admin accepts the certificate it presents there.
    rtsp_tls_endpoint: str | None
    health: str
    health_detail: str | None
    last_seen_at: OutTime | None
    created_at: OutTime
    updated_at: OutTime


class CameraDetailOut(CameraOut):
    """A camera with what it told at onboarding: profiles, PTZ node and configuration."""

    capabilities: dict[str, Any]


class CameraListOut(ResponseModel):
    cameras: list[CameraOut]
