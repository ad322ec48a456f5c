"""One simulated ONVIF PTZ camera: scene, PTZ head, stream, ONVIF and RTSP servers.

Usable alone (``start()``/``stop()`` run its own event loop in a named thread, or
``with SimulatedCamera(...) as cam:``) or as part of a :class:`SimulatorFleet`, which
shares one loop between cameras. ``state()`` is the ground truth served at
``/sim/state``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import quote

import numpy as np
from numpy.typing import NDArray

from onvif_control.simulator.calibration import Pose
from onvif_control.simulator.encoder import encode_jpeg
from onvif_control.simulator.http_server import HttpServer
from onvif_control.simulator.loop_thread import LoopThread
from onvif_control.simulator.onvif_common import PROFILE_TOKEN, OnvifContext, utc_text
from onvif_control.simulator.onvif_service import SNAPSHOT_PATH, OnvifService
from onvif_control.simulator.panorama import (
    LivePanorama,
    PanoramaPlanes,
    build_panorama,
    panorama_width_for,
)
from onvif_control.simulator.ptz_unit import PtzUnit
from onvif_control.simulator.render import Renderer, project
from onvif_control.simulator.rtsp_server import PlayStart, RtspServer
from onvif_control.simulator.scene import SIGNATURE_RGB, Scene
from onvif_control.simulator.stream import StreamHub

log = logging.getLogger(__name__)

#: A decoded pixel counts as "signature colour" (a leaked private pixel) when every
#: channel is within this distance of ``SIGNATURE_RGB``. Every other scene colour is at
#: least 120 away (see panorama.py). Decoded H.264 keeps zone interiors (3 pixels in from
#: the edge) within 30 (tests/.../test_camera.py checks it); 4:2:0 chroma and coding blur
#: the outermost 1-2 pixels, so count leaks outside the zone mask dilated by 2 pixels.
SIGNATURE_TOLERANCE = 60


def signature_mask(
    rgb: NDArray[np.uint8], tolerance: int = SIGNATURE_TOLERANCE
) -> NDArray[np.bool_]:
    """Pixels of an RGB image (h, w, 3) within ``tolerance`` of the signature colour."""
    diff = np.abs(rgb.astype(np.int16) - np.array(SIGNATURE_RGB, dtype=np.int16))
    return np.asarray(diff.max(axis=-1) <= tolerance)


@functools.lru_cache(maxsize=2)
def _static_panorama(scene: Scene, width: int) -> PanoramaPlanes:
    # Building takes seconds at full size; cameras of a fleet share one read-only copy.
    return build_panorama(scene, width)


class SimulatedCamera:
    """A simulated ONVIF PTZ camera.

    Defaults: bind ``127.0.0.1``, ephemeral ports (0), user ``admin``/``admin``,
    1280x720 at 15 fps, the default :class:`Scene`. ``advertised_host`` (default: the
    bind host, or 127.0.0.1 for a wildcard bind) is the host put in URLs.
    ``credentials_in_stream_uri``: GetStreamUri answers ``rtsp://user:password@...``, as
    some cameras do. ``gop_seconds``: the encoder's keyframe interval (default 1 s).
    ``burn_in_clock``: each picture carries its capture time as a block code
    (:mod:`~onvif_control.simulator.timecode`, off by default).
    ``synchronization_point``: Media ``SetSynchronizationPoint`` forces an IDR (default);
    False answers it ``ActionNotSupported``, as cameras without it do.
    ``tls``: serve ONVIF over TLS with this server context (``https`` service
    addresses), as a camera with its own self-signed certificate does.
    ``play_start``: what an RTSP session gets first after PLAY (:class:`PlayStart`): a
    fresh IDR (default), P frames as they come (many cameras), or nothing until the next
    keyframe; with a long GOP a client waits for it unless it asks with
    ``SetSynchronizationPoint``.
    """

    def __init__(
        self,
        name: str = "cam1",
        *,
        host: str = "127.0.0.1",
        onvif_port: int = 0,
        rtsp_port: int = 0,
        username: str = "admin",
        password: str,
        size: tuple[int, int] = (1280, 720),
        fps: int = 15,
        scene: Scene | None = None,
        advertised_host: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        utc_now: Callable[[], dt.datetime] | None = None,
        credentials_in_stream_uri: bool = False,
        gop_seconds: float = 1.0,
        burn_in_clock: bool = False,
        synchronization_point: bool = True,
        tls: ssl.SSLContext | None = None,
        play_start: PlayStart = PlayStart.IDR,
    ) -> None:
        if not 1 <= fps <= 60:
            raise ValueError(f"fps {fps} is outside 1..60")
        if not 0 < gop_seconds <= 60:
            raise ValueError(f"gop_seconds {gop_seconds} is outside (0, 60]")
        self.gop_seconds = gop_seconds
        self.burn_in_clock = burn_in_clock
        self.synchronization_point = synchronization_point
        self._tls = tls
        self.play_start = PlayStart(play_start)
        self.name = name
        self.host = host
        self.size = size
        self.fps = fps
        self.scene = scene or Scene()
        self._ports = (onvif_port, rtsp_port)
        self._credentials = (username, password)
        self._credentials_in_stream_uri = credentials_in_stream_uri
        self._advertised = advertised_host or (
            host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        )
        self._clock = clock
        self._utc_now = utc_now or (lambda: dt.datetime.now(dt.UTC))
        self.ptz = PtzUnit(self.scene.calibration, self.scene.home, clock, label=name)
        # A fault to inject: SOAP answers leave this many seconds after they were
        # computed (a congested link to the camera).
        self.soap_reply_delay = 0.0
        self._renderer: Renderer | None = None
        self._hub: StreamHub | None = None
        self._http: HttpServer | None = None
        self._rtsp: RtspServer | None = None
        self._ctx: OnvifContext | None = None
        self._own_stream_uri = ""
        self._service: OnvifService | None = None
        self._own_loop: LoopThread | None = None

    # Lifecycle ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Build the panorama, renderer and encoder (blocking, seconds at 1280x720)."""
        if self._hub is not None:
            return
        width = panorama_width_for(self.size[0], self.scene.calibration.hfov_wide)
        live = LivePanorama(_static_panorama(self.scene, width), self.scene.objects)
        self._renderer = Renderer(live, self.scene.calibration, self.size)
        self._hub = StreamHub(
            self.name,
            live,
            self._renderer,
            self.ptz,
            self.fps,
            gop_seconds=self.gop_seconds,
            clock=self._clock,
            utc_now=self._utc_now,
            burn_in_clock=self.burn_in_clock,
        )

    async def start_async(self) -> None:
        """Start the servers on the running loop (call :meth:`prepare` first)."""
        self.prepare()
        assert self._hub is not None
        hub = self._hub
        ctx = OnvifContext(
            name=self.name,
            serial=f"SIM-{self.name}",
            size=self.size,
            fps=self.fps,
            gop=max(1, round(self.fps * self.gop_seconds)),
            ptz=self.ptz,
            utc_now=self._utc_now,
            synchronization_point=hub.synchronization_point if self.synchronization_point else None,
        )
        username, password = self._credentials
        service = OnvifService(
            ctx,
            username,
            password,
            self._snapshot_async,
            self.state,
            reply_delay=lambda: self.soap_reply_delay,
        )
        self._service = service
        self._http = HttpServer(service.handle, label=self.name)
        self._rtsp = RtspServer(
            hub,
            username,
            password,
            self.name,
            self._advertised,
            play_start=self.play_start,
        )
        try:
            await self._http.start(self.host, self._ports[0], tls=self._tls)
            await self._rtsp.start(self.host, self._ports[1])
        except OSError:
            await self.stop_async()
            raise
        scheme = "https" if self._tls is not None else "http"
        base = f"{scheme}://{self._advertised}:{self._http.port}"
        ctx.device_xaddr = f"{base}/onvif/device_service"
        ctx.media_xaddr = f"{base}/onvif/media_service"
        ctx.ptz_xaddr = f"{base}/onvif/ptz_service"
        ctx.snapshot_url = f"{base}{SNAPSHOT_PATH}"
        ctx.rtsp_url = self._rtsp.url
        if self._credentials_in_stream_uri:
            userinfo = ":".join(quote(part, safe="") for part in self._credentials)
            ctx.stream_uri = ctx.rtsp_url.replace("rtsp://", f"rtsp://{userinfo}@", 1)
        self._own_stream_uri = ctx.stream_uri
        self._ctx = ctx
        hub.start(asyncio.get_running_loop())
        log.info("%s ready: ONVIF %s RTSP %s", self.name, ctx.device_xaddr, ctx.rtsp_url)

    async def stop_async(self) -> None:
        """Stop servers and the frame thread."""
        if self._rtsp is not None:
            await self._rtsp.close()
        if self._http is not None:
            await self._http.close()
        if self._hub is not None:
            await asyncio.to_thread(self._hub.stop)

    def start(self) -> None:
        """Start on a private event loop thread; returns when the camera is ready."""
        self.prepare()
        loop = LoopThread(f"sim-camera-{self.name}")
        loop.start()
        self._own_loop = loop
        try:
            loop.run(self.start_async())
        except BaseException:
            loop.stop()
            self._own_loop = None
            raise

    def stop(self) -> None:
        """Stop what :meth:`start` started (bounded time)."""
        if self._own_loop is not None:
            try:
                self._own_loop.run(self.stop_async(), timeout=15.0)
            finally:
                self._own_loop.stop()
                self._own_loop = None

    def stop_rtsp(self) -> None:
        """Stop only the RTSP service (its sessions end, new connections are refused)
        while ONVIF keeps answering: a camera whose video died, for the "video lost"
        alarm (issue 12.3)."""
        if self._own_loop is not None and self._rtsp is not None:
            self._own_loop.run(self._rtsp.close(), timeout=15.0)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Addresses ---------------------------------------------------------------------

    def _context(self) -> OnvifContext:
        if self._ctx is None:
            raise RuntimeError(f"camera {self.name} is not started")
        return self._ctx

    @property
    def onvif_url(self) -> str:
        """The device service URL (``http://HOST:PORT/onvif/device_service``)."""
        return self._context().device_xaddr

    @property
    def rtsp_url(self) -> str:
        """The stream URL (without credentials)."""
        return self._context().rtsp_url

    def answer_stream_uri(self, uri: str | None) -> None:
        """A fault to inject: GetStreamUri answers ``uri`` (None: the camera's own RTSP
        answer again), as a compromised or misconfigured camera might."""
        self._context().stream_uri = uri if uri is not None else self._own_stream_uri

    def answer_fault(self, operation: str, reason: str | None) -> None:
        """A fault to inject: ``operation`` answers a Receiver fault giving ``reason``
        (None: it answers again)."""
        assert self._service is not None, "camera not started"
        if reason is None:
            self._service.faults.pop(operation, None)
        else:
            self._service.faults[operation] = reason

    def answer_identity(self, manufacturer: str, model: str, firmware: str) -> None:
        """A fault to inject: GetDeviceInformation answers these (e.g. megabytes long)."""
        ctx = self._context()
        ctx.manufacturer, ctx.model, ctx.firmware = manufacturer, model, firmware

    def answer_position(self, texts: tuple[str, str, str] | None) -> None:
        """A fault to inject: GetStatus answers ``texts`` as the position's x, y and zoom
        (e.g. ``("NaN", "0", "0")``); None: the true position again."""
        self._context().position_texts = texts

    def answer_utc(self, text: str | None) -> None:
        """A fault to inject: GetStatus answers ``text`` as its UtcTime (e.g. a year
        9999 time with an offset); None: the clock's time again."""
        self._context().utc_text = text

    def answer_profile_token(self, token: str | None) -> None:
        """A fault to inject: the media profile's token is ``token`` (GetProfiles names
        it, every call taking a ProfileToken accepts it); None: ``profile_1`` again."""
        self._context().profile_token = token if token is not None else PROFILE_TOKEN

    @property
    def snapshot_url(self) -> str:
        """The JPEG snapshot URL (Digest auth)."""
        return self._context().snapshot_url

    @property
    def onvif_port(self) -> int:
        """The bound ONVIF HTTP port."""
        assert self._http is not None, "camera not started"
        return self._http.port

    @property
    def rtsp_port(self) -> int:
        """The bound RTSP port."""
        assert self._rtsp is not None, "camera not started"
        return self._rtsp.port

    @property
    def hub(self) -> StreamHub:
        """The shared encoder (stats for benchmarks and tests)."""
        assert self._hub is not None, "camera not prepared"
        return self._hub

    @property
    def sync_points(self) -> int:
        """``SetSynchronizationPoint`` requests answered (each forced an IDR)."""
        return self._hub.sync_points if self._hub is not None else 0

    @property
    def auth_attempts(self) -> int:
        """SOAP requests that carried a WS-Security UsernameToken (a password digest)."""
        return self._service.auth_attempts if self._service is not None else 0

    def soap_requests(self, operation: str) -> int:
        """Authenticated SOAP requests of ``operation`` (e.g. ``GetStatus``)."""
        return self._service.operations[operation] if self._service is not None else 0

    @property
    def rtsp_sessions(self) -> int:
        """Live RTSP sessions."""
        return self._rtsp.session_count if self._rtsp is not None else 0

    # Ground truth ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Pose, calibration, private zones and signature colour (``/sim/state``)."""
        status = self.ptz.status()
        pose = status.pose
        ctx = self._ctx
        return {
            "name": self.name,
            "pose": {"pan": pose.pan, "tilt": pose.tilt, "zoom": pose.zoom},
            "moving": {"pan_tilt": status.pan_tilt_moving, "zoom": status.zoom_moving},
            "hfov_deg": self.scene.calibration.hfov(pose.zoom),
            "calibration": self.scene.calibration.to_dict(),
            "calibration_notes": self.scene.calibration.describe(),
            "home": {
                "pan": self.scene.home.pan,
                "tilt": self.scene.home.tilt,
                "zoom": self.scene.home.zoom,
            },
            "private_zones": [zone.to_dict() for zone in self.scene.private_zones],
            "private_zone_edges": "straight lines in (pan, tilt) degrees",
            "signature_rgb": list(SIGNATURE_RGB),
            "signature_tolerance": SIGNATURE_TOLERANCE,
            "size": list(self.size),
            "fps": self.fps,
            "onvif_url": ctx.device_xaddr if ctx else None,
            "rtsp_url": ctx.rtsp_url if ctx else None,
            "snapshot_url": ctx.snapshot_url if ctx else None,
            "utc": utc_text(self._utc_now()),
        }

    def _renderer_ready(self) -> Renderer:
        self.prepare()
        assert self._renderer is not None
        return self._renderer

    def render_rgb(self, pose: Pose | None = None, at: float | None = None) -> NDArray[np.uint8]:
        """The simulator's own picture for ``pose`` (default: now), objects at time ``at``."""
        renderer = self._renderer_ready()
        if at is not None:
            with renderer.panorama.lock:
                renderer.panorama.paint(at - self.hub.epoch)
        return renderer.render_rgb(pose or self.ptz.pose())

    def zone_mask(self, pose: Pose | None = None) -> NDArray[np.bool_]:
        """Pixels showing a private zone at ``pose`` (default: now)."""
        return self._renderer_ready().zone_mask(pose or self.ptz.pose())

    def project(
        self, pan: float, tilt: float, pose: Pose | None = None
    ) -> tuple[float, float] | None:
        """Image position of the direction (pan, tilt) at ``pose`` (default: now)."""
        return project(pose or self.ptz.pose(), self.scene.calibration, self.size, pan, tilt)

    def snapshot_jpeg(self) -> bytes:
        """A JPEG of the current view."""
        return encode_jpeg(self._renderer_ready().render_rgb(self.ptz.pose()))

    async def _snapshot_async(self) -> bytes:
        return await asyncio.to_thread(self.snapshot_jpeg)
