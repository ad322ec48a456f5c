"""One camera through the adapter (onvif_control/adapter/device.py) against the
simulator on loopback: what onboarding reads."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from onvif_control.adapter.device import OnvifDevice
from onvif_control.adapter.transport import MAX_ONVIF_REPLY_BYTES
from tests.onvif_control.adapter.conftest import run_with
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER
from vms.errors import Unavailable

pytestmark = pytest.mark.timeout(60)


def test_reads_the_simulator(sim):
    device = OnvifDevice(sim.onvif_url, SIM_USER, SIM_PASSWORD, label="sim")
    d = run_with(device, lambda dev: dev.describe())
    assert d.info.model == "Simulated PTZ camera" and d.ptz_supported
    assert d.main_stream_uri == sim.rtsp_url and d.main_profile == "profile_1"
    assert d.ptz_node["HomeSupported"] is True


def test_a_synchronization_point_forces_an_idr_at_once():
    """Media SetSynchronizationPoint through the adapter: the simulator counts it and its
    next frame is a keyframe, though its GOP (10 s) would not bring one for seconds."""
    from onvif_control.simulator import SimulatedCamera
    from vms.errors import FailedPrecondition

    cam = SimulatedCamera(
        "gop10", size=(160, 96), fps=10, gop_seconds=10, username=SIM_USER, password=SIM_PASSWORD
    )
    refusing = SimulatedCamera(
        "nosync", size=(160, 96), fps=10, synchronization_point=False,
        username=SIM_USER, password=SIM_PASSWORD,
    )  # fmt: skip
    cam.start()
    refusing.start()
    try:
        keys: list[bool] = []
        loop = cam._own_loop
        assert loop is not None
        loop.run(_subscribe(cam, keys))
        wait = _until(lambda: len(keys) >= 15)  # the first IDR, then 1.5 s of P frames
        assert wait and keys[0] and not any(keys[1:])
        seen = len(keys)
        device = OnvifDevice(cam.onvif_url, SIM_USER, SIM_PASSWORD, label="gop10")
        run_with(device, lambda dev: dev.synchronization_point("profile_1"))
        assert cam.sync_points == 1
        answered = len(keys)
        assert _until(lambda: len(keys) >= answered + 2)
        assert keys[seen:].count(True) == 1  # one IDR, within a frame of the answer
        assert True in keys[: answered + 2][seen:]
        other = OnvifDevice(refusing.onvif_url, SIM_USER, SIM_PASSWORD, label="nosync")
        with pytest.raises(FailedPrecondition, match="not supported"):
            run_with(other, lambda dev: dev.synchronization_point("profile_1"))
        assert refusing.sync_points == 0
    finally:
        cam.stop()
        refusing.stop()


async def _subscribe(cam, keys: list[bool]) -> None:
    cam.hub.subscribe(lambda unit: keys.append(unit.keyframe))


def _until(predicate, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("cut", ["devicemgmt", "ptz"])
def test_a_connect_cut_short_by_the_timeout_leaves_no_session_open(sim, monkeypatch, cut):
    """onvif-zeep-async opens a service's HTTP session before its setup and registers the
    service only after it: our timeout firing in between (the device service while
    connecting, or the PTZ service of a connected camera) used to leave that session to
    the garbage collector (seen under load). Now the setup is let to finish and what it
    made is closed: after ``close()`` every session opened is closed."""
    from onvif import client

    from vms.errors import Unavailable

    made: list[Any] = []
    release = asyncio.Event()
    original = client.ONVIFService.setup
    binding = {"devicemgmt": "}devicebinding", "ptz": "}ptzbinding"}[cut]

    def stalled(service: Any) -> bool:
        return str(service.binding_name).lower().endswith(binding)

    async def slow_setup(self: Any) -> None:
        made.append(self)
        if stalled(self):
            await release.wait()  # the service's WSDL setup, stalled past our timeout
        await original(self)

    monkeypatch.setattr(client.ONVIFService, "setup", slow_setup)
    device = OnvifDevice(sim.onvif_url, SIM_USER, SIM_PASSWORD, label="sim", timeout=0.5)

    async def go(dev: OnvifDevice) -> None:
        if cut == "ptz":
            release.set()
            await dev.connect()  # the device service is set up and registered
            release.clear()
        with pytest.raises(Unavailable):
            await dev.presets("profile_1")
        release.set()  # the stalled setup ends after the caller gave up

    run_with(device, go)
    assert any(stalled(service) for service in made)
    assert [service._session.closed for service in made] == [True] * len(made)


@pytest.fixture(params=["with-length", "until-closed"])
def flooding_camera(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[int]]]:
    """A loopback HTTP peer at an ONVIF device address that answers every SOAP call
    (GetServices first) with 256 MiB, counting the bytes it got to send before the client
    hung up; its Content-Length says so, or it ends the body by closing."""
    sent = [0]
    total = 256 * 1024 * 1024
    chunk = b"<tt:Pad>" + b"x" * (64 * 1024 - 17) + b"</tt:Pad>"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml")
            if request.param == "with-length":
                self.send_header("Content-Length", str(total))
            self.end_headers()
            try:
                while sent[0] < total:
                    self.wfile.write(chunk)
                    sent[0] += len(chunk)
            except OSError:
                pass  # the client hung up

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/onvif/device_service", sent
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_huge_reply_to_any_call_is_refused_without_reading_it(flooding_camera):
    """Every ONVIF reply, not only the lean GetStatus, is capped: a camera answering
    GetServices (the connect) with 256 MiB was read whole into memory by zeep's
    transport. Now the read stops past the limit: Unavailable naming the camera, the
    operation and the limit."""
    url, sent = flooding_camera
    device = OnvifDevice(url, SIM_USER, SIM_PASSWORD, label="pole-9", timeout=20)
    with pytest.raises(Unavailable) as raised:
        run_with(device, lambda dev: dev.connect())
    message = str(raised.value)
    assert "camera pole-9" in message and "GetDeviceInformation" in message, message
    assert f"more than {MAX_ONVIF_REPLY_BYTES // 1024} KiB" in message, message
    # What the socket buffers took besides what was read: a few MiB at most.
    assert sent[0] < 32 * 1024 * 1024, f"{sent[0] / 2**20:.0f} MiB sent and read"


@pytest.fixture
def silent_camera() -> Iterator[tuple[str, list[socket.socket]]]:
    """A loopback peer that accepts connections and never answers;
    the test sees each accepted socket and whether the client closed it."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/onvif/device_service", accepted
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in accepted:
            conn.close()


