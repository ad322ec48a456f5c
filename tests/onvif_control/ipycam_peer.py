"""An ``ipycam`` 1.3.0 camera (PyPI, not written here) started for tests, loopback only.

Out of the box ipycam binds every interface, guesses a LAN address, joins the
WS-Discovery multicast group and probes for go2rtc. Here:

- its HTTP (ONVIF) server binds 127.0.0.1 and its native RTSP server 127.0.0.1, on free
  ports; ``local_ip`` is 127.0.0.1 so every URL it hands out is loopback;
- WS-Discovery is replaced by a no-op (no multicast), the go2rtc probe answers "no";
- a watchdog stops it after ``lifetime`` seconds whatever the test does;
- its malformed PTZ replies are patched: the envelope declares the ``ptz:``/``tptz:``
  prefixes its PTZ templates use, and ``GetStatus`` gets its ``{{utc_time}}`` and move
  status filled in;
- ``cv2`` (opencv, which ipycam imports but only uses on frames) is stubbed when absent:
  these tests send no frames, and any use of the stub fails loudly.

Presets are saved to ``ptz_presets.json`` in the working directory: run it in a
temporary one.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import socket
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stub_cv2() -> bool:
    """Install the stub; True when it was installed (and must be removed after)."""
    if "cv2" in sys.modules or importlib.util.find_spec("cv2") is not None:
        return False
    stub = types.ModuleType("cv2")

    def missing(name: str) -> Any:
        if name.startswith("__"):
            # Tools walk sys.modules asking for __file__ and the like: not a use.
            raise AttributeError(name)
        raise AssertionError(f"cv2.{name} used: the ipycam test peer sends no frames")

    stub.__getattr__ = missing  # type: ignore[method-assign]
    sys.modules["cv2"] = stub
    return True


@contextmanager
def ipycam_camera(username: str, password: str, lifetime: float = 120.0) -> Iterator[Any]:
    """A started ipycam ``IPCamera`` on loopback; stopped on exit or after ``lifetime``."""
    stubbed = _stub_cv2()
    import ipycam.camera as camera_module
    from ipycam import CameraConfig, IPCamera
    from ipycam.rtsp import NativeRTSPServer

    class LoopbackServer(camera_module.ReusableThreadingTCPServer):  # type: ignore[misc,name-defined]
        def __init__(self, address: tuple[str, int], handler: Any) -> None:
            super().__init__(("127.0.0.1", address[1]), handler)

    class LoopbackRTSP(NativeRTSPServer):  # type: ignore[misc]
        def __init__(self, port: int = 8554, host: str = "127.0.0.1") -> None:
            super().__init__(port=port, host="127.0.0.1")

    class NoDiscovery:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def start(self) -> None:  # no WS-Discovery multicast
            pass

        def stop(self) -> None:
            pass

    saved = {
        name: getattr(camera_module, name)
        for name in (
            "ReusableThreadingTCPServer",
            "NativeRTSPServer",
            "WSDiscoveryServer",
            "check_go2rtc_running",
            "is_webrtc_available",
        )
    }
    camera_module.ReusableThreadingTCPServer = LoopbackServer
    camera_module.NativeRTSPServer = LoopbackRTSP
    camera_module.WSDiscoveryServer = NoDiscovery
    camera_module.check_go2rtc_running = lambda *a, **k: False
    camera_module.is_webrtc_available = lambda: False
    config = CameraConfig(
        name="ipycam-peer",
        local_ip="127.0.0.1",
        onvif_port=_free_port(),
        rtsp_port=_free_port(),
        username=username,
        password=password,
    )
    camera = IPCamera(config)
    _patch_replies(camera)
    watchdog = threading.Timer(lifetime, camera.stop)
    watchdog.daemon = True
    try:
        camera.start()
        watchdog.start()
        yield camera
    finally:
        watchdog.cancel()
        camera.stop()
        for name, value in saved.items():
            setattr(camera_module, name, value)
        if stubbed:
            # Leave no fake opencv behind for the tests that run after this one.
            sys.modules.pop("cv2", None)


def _patch_replies(camera: Any) -> None:
    onvif = camera.onvif
    templates = onvif._templates
    # ipycam 1.3.0 PTZ templates use ptz:/tptz: prefixes its envelope never declares.
    templates["envelope"] = templates["envelope"].replace(
        'xmlns:s="http://www.w3.org/2003/05/soap-envelope"',
        f'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:ptz="{PTZ_NS}" '
        f'xmlns:tptz="{PTZ_NS}"',
        1,
    )
    render = onvif._render

    def patched(template_name: str, **kwargs: Any) -> str:
        if template_name == "ptz_get_status":
            # Fill what GetStatus leaves as {{...}}: the time and the per-axis status.
            kwargs.setdefault("utc_time", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            kwargs.setdefault("pan_tilt_status", kwargs.get("move_status", "IDLE"))
            kwargs.setdefault("zoom_status", kwargs.get("move_status", "IDLE"))
        return str(render(template_name, **kwargs))

    onvif._render = patched
