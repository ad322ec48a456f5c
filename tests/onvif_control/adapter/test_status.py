"""The lean GetStatus (onvif_control/adapter/status.py): the same pose as zeep's reply
on the simulator, and every reply it does not understand hands over to zeep
(``NoFastPath``), for good unless it was only a refused request."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest

from onvif_control.adapter.device import OnvifDevice
from onvif_control.adapter.status import NoFastPath, lean_status, status_from_reply
from tests.onvif_control.adapter.conftest import run_with
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER
from vms.errors import Unavailable

pytestmark = pytest.mark.timeout(60)

PROFILE = "profile_1"


def _ptz_xaddr(device_url: str) -> str:
    return device_url.replace("/onvif/device_service", "/onvif/ptz_service")


async def _lean(xaddr: str, password: str = SIM_PASSWORD):
    async with aiohttp.ClientSession() as http:
        return await lean_status(http, xaddr, SIM_USER, password, PROFILE)


def test_lean_and_zeep_read_the_same_pose(sim):
    device = OnvifDevice(sim.onvif_url, SIM_USER, SIM_PASSWORD, label="sim")
    xaddr = _ptz_xaddr(sim.onvif_url)

    async def go(dev):
        await dev.absolute_move(PROFILE, 0.3, -0.2, 0.4, 1.0)
        deadline = time.monotonic() + 20
        while (await _lean(xaddr)).moving:
            assert time.monotonic() < deadline, "the simulated camera never stopped"
            await asyncio.sleep(0.1)
        lean = await _lean(xaddr)
        zeep = status_from_reply(await dev.call("ptz", "GetStatus", {"ProfileToken": PROFILE}))
        return lean, zeep

    lean, zeep = run_with(device, go)
    assert (lean.x, lean.y, lean.zoom) == pytest.approx((0.3, -0.2, 0.4), abs=1e-3)
    assert (lean.x, lean.y, lean.zoom, lean.moving) == pytest.approx(
        (zeep.x, zeep.y, zeep.zoom, zeep.moving), abs=1e-6
    )
    assert lean.utc is not None and zeep.utc is not None
    assert abs((lean.utc - zeep.utc).total_seconds()) < 5


def test_a_refused_request_hands_over_to_zeep_this_time_only(sim):
    with pytest.raises(NoFastPath) as err:
        asyncio.run(_lean(_ptz_xaddr(sim.onvif_url), password="wrong-password"))
    assert err.value.lasting is False


@pytest.fixture
def odd_peer() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback HTTP peer answering 200 with whatever the test puts in its list."""
    replies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = replies.pop(0)
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/onvif/ptz_service", replies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    "reply, reason",
    [
        (b"this is not XML", "Document is empty|Start tag expected"),
        (
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
            "no position",
        ),
        (
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            b'xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body><tt:Position>'
            b'<tt:PanTilt x="left" y="0"/></tt:Position></s:Body></s:Envelope>',
            "could not convert",
        ),
    ],
)
def test_a_reply_it_does_not_understand_hands_over_to_zeep_for_good(odd_peer, reply, reason):
    xaddr, replies = odd_peer
    replies.append(reply)
    with pytest.raises(NoFastPath, match=reason) as err:
        asyncio.run(_lean(xaddr))
    assert err.value.lasting is True


@pytest.fixture(params=["with-length", "until-closed"])
def flooding_peer(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[int]]]:
    """A loopback HTTP peer that answers GetStatus with 256 MiB of XML (a hostile or
    broken camera), counting the bytes it got to send before the client hung up; its
    Content-Length says so, or it sends no length and ends the body by closing."""
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/onvif/ptz_service", sent
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_huge_reply_is_refused_without_reading_it(flooding_peer):
    """A GetStatus reply is about a kilobyte: one of 256 MiB is a camera fault
    (Unavailable naming the limit), refused after the limit, not read whole into memory
    (and then handed to zeep to read again)."""
    xaddr, sent = flooding_peer
    with pytest.raises(Unavailable, match="GetStatus reply of more than"):
        asyncio.run(_lean(xaddr))
    # What the socket buffers took besides what was read: a few MiB at most.
    assert sent[0] < 32 * 1024 * 1024, f"{sent[0] / 2**20:.0f} MiB sent and read"


@pytest.fixture
def tls_peer(tmp_path) -> Iterator[str]:
    """A loopback HTTPS peer with a self-signed certificate (as cameras have), answering
    every POST with a valid GetStatus reply."""
    from tests.onvif_control.tls_peers import self_signed

    context = self_signed("camera").server_context(tmp_path)
    reply = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body><tt:Position>'
        b'<tt:PanTilt x="0.25" y="-0.5"/><tt:Zoom x="0.1"/></tt:Position></s:Body></s:Envelope>'
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/onvif/ptz_service"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_self_signed_camera_hands_the_lean_path_over_to_zeep(tls_peer):
    """An https camera with a self-signed certificate (as cameras have): the lean path's
    certificate check failed, which was not a NoFastPath, so every status read failed
    and dropped the connection, never handing over to zeep (which, like the rest of
    onvif-zeep-async, does not check camera certificates): the pose was never known.
    Now a TLS failure hands over to zeep for good."""
    with pytest.raises(NoFastPath) as err:
        asyncio.run(_lean(tls_peer))
    assert err.value.lasting is True