def _closed_by_peer(conn: socket.socket) -> bool:
    conn.setblocking(False)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return True  # EOF: the client closed its end
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_a_connect_cut_short_ends_within_the_timeout_not_90_s(silent_camera):
    """A camera that takes the connection and never answers: our timeout gives up on
    the call, but the connect it cut short was let run to its end (so its session is
    closed), bounded by onvif-zeep-async's own 90 s: each retry left another connection
    open for a minute and a half. Now every request of a camera's services is bounded by
    the configured timeout, so the cut-short connect ends (its connection closed) soon
    after the caller gave up, without ``close()``."""
    url, accepted = silent_camera
    device = OnvifDevice(url, SIM_USER, SIM_PASSWORD, label="pole-9", timeout=0.5)

    async def go(dev: OnvifDevice) -> list[bool]:
        with pytest.raises(Unavailable, match=r"no answer within 0\.5 s"):
            await dev.connect()
        deadline = asyncio.get_running_loop().time() + 15
        while dev._late and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        return [_closed_by_peer(conn) for conn in accepted]

    closed = run_with(device, go)
    assert closed and all(closed), f"connections still open 15 s after the call: {closed}"


def test_service_addresses_on_another_host_are_not_followed():
    """GetServices names each service's address (XAddr). A camera naming another host
    (hostile, or behind NAT advertising its LAN address) had our Media and PTZ calls,
    each signed with a WS-Security digest of its password, posted to that host: the
    media node sent SOAP wherever the camera said. Calls now go to the camera's own
    host (the one the admin gave), on the port and path it names. Here the simulator
    advertises 192.0.2.1 (TEST-NET-1: nobody answers there)."""
    from onvif_control.simulator import SimulatedCamera

    cam = SimulatedCamera(
        "elsewhere", size=(160, 96), fps=5, advertised_host="192.0.2.1",
        username=SIM_USER, password=SIM_PASSWORD,
    )  # fmt: skip
    cam.start()
    try:
        url = f"http://127.0.0.1:{cam.onvif_port}/onvif/device_service"
        device = OnvifDevice(url, SIM_USER, SIM_PASSWORD, label="elsewhere", timeout=3)

        async def go(dev: OnvifDevice) -> tuple[list[str], list[str]]:
            profiles = await dev.profiles()
            presets = await dev.presets("profile_1")
            return [p.token for p in profiles], [p.name or "" for p in presets]

        tokens, _ = run_with(device, go)
        assert tokens == ["profile_1"]
    finally:
        cam.stop()


@pytest.fixture
def redirecting_camera() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback peer at an ONVIF device address answering every POST with a 307 to a
    second peer (another host, as far as we know), which records what reaches it."""
    reached: list[bytes] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            reached.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{other.server_address[1]}/collect"

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    camera = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (other, camera)]
    for thread in threads:
        thread.start()
    try:
        yield f"http://127.0.0.1:{camera.server_address[1]}/onvif/device_service", reached
    finally:
        for server in (other, camera):
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(5)


def test_a_redirect_does_not_carry_our_signed_requests_elsewhere(redirecting_camera):
    """A camera answering a SOAP call with 307 (Location: another host) had aiohttp post
    the same request there, WS-Security digest of the camera's password included: the
    device's calls followed the camera anywhere it pointed. Redirects are not followed:
    the call fails naming the camera, and nothing reaches the other host."""
    url, reached = redirecting_camera
    device = OnvifDevice(url, SIM_USER, SIM_PASSWORD, label="pole-9", timeout=5)
    with pytest.raises(Unavailable, match="camera pole-9"):
        run_with(device, lambda dev: dev.connect())
    assert reached == [], f"{len(reached)} requests reached the other host"


def test_an_https_camera_url_is_spoken_to_over_tls():
    """onboarding takes ``https://`` camera URLs, but only host and port reached
    onvif-zeep-async, which then posted the device service over plain HTTP to the https
    port: the signed SOAP requests went in the clear where the admin asked for TLS.
    A loopback peer records the first bytes it gets: a TLS handshake, not ``POST``."""
    listener = socket.create_server(("127.0.0.1", 0))
    first: list[bytes] = []

    def serve() -> None:
        listener.settimeout(10)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                first.append(conn.recv(16))
            except OSError:
                first.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/onvif/device_service"
        device = OnvifDevice(url, SIM_USER, SIM_PASSWORD, label="tls-cam", timeout=2)
        with pytest.raises(Unavailable, match="camera tls-cam"):
            run_with(device, lambda dev: dev.connect())
        thread.join(10)
    finally:
        listener.close()
    assert first and first[0][:2] == b"\x16\x03", f"first bytes: {first!r}"
