"""The ONVIF client adapter: the only module that imports ``onvif`` (onvif-zeep-async),
``zeep`` or ``aiohttp`` (ARCHITECTURE section 2).

Every call is bounded by a timeout (default 5 s, ``[cameras] command_timeout_seconds``)
and every failure leaves here as one of our error kinds, translated in one place
(:func:`translate`), with a message naming the camera and the operation:

| what happened | kind |
|---|---|
| no answer within the timeout | ``Unavailable`` |
| connection refused, DNS, reset (unreachable host) | ``Unavailable`` |
| camera refused the credentials (``NotAuthorized``, HTTP 401) | ``FailedPrecondition`` |
| ``Sender`` fault with ``InvalidArgVal`` (bad token, out-of-range value) | ``InvalidArgument`` |
| ``ActionNotSupported`` / other ``Sender`` faults | ``FailedPrecondition`` |
| ``Receiver`` faults, malformed replies, anything else | ``Unavailable`` |

Passwords never appear in messages or logs: what a library says about a failure goes
through :func:`vms.urls.redact_credentials` (#10.11). Values cross this boundary as plain
dataclasses in the ONVIF generic spaces (pan/tilt -1..1, zoom 0..1).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import aiohttp
import zeep.exceptions
import zeep.helpers
from lxml import etree
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError
from onvif.util import extract_subcodes_as_strings, is_auth_error

from vms.errors import FailedPrecondition, InvalidArgument, Unavailable, VMSError
from vms.urls import redact_credentials

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0
STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
TT = "{http://www.onvif.org/ver10/schema}"
PTZ_WSDL = "http://www.onvif.org/ver20/ptz/wsdl"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSS_PROFILE_NS = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
)


class _NoFastPath(Exception):
    """The lean GetStatus did not work: zeep answers (and translates faults). ``lasting``:
    the reply did not parse, so use zeep for this camera from now on."""

    def __init__(self, reason: object, *, lasting: bool = True) -> None:
        super().__init__(reason)
        self.lasting = lasting


# -- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None


@dataclass(frozen=True)
class Profile:
    token: str
    name: str | None
    width: int | None
    height: int | None
    encoding: str | None
    ptz: bool


@dataclass(frozen=True)
class Preset:
    token: str
    name: str | None
    x: float | None
    y: float | None
    zoom: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "name": self.name, "x": self.x, "y": self.y, "zoom": self.zoom}


@dataclass(frozen=True)
class PtzStatus:
    """``GetStatus`` in the generic spaces; ``utc`` is the camera's time if it sent one."""

    x: float
    y: float
    zoom: float
    moving: bool
    utc: dt.datetime | None = None


@dataclass(frozen=True)
class Description:
    """Everything onboarding reads from a camera."""

    info: DeviceInfo
    profiles: list[Profile]
    main_profile: str
    sub_profile: str | None
    main_stream_uri: str | None
    sub_stream_uri: str | None
    ptz_supported: bool
    ptz_node: dict[str, Any] = field(default_factory=dict)
    ptz_configuration: dict[str, Any] = field(default_factory=dict)
    presets: list[Preset] = field(default_factory=list)


# -- error translation (the one place) -----------------------------------------------


def _subcodes(fault: zeep.exceptions.Fault) -> list[str]:
    codes = extract_subcodes_as_strings(fault.subcodes) if fault.subcodes else []
    return [c.split("}")[-1].split(":")[-1] for c in codes]


def _root_cause(exc: BaseException) -> BaseException:
    """onvif-zeep-async wraps everything in ONVIFError; the cause says what happened."""
    seen = 0
    while isinstance(exc, ONVIFError) and exc.__cause__ is not None and seen < 5:
        exc = exc.__cause__
        seen += 1
    return exc


