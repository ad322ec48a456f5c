"""``rtsps`` cameras with their certificate checked (vms/media/rtsps.py; docs/design/
security.md, "Camera certificates"): the camera simulator's RTSP behind a TLS server with
a certificate made here, which answers with a ``Content-Base`` naming its own rtsps
address, as a camera does, and records every byte a client sends it after the handshake.
FFmpeg alone checks no certificate; here the stream opens and decodes only through the
pin (or the CA bundle), and with another certificate nothing reaches the server: not
one RTSP byte, so no digest credentials."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from onvif_control.simulator import SimulatedCamera
from tests.onvif_control.tls_peers import SelfSigned, ca_and_leaf, self_signed
from tests.peers.tls_front import TlsFront
from vms.errors import FailedPrecondition
from vms.media.codec import Decoder
from vms.media.rtsps import CameraTls, Relay, open_checked
from vms.media.stream import RtspInput

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "rtsps-user", "rtsps-pw-9"


@pytest.fixture(scope="module")
def cam() -> Iterator[SimulatedCamera]:
    camera = SimulatedCamera("rtsps", size=(160, 96), fps=10, username=USER, password=PASSWORD)
    camera.start()
    yield camera
    camera.stop()


@pytest.fixture(scope="module")
def certs() -> tuple[SelfSigned, SelfSigned]:
    return self_signed("camera"), self_signed("impostor")


def _front(cam: SimulatedCamera, cert: SelfSigned, folder: Path) -> TlsFront:
    return TlsFront(cam.rtsp_port, cert.server_context(folder))


def _url(front: TlsFront) -> str:
    return f"rtsps://{USER}:{PASSWORD}@127.0.0.1:{front.port}/stream1"


def _refusal(source: RtspInput, front: TlsFront) -> str:
    """The message ``source.open()`` is refused with (FailedPrecondition); ``source``
    and ``front`` closed."""
    try:
        with pytest.raises(FailedPrecondition) as refused:
            source.open()
    finally:
        source.close()
        front.close()
    return refused.value.message


def _decoded_frames(source: RtspInput, packets: int = 15) -> int:
    info = source.open()
    decoder, frames = Decoder(info), 0
    for n, packet in enumerate(source.packets(), 1):
        frames += len(decoder.decode(packet))
        if n == packets:
            break
    return frames


def test_an_rtsps_stream_opens_through_its_pin_and_its_frames_decode(cam, certs, tmp_path):
    """With the camera's pin the stream opens and decodes. FFmpeg followed the camera's
    ``Content-Base`` (its own rtsps address) for SETUP on the one relayed connection: the
    server saw one connection, and that SETUP on it (FFmpeg opened no other)."""
    genuine, _ = certs
    front = _front(cam, genuine, tmp_path)
    source = RtspInput(_url(front), tls=CameraTls("lobby", fingerprint=genuine.fingerprint))
    try:
        assert _decoded_frames(source) >= 5
    finally:
        source.close()
        front.close()
    assert front.connections == 1
    assert f"SETUP rtsps://127.0.0.1:{front.port}/stream1/track1".encode() in front.received
    assert b"Authorization: Digest" in front.received  # the credentials went to it, checked


def test_a_changed_certificate_sends_nothing_and_names_both_fingerprints(cam, certs, tmp_path):
    """Another certificate on the camera's address (someone on the path): the open
    fails before any RTSP byte is written, no digest credentials leave, and the error
    names the pinned and the presented fingerprints (the camera's offline reason)."""
    genuine, impostor = certs
    front = _front(cam, impostor, tmp_path)
    source = RtspInput(_url(front), tls=CameraTls("lobby", fingerprint=genuine.fingerprint))
    message = _refusal(source, front)
    assert (
        f"camera lobby: opening the rtsps stream (rtsp port {front.port}): certificate "
        "changed: expected "
        f"{genuine.fingerprint}, got {impostor.fingerprint}; nothing was sent"
    ) in message, message
    assert front.connections == 1  # the handshake was made, then nothing
    assert front.received == b""


def test_a_ca_bundle_admits_the_certificates_it_issued_only(cam, tmp_path):
    """A camera known by its agency's CA bundle: a certificate that CA issued (for the
    address) opens and decodes; one from another CA fails in the handshake, nothing
    sent, naming the CA bundle."""
    ca, leaf = ca_and_leaf("camera")
    other_ca, other_leaf = ca_and_leaf("elsewhere")
    trust = CameraTls("dock", ca_pem=ca.cert_pem.decode())
    good = _front(cam, leaf, tmp_path)
    source = RtspInput(_url(good), tls=trust)
    try:
        assert _decoded_frames(source) >= 5
    finally:
        source.close()
        good.close()
    bad = _front(cam, other_leaf, tmp_path)
    source = RtspInput(_url(bad), tls=trust)
    try:
        with pytest.raises(FailedPrecondition, match="certificate not trusted by the camera's CA"):
            source.open()
    finally:
        source.close()
        bad.close()
    assert bad.received == b""
    assert other_ca.fingerprint != ca.fingerprint


INTRUDER = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
try:
    s.sendall(b"OPTIONS rtsp://127.0.0.1/stream1 RTSP/1.0\\r\\nCSeq: 1\\r\\n"
              b"X-Intruder: 1\\r\\n\\r\\n")
    print(len(s.recv(65536)))
except ConnectionResetError:
    print(0)
"""


def test_the_relay_refuses_a_connection_from_another_process(cam, certs, tmp_path):
    """A local user who found the relay's port and connected first is closed unanswered
    (nothing of theirs reaches the camera, nothing of the camera reaches them); the
    relay then serves this process's own connection."""
    genuine, _ = certs
    front = _front(cam, genuine, tmp_path)
    tls = CameraTls("lobby", fingerprint=genuine.fingerprint)
    relay = Relay(open_checked("127.0.0.1", front.port, tls, 5.0), label="t", accept_timeout=10)
    try:
        intruder = subprocess.run(
            [sys.executable, "-c", INTRUDER, str(relay.port)],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert intruder.stdout.strip() == "0", intruder.stderr  # closed, nothing read
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as ours:
            ours.sendall(b"OPTIONS rtsp://127.0.0.1/stream1 RTSP/1.0\r\nCSeq: 1\r\n\r\n")
            assert ours.recv(65536).startswith(b"RTSP/1.0 200")
    finally:
        relay.close()
        front.close()
    assert relay.refused == 1
    assert b"X-Intruder" not in front.received
    assert front.received.startswith(b"OPTIONS rtsp://127.0.0.1/stream1")


def test_an_rtsps_stream_with_nothing_to_check_it_against_is_not_opened(cam, certs, tmp_path):
    """Never unchecked: an ``rtsps`` stream given no pin, no CA bundle and no first use
    to learn one is refused before FFmpeg connects; the camera receives nothing."""
    genuine, _ = certs
    front = _front(cam, genuine, tmp_path)
    source = RtspInput(_url(front))
    message = _refusal(source, front)
    assert "certificate" in message, message
    assert front.connections == 0
    assert front.received == b""


def test_a_first_use_pins_what_the_handshake_met_before_a_byte_is_written(cam, certs, tmp_path):
    """Trust on first use: the certificate met is handed to ``first_use`` (which stores
    it) before anything is written; a pin another process stored meanwhile, and not
    this certificate, is what the connection is held to (nothing sent)."""
    genuine, impostor = certs
    front = _front(cam, genuine, tmp_path)
    learned: list[tuple[str, bytes]] = []

    def store(fingerprint: str) -> str:
        learned.append((fingerprint, front.received))
        return fingerprint

    source = RtspInput(_url(front), tls=CameraTls("lobby", first_use=store))
    try:
        assert _decoded_frames(source) >= 5
    finally:
        source.close()
    assert learned == [(genuine.fingerprint, b"")]
    source = RtspInput(
        _url(front), tls=CameraTls("lobby", first_use=lambda _: impostor.fingerprint)
    )
    message = _refusal(source, front)
    assert f"expected {impostor.fingerprint}, got {genuine.fingerprint}" in message
    assert front.connections == 2
    assert front.received.count(b"OPTIONS") == 1  # the first stream's only
