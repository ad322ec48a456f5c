"""One camera over ONVIF (onvif-zeep-async): connecting, reading what onboarding
stores, PTZ moves and presets. Coroutines only, run on the ONVIF loop
(:mod:`onvif_control.runtime`).

Every call is bounded by a timeout (default 5 s, ``[cameras] command_timeout_seconds``),
every reply by a size (:mod:`onvif_control.adapter.transport`), and every failure leaves
as one of our error kinds through :func:`onvif_control.adapter.faults.translate`.
``GetStatus`` tries the lean path of :mod:`onvif_control.adapter.status` first.
An https camera is spoken to only while it presents its pinned certificate, on both
paths (:mod:`onvif_control.adapter.tls`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from onvif_control.adapter.faults import translate
from onvif_control.adapter.models import Description, DeviceInfo, Preset, Profile, PtzStatus
from onvif_control.adapter.parsers import (
    as_float,
    cut,
    duration,
    get_path,
    onvif_endpoint,
    plain,
)
from onvif_control.adapter.status import (
    NoFastPath,
    impossible_position,
    lean_status,
    status_from_reply,
)
from onvif_control.adapter.tls import TlsCheck, peer_fingerprint, pinned
from onvif_control.adapter.transport import MAX_ONVIF_REPLY_BYTES, BoundedCamera
from onvif_control.tls_pins import ca_context, format_fingerprint
from vms.errors import FailedPrecondition, Unavailable
from vms.urls import redact_credentials, stream_url_problem

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0
# The registry keeps stream URIs of up to this many characters (cameras.main_stream_uri).
MAX_STREAM_URI = 1000
# ... and profile tokens of up to this many (cameras.profile_token; ONVIF's
# ReferenceToken holds 64).
MAX_PROFILE_TOKEN = 200
STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}


def _speed(params: dict[str, Any], speed: float | None) -> dict[str, Any]:
    """``params`` with the same ``Speed`` on every axis, when one is given."""
    if speed is not None:
        params["Speed"] = {"PanTilt": {"x": speed, "y": speed}, "Zoom": {"x": speed}}
    return params


# -- one camera -------------------------------------------------------------------------


class OnvifDevice:
    """A connection to one camera. Coroutines only: run them on the ONVIF loop.

    ``label`` names the camera in errors and logs (never the password).
    ``stream_hosts``: hosts besides the camera's own that its stream URIs may name
    (``[cameras] stream_hosts``).
    ``tls_pin``: for an https camera, the SHA-256 digest its certificate must have (the
    stored pin, or the one an admin expects at onboarding); None: the certificate met
    on the first connection is pinned (trust on first use) and kept in
    :attr:`tls_pin` for the caller to store. Every later connection, new or after a
    reconnect, must present it, or :class:`~onvif_control.adapter.tls.CertificateChanged`
    is raised with nothing sent. ``on_pinned``: awaited with a pin learned so (to store
    it), before the first request is sent. ``tls_ca``: a PEM CA bundle that verifies
    the camera instead of a pin (chain and host name; no pin is learned then).
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        label: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        stream_hosts: tuple[str, ...] = (),
        tls_pin: bytes | None = None,
        on_pinned: Callable[[bytes], Awaitable[None]] | None = None,
        tls_ca: str | None = None,
    ) -> None:
        self.scheme, self.host, self.port = onvif_endpoint(url)
        self.tls_pin = tls_pin if self.scheme == "https" else None
        # A CA bundle replaces the pin: the certificate must chain to it and name the host.
        self._ca = ca_context(tls_ca) if tls_ca is not None and self.scheme == "https" else None
        self._on_pinned = on_pinned
        self.stream_hosts = stream_hosts
        self.url = url
        self.label = label or f"{self.host}:{self.port}"
        self.timeout = timeout
        self._username = username
        self._password = password
        self._camera: BoundedCamera | None = None
        self._services: dict[str, Any] = {}
        self._connect_lock = asyncio.Lock()
        # The pose tracker calls GetStatus at 5 Hz per camera: the lean path of status.py
        # costs a fraction of zeep's (bench/bench_ptz.py); None = untried.
        self._fast_status: bool | None = None
        self._http: aiohttp.ClientSession | None = None
        # Cleanups of connection steps our timeout cut short (_settled): close() waits.
        self._late: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:  # no credentials
        return f"OnvifDevice({self.label}, {redact_credentials(self.url)})"

    async def _bounded(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(make(), self.timeout)
        except NoFastPath:
            raise
        except Exception as exc:
            error = translate(exc, self.label, operation, self.timeout)
            if isinstance(error, Unavailable):
                # The connection may be dead: rebuild it on the next call.
                await self._drop()
            raise error from None

    async def _settled(
        self, make: Callable[[], Awaitable[T]], late: Callable[[T | None], Awaitable[None]]
    ) -> T:
        """``make()`` run to its end even when our timeout cancels the caller; then
        ``late`` gets what it made (None: it failed) to adopt or close it.

        onvif-zeep-async opens a service's HTTP session before the service's setup (the
        WSDL) and registers the service with its camera only after it, and
        ``ONVIFCamera.close`` closes registered services only: a connect cancelled in
        between left an unclosed session behind (seen under load)."""
        task = asyncio.ensure_future(make())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            cleanup = asyncio.ensure_future(self._after(task, late))
            self._late.add(cleanup)
            cleanup.add_done_callback(self._late.discard)
            raise

    async def _after(
        self, task: asyncio.Future[T], late: Callable[[T | None], Awaitable[None]]
    ) -> None:
        try:
            result: T | None = await task
        except BaseException:
            result = None
        try:
            await late(result)
        except Exception:  # closing what a broken connect left must not raise here
            log.debug("%s: closing a late connection failed", self.label, exc_info=True)

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

    async def _pin(self) -> TlsCheck | None:
        """The check every request to this https camera carries (None for http): its CA
        bundle's context, or its pin, which the first connection learns from a handshake
        that sends nothing (trust on first use)."""
        if self.scheme != "https":
            return None
        if self._ca is not None:
            return self._ca
        if self.tls_pin is None:
            pin = await peer_fingerprint(self.host, self.port, self.timeout)
            log.info(
                "%s: pinned the certificate %s (trust on first use)",
                self.label,
                format_fingerprint(pin),
            )
            if self._on_pinned is not None:
                await self._on_pinned(pin)
            self.tls_pin = pin
        return pinned(self.tls_pin)

    async def _service(self, kind: str) -> Any:
        async with self._connect_lock:
            if self._camera is None:
                pin = await self._pin()
                # Each request bounded by our timeout and each reply by the size cap.
                camera = BoundedCamera(
                    self.host,
                    self.port,
                    self._username,
                    self._password,
                    timeout=self.timeout,
                    limit=MAX_ONVIF_REPLY_BYTES,
                    scheme=self.scheme,
                    pin=pin,
                )

                async def unused(_: None) -> None:  # cut short: never ours, close it all
                    await camera.close()

                try:
                    await self._settled(camera.update_xaddrs, unused)
                except asyncio.CancelledError:
                    raise  # closed by ``unused`` once the connect has ended
                except BaseException:
                    await camera.close()
                    raise
                self._camera = camera
            if kind not in self._services:
                owner = self._camera
                factory = {
                    "devicemgmt": owner.create_devicemgmt_service,
                    "media": owner.create_media_service,
                    "ptz": owner.create_ptz_service,
                }[kind]

                async def adopt(service: Any) -> None:
                    # Made for the camera still connected: it holds it and closes it with
                    # the rest. Made for one dropped meanwhile: nobody else will close it.
                    if service is None:
                        return
                    if owner is self._camera:
                        self._services.setdefault(kind, service)
                    else:
                        await service.close()

                self._services[kind] = await self._settled(factory, adopt)
            return self._services[kind]

    async def call(self, kind: str, operation: str, params: dict[str, Any] | None = None) -> Any:
        """``operation`` of service ``kind`` (devicemgmt, media, ptz), bounded and translated."""

        async def go() -> Any:
            service = await self._service(kind)
            return await getattr(service, operation)(params or {})

        return await self._bounded(operation, go)

    async def close(self) -> None:
        await self._drop()
        if self._late:
            # Connects our timeout cut short: let them end and be closed, bounded.
            _, pending = await asyncio.wait(set(self._late), timeout=self.timeout)
            for task in pending:
                task.cancel()

    # -- reading a camera -----------------------------------------------------------

    async def connect(self) -> None:
        """Connect and authenticate (raises our errors on bad credentials or address)."""
        await self.call("devicemgmt", "GetDeviceInformation")

    async def device_info(self) -> DeviceInfo:
        info = await self.call("devicemgmt", "GetDeviceInformation")
        return DeviceInfo(
            manufacturer=cut(get_path(info, "Manufacturer")),
            model=cut(get_path(info, "Model")),
            firmware=cut(get_path(info, "FirmwareVersion")),
            serial=cut(get_path(info, "SerialNumber")),
        )

    async def profiles(self) -> list[Profile]:
        out = []
        for p in await self.call("media", "GetProfiles") or []:
            resolution = get_path(p, "VideoEncoderConfiguration", "Resolution")
            out.append(
                Profile(
                    token=str(get_path(p, "token")),
                    name=get_path(p, "Name"),
                    width=get_path(resolution, "Width"),
                    height=get_path(resolution, "Height"),
                    encoding=get_path(p, "VideoEncoderConfiguration", "Encoding"),
                    ptz=get_path(p, "PTZConfiguration") is not None,
                )
            )
        return out

    async def stream_uri(self, profile: str) -> str | None:
        reply = await self.call(
            "media", "GetStreamUri", {"ProfileToken": profile, "StreamSetup": STREAM_SETUP}
        )
        uri = get_path(reply, "Uri")
        if not uri:
            return None
        # The recorder opens this URI with FFmpeg and the camera's credentials: a
        # compromised camera must not point it at a local file or another host (#10.11).
        problem = stream_url_problem(str(uri), self.host, self.stream_hosts)
        kept = len(redact_credentials(str(uri)))  # what the registry stores
        if problem is None and kept > MAX_STREAM_URI:
            problem = f"it is {kept} characters long, more than {MAX_STREAM_URI}"
        if problem is not None:
            raise FailedPrecondition(
                f"camera {self.label} answered GetStreamUri with "
                f"{redact_credentials(str(uri))[:200]!r}: {problem}; only rtsp or rtsps to "
                "the camera's own host (or one in [cameras] stream_hosts) is recorded"
            )
        return str(uri)

    async def synchronization_point(self, profile: str) -> None:
        """Media ``SetSynchronizationPoint``: ask the camera for an I-frame on
        ``profile``'s stream (FailedPrecondition when the camera does not support it)."""
        await self.call("media", "SetSynchronizationPoint", {"ProfileToken": profile})

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
        for profile in (main, sub):
            if profile is not None and len(profile.token) > MAX_PROFILE_TOKEN:
                # A token addresses the profile in every later call: it cannot be cut.
                raise FailedPrecondition(
                    f"camera {self.label} answered GetProfiles with a profile token of "
                    f"{len(profile.token)} characters ({profile.token[:40]!r}...); "
                    f"tokens of up to {MAX_PROFILE_TOKEN} are kept (ONVIF allows 64)"
                )
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
        """The PTZ pose and move status of ``profile``: the lean path while it works.
        Unavailable when the camera answers an impossible position (NaN, infinite or
        outside the generic spaces): that is no pose (INV-5)."""
        status = await self._status(profile)
        problem = impossible_position(status)
        if problem is not None:
            raise Unavailable(
                f"camera {self.label} answered GetStatus with an impossible position: {problem}"
            )
        return status

    async def _status(self, profile: str) -> PtzStatus:
        if self._fast_status is not False:
            try:
                status = await self._bounded("GetStatus", lambda: self._lean_status(profile))
                self._fast_status = True
                return status
            except NoFastPath as exc:
                if exc.lasting:
                    log.info("%s: lean GetStatus not understood (%s); using zeep", self.label, exc)
                    self._fast_status = False
        reply = await self.call("ptz", "GetStatus", {"ProfileToken": profile})
        return status_from_reply(reply)

    async def _lean_status(self, profile: str) -> PtzStatus:
        service = await self._service("ptz")
        if self._http is None:
            self._http = aiohttp.ClientSession()
        pin: TlsCheck | None = self._ca
        if pin is None and self.tls_pin is not None:
            pin = pinned(self.tls_pin)
        return await lean_status(
            self._http, service.xaddr, self._username, self._password, profile, pin=pin
        )

    async def continuous_move(
        self, profile: str, x: float, y: float, zoom: float, timeout: float | None
    ) -> None:
        params: dict[str, Any] = {
            "ProfileToken": profile,
            "Velocity": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": zoom}},
        }
        if timeout is not None:
            params["Timeout"] = duration(timeout)
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
        await self.call("ptz", "AbsoluteMove", _speed(params, speed))

    async def relative_move(
        self, profile: str, x: float, y: float, zoom: float, speed: float | None
    ) -> None:
        params: dict[str, Any] = {
            "ProfileToken": profile,
            "Translation": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": zoom}},
        }
        await self.call("ptz", "RelativeMove", _speed(params, speed))

    async def goto_preset(self, profile: str, token: str, speed: float | None) -> None:
        params: dict[str, Any] = {"ProfileToken": profile, "PresetToken": token}
        await self.call("ptz", "GotoPreset", _speed(params, speed))

    async def goto_home(self, profile: str, speed: float | None) -> None:
        params: dict[str, Any] = {"ProfileToken": profile}
        await self.call("ptz", "GotoHomePosition", _speed(params, speed))

    async def set_preset(self, profile: str, name: str) -> str:
        reply = await self.call("ptz", "SetPreset", {"ProfileToken": profile, "PresetName": name})
        token = reply if isinstance(reply, str) else get_path(reply, "PresetToken")
        if not token:
            raise Unavailable(f"camera {self.label}: SetPreset returned no preset token")
        return str(token)

    async def remove_preset(self, profile: str, token: str) -> None:
        await self.call("ptz", "RemovePreset", {"ProfileToken": profile, "PresetToken": token})

    async def presets(self, profile: str) -> list[Preset]:
        out = []
        for p in await self.call("ptz", "GetPresets", {"ProfileToken": profile}) or []:
            position = get_path(p, "PTZPosition")
            out.append(
                Preset(
                    token=str(get_path(p, "token")),
                    name=get_path(p, "Name"),
                    x=as_float(get_path(position, "PanTilt", "x")),
                    y=as_float(get_path(position, "PanTilt", "y")),
                    zoom=as_float(get_path(position, "Zoom", "x")),
                )
            )
        return out