def translate(exc: BaseException, camera: str, operation: str, timeout: float) -> VMSError:
    """Our error kind for a failure of ``operation`` on ``camera`` (see module table)."""
    if isinstance(exc, VMSError):
        return exc
    where = f"camera {camera}: {operation}"
    if isinstance(exc, ONVIFAuthError):
        return FailedPrecondition(f"{where}: the camera refused the username or password")
    cause = _root_cause(exc)
    if isinstance(cause, asyncio.TimeoutError | TimeoutError | ONVIFTimeoutError):
        return Unavailable(f"{where}: no answer within {timeout:g} s", camera=camera)
    if isinstance(cause, zeep.exceptions.Fault):
        codes = _subcodes(cause)
        message = redact_credentials((cause.message or "").strip()) or "no reason given"
        if is_auth_error(cause):
            return FailedPrecondition(
                f"{where}: the camera refused the username or password ({message})",
                camera=camera,
                subcodes=codes,
            )
        if "InvalidArgVal" in codes or "InvalidArgs" in codes:
            return InvalidArgument(
                f"{where}: the camera refused the values: {message} ({'/'.join(codes)})",
                camera=camera,
                subcodes=codes,
            )
        code = (cause.code or "").split("}")[-1].split(":")[-1]
        if "ActionNotSupported" in codes or code == "Sender":
            return FailedPrecondition(
                f"{where}: not supported by the camera: {message} ({'/'.join(codes) or code})",
                camera=camera,
                subcodes=codes,
            )
        return Unavailable(
            f"{where}: camera fault: {message} ({'/'.join(codes) or code or 'fault'})",
            camera=camera,
            subcodes=codes,
        )
    if isinstance(cause, zeep.exceptions.TransportError):
        if cause.status_code == 401:
            return FailedPrecondition(f"{where}: the camera refused the username or password")
        return Unavailable(f"{where}: HTTP {cause.status_code} from the camera", camera=camera)
    if isinstance(cause, aiohttp.ClientConnectorError | ConnectionError | OSError):
        reason = getattr(cause, "strerror", None) or type(cause).__name__
        return Unavailable(f"{where}: the camera is unreachable ({reason})", camera=camera)
    if isinstance(cause, aiohttp.ClientError):
        return Unavailable(f"{where}: connection failed ({type(cause).__name__})", camera=camera)
    said = redact_credentials(str(cause))
    if isinstance(cause, etree.XMLSyntaxError | zeep.exceptions.XMLParseError):
        return Unavailable(f"{where}: the camera sent a malformed reply ({said})", camera=camera)
    if isinstance(cause, zeep.exceptions.Error):
        return Unavailable(f"{where}: unexpected reply ({said})", camera=camera)
    return Unavailable(f"{where}: {type(cause).__name__}: {said}", camera=camera)


# -- JSON-safe copies of zeep objects ---------------------------------------------------


def plain(value: Any) -> Any:
    """A zeep object as JSON-safe dicts, lists and scalars (for storing capabilities)."""
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


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S".replace(".000S", "S")


def _utc(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.astimezone(dt.UTC) if value.tzinfo is not None else None


def parse_onvif_url(url: str) -> tuple[str, int]:
    """Host and port of a device service URL (``http://host:port/onvif/device_service``)."""
    return onvif_endpoint(url)[1:]


def onvif_endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a device service URL: where the credentials go. Refuses a
    URL with user info, naming it without its password (#10.11)."""
    shown = redact_credentials(url)
    parts = urlsplit(url)
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


# -- one camera -------------------------------------------------------------------------


class OnvifDevice:
    """A connection to one camera. Coroutines only: run them on the ONVIF loop.

    ``label`` names the camera in errors and logs (never the password).
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        label: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.host, self.port = parse_onvif_url(url)
        self.url = url
        self.label = label or f"{self.host}:{self.port}"
        self.timeout = timeout
        self._username = username
        self._password = password
        self._camera: ONVIFCamera | None = None
        self._services: dict[str, Any] = {}
        self._connect_lock = asyncio.Lock()
        # The pose tracker calls GetStatus at 5 Hz per camera: a hand-built request and an
        # lxml parse cost a fraction of zeep's (bench/bench_ptz.py); None = untried.
        self._fast_status: bool | None = None
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # no credentials
        return f"OnvifDevice({self.label}, {redact_credentials(self.url)})"

    async def _bounded(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(make(), self.timeout)
        except _NoFastPath:
            raise
        except Exception as exc:
            error = translate(exc, self.label, operation, self.timeout)
            if isinstance(error, Unavailable):
                # The connection may be dead: rebuild it on the next call.
                await self._drop()
            raise error from None

    async def _drop(self) -> None:
        camera, self._camera = self._camera, None
        self._services = {}
        http, self._http = self._http, None
        if http is not None:
            await http.close()
        if camera is not None:
            try:
                await camera.close()
            except Exception:  # closing a broken connection must not mask the real error
                log.debug("%s: closing the connection failed", self.label, exc_info=True)

    async def _service(self, kind: str) -> Any:
        async with self._connect_lock:
            if self._camera is None:
                camera = ONVIFCamera(self.host, self.port, self._username, self._password)
                try:
                    await camera.update_xaddrs()
                except BaseException:
                    await camera.close()
                    raise
                self._camera = camera
            if kind not in self._services:
                factory = {
                    "devicemgmt": self._camera.create_devicemgmt_service,
                    "media": self._camera.create_media_service,
                    "ptz": self._camera.create_ptz_service,
                }[kind]
                self._services[kind] = await factory()
            return self._services[kind]

    async def call(self, kind: str, operation: str, params: dict[str, Any] | None = None) -> Any:
        """``operation`` of service ``kind`` (devicemgmt, media, ptz), bounded and translated."""

        async def go() -> Any:
            service = await self._service(kind)
            return await getattr(service, operation)(params or {})

        return await self._bounded(operation, go)

    async def close(self) -> None:
        await self._drop()

    # -- reading a camera -----------------------------------------------------------

    async def connect(self) -> None:
        """Connect and authenticate (raises our errors on bad credentials or address)."""
        await self.call("devicemgmt", "GetDeviceInformation")

    async def device_info(self) -> DeviceInfo:
        info = await self.call("devicemgmt", "GetDeviceInformation")
        return DeviceInfo(
            manufacturer=_get(info, "Manufacturer"),
            model=_get(info, "Model"),
            firmware=_get(info, "FirmwareVersion"),
            serial=_get(info, "SerialNumber"),
        )

    async def profiles(self) -> list[Profile]:
        out = []
        for p in await self.call("media", "GetProfiles") or []:
            resolution = _get(p, "VideoEncoderConfiguration", "Resolution")
            out.append(
                Profile(
                    token=str(_get(p, "token")),
                    name=_get(p, "Name"),
                    width=_get(resolution, "Width"),
                    height=_get(resolution, "Height"),
                    encoding=_get(p, "VideoEncoderConfiguration", "Encoding"),
                    ptz=_get(p, "PTZConfiguration") is not None,
                )
            )
        return out

    async def stream_uri(self, profile: str) -> str | None:
        reply = await self.call(
            "media", "GetStreamUri", {"ProfileToken": profile, "StreamSetup": STREAM_SETUP}
        )
        uri = _get(reply, "Uri")
        return str(uri) if uri else None

    async def describe(self) -> Description:
        """Device information, profiles, main and sub stream URIs, PTZ node spaces and
        limits, presets: what onboarding stores."""
        info = await self.device_info()
        profiles = await self.profiles()
        if not profiles:
            raise FailedPrecondition(f"camera {self.label} has no media profiles")
        # The first profile is the main stream; a second one, if any, the sub stream.
        ptz_profiles = [p for p in profiles if p.ptz]
        main = ptz_profiles[0] if ptz_profiles else profiles[0]
        sub = next((p for p in profiles if p.token != main.token), None)
        main_uri = await self.stream_uri(main.token)
        sub_uri = await self.stream_uri(sub.token) if sub is not None else None
        node: dict[str, Any] = {}
        configuration: dict[str, Any] = {}
        presets: list[Preset] = []
        if main.ptz:
            nodes = await self.call("ptz", "GetNodes")
            if nodes:
                node = plain(nodes[0])
            configs = await self.call("ptz", "GetConfigurations")
            if configs:
                configuration = plain(configs[0])
            presets = await self.presets(main.token)
        return Description(
            info=info,
            profiles=profiles,
            main_profile=main.token,
            sub_profile=sub.token if sub is not None else None,
            main_stream_uri=main_uri,
            sub_stream_uri=sub_uri,
            ptz_supported=main.ptz,
            ptz_node=node,
            ptz_configuration=configuration,
            presets=presets,
        )

    async def probe(self) -> None:
        """A cheap authenticated call for health checks."""
        await self.call("devicemgmt", "GetDeviceInformation")

    # -- PTZ ------------------------------------------------------------------------

    async def status(self, profile: str) -> PtzStatus:
        if self._fast_status is not False:
            try:
                status = await self._bounded("GetStatus", lambda: self._lean_status(profile))
                self._fast_status = True
                return status
            except _NoFastPath as exc:
                if exc.lasting:
                    log.info("%s: lean GetStatus not understood (%s); using zeep", self.label, exc)
                    self._fast_status = False
        reply = await self.call("ptz", "GetStatus", {"ProfileToken": profile})
        position = _get(reply, "Position")
        move = _get(reply, "MoveStatus")
        moving = any(
            str(_get(move, axis) or "IDLE").upper() == "MOVING" for axis in ("PanTilt", "Zoom")
        )
        utc = _get(reply, "UtcTime")
        return PtzStatus(
            x=_float(_get(position, "PanTilt", "x")) or 0.0,
            y=_float(_get(position, "PanTilt", "y")) or 0.0,
            zoom=_float(_get(position, "Zoom", "x")) or 0.0,
            moving=moving,
            utc=utc if isinstance(utc, dt.datetime) and utc.tzinfo is not None else None,
        )

    def _security_header(self) -> str:
        nonce = os.urandom(16)
        # WS-Security needs the wall clock the camera compares with, not the domain clock.
        created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        digest = hashlib.sha1(nonce + created.encode() + self._password.encode()).digest()  # noqa: S324 (WS-Security PasswordDigest is SHA-1)
        return (
            f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{escape(self._username)}</wsse:Username>"
            f'<wsse:Password Type="{WSS_PROFILE_NS}#PasswordDigest">'
            f"{base64.b64encode(digest).decode()}</wsse:Password>"
            f'<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/'
            f'oasis-200401-wss-soap-message-security-1.0#Base64Binary">'
            f"{base64.b64encode(nonce).decode()}</wsse:Nonce>"
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
        )

    async def _lean_status(self, profile: str) -> PtzStatus:
        """GetStatus without zeep; any reply it does not understand goes to zeep, which
        also turns faults into our errors."""
        service = await self._service("ptz")
        if self._http is None:
            self._http = aiohttp.ClientSession()
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            f"<s:Header>{self._security_header()}</s:Header><s:Body>"
            f'<tptz:GetStatus xmlns:tptz="{PTZ_WSDL}">'
            f"<tptz:ProfileToken>{escape(profile)}</tptz:ProfileToken>"
            "</tptz:GetStatus></s:Body></s:Envelope>"
        )
        headers = {
            "Content-Type": f'application/soap+xml; charset=utf-8; action="{PTZ_WSDL}/GetStatus"'
        }
        async with self._http.post(service.xaddr, data=envelope, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise _NoFastPath(response.status, lasting=False)
        try:
            root = etree.fromstring(body)
            pan_tilt = root.find(f".//{TT}Position/{TT}PanTilt")
            zoom = root.find(f".//{TT}Position/{TT}Zoom")
            if pan_tilt is None:
                raise _NoFastPath("no position")
            move = root.find(f".//{TT}MoveStatus")
            moving = move is not None and any(
                (child.text or "").strip().upper() == "MOVING" for child in move
            )
            utc_text = root.findtext(f".//{TT}UtcTime")
            return PtzStatus(
                x=float(pan_tilt.get("x", "0")),
                y=float(pan_tilt.get("y", "0")),
                zoom=float(zoom.get("x", "0")) if zoom is not None else 0.0,
                moving=moving,
                utc=_utc(utc_text),
            )
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise _NoFastPath(exc) from None

    async def continuous_move(
        self, profile: str, x: float, y: float, zoom: float, timeout: float | None
    ) -> None:
        params: dict[str, Any] = {
            "ProfileToken": profile,
            "Velocity": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": zoom}},
        }
        if timeout is not None:
            params["Timeout"] = _duration(timeout)
        await self.call("ptz", "ContinuousMove", params)

    async def stop(self, profile: str) -> None:
        await self.call("ptz", "Stop", {"ProfileToken": profile, "PanTilt": True, "Zoom": True})

    async def absolute_move(
        self, profile: str, x: float, y: float, zoom: float, speed: float | None
    ) -> None:
        params: dict[str, Any] = {
            "ProfileToken": profile,
            "Position": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": zoom}},
        }
        if speed is not None:
            params["Speed"] = {"PanTilt": {"x": speed, "y": speed}, "Zoom": {"x": speed}}
        await self.call("ptz", "AbsoluteMove", params)

    async def relative_move(
        self, profile: str, x: float, y: float, zoom: float, speed: float | None
    ) -> None:
        params: dict[str, Any] = {
            "ProfileToken": profile,
            "Translation": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": zoom}},
        }
        if speed is not None:
            params["Speed"] = {"PanTilt": {"x": speed, "y": speed}, "Zoom": {"x": speed}}
        await self.call("ptz", "RelativeMove", params)

    async def goto_preset(self, profile: str, token: str, speed: float | None) -> None:
        params: dict[str, Any] = {"ProfileToken": profile, "PresetToken": token}
        if speed is not None:
            params["Speed"] = {"PanTilt": {"x": speed, "y": speed}, "Zoom": {"x": speed}}
        await self.call("ptz", "GotoPreset", params)

    async def goto_home(self, profile: str, speed: float | None) -> None:
        params: dict[str, Any] = {"ProfileToken": profile}
        if speed is not None:
            params["Speed"] = {"PanTilt": {"x": speed, "y": speed}, "Zoom": {"x": speed}}
        await self.call("ptz", "GotoHomePosition", params)

    async def set_preset(self, profile: str, name: str) -> str:
        reply = await self.call("ptz", "SetPreset", {"ProfileToken": profile, "PresetName": name})
        token = reply if isinstance(reply, str) else _get(reply, "PresetToken")
        if not token:
            raise Unavailable(f"camera {self.label}: SetPreset returned no preset token")
        return str(token)

    async def remove_preset(self, profile: str, token: str) -> None:
        await self.call("ptz", "RemovePreset", {"ProfileToken": profile, "PresetToken": token})

    async def presets(self, profile: str) -> list[Preset]:
        out = []
        for p in await self.call("ptz", "GetPresets", {"ProfileToken": profile}) or []:
            position = _get(p, "PTZPosition")
            out.append(
                Preset(
                    token=str(_get(p, "token")),
                    name=_get(p, "Name"),
                    x=_float(_get(position, "PanTilt", "x")),
                    y=_float(_get(position, "PanTilt", "y")),
                    zoom=_float(_get(position, "Zoom", "x")),
                )
            )
        return out
