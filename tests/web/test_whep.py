"""WebRTC live view over WHEP (issue 12, item 1), with a real aiortc peer as the viewer
against the real media engine recording the simulator (masked and pass-through).

What is proven: a viewer gets 201 with an SDP answer and a Location, receives and
decodes frames, and DELETE ends it; ten viewers open no encoder (no per-viewer encode);
a role without ``live.view`` gets 403, audited (ACC-1); garbage SDP gets 400 with the
reason; a viewer is cut when their token is revoked (ACC-1); fifty offers whose ICE
never completes leave no peer connection behind. The browser (Chromium) side is in
``test_whep_browser.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import gc
import random
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket, RtpPacket, is_rtcp
from sqlalchemy import select

from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from recorder.webrtc import annexb_parameter_sets, nal_types
from tests.recorder.conftest import PASSWORD, USERNAME, Rig, onboard, rigged, wait_for
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, Role, User
from vms.media.codec import Encoder
from vms.services import Services

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
SDP = {"Content-Type": "application/sdp"}

Post = Callable[[str], Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def masked(services: Services, sim: SimulatedCamera) -> Iterator[Rig]:
    """The simulator onboarded with its private zones as masks, recorded (masked)."""
    with rigged(services, sim) as rig:
        rig.recorder.start()
        rig.wait_streaming()
        wait_for(lambda: rig.recorder.hub(rig.camera_id).info is not None, 20, "packets")
        yield rig


@pytest.fixture
def passthrough(services: Services, sim: SimulatedCamera) -> Iterator[tuple[Recorder, str]]:
    """The simulator onboarded without masks: recorded as it comes (no decode)."""
    with recorded_as_it_comes(services, sim) as recorded:
        yield recorded


@contextlib.contextmanager
def recorded_as_it_comes(
    services: Services, sim: SimulatedCamera, seconds: float = 20
) -> Iterator[tuple[Recorder, str]]:
    """``sim`` onboarded without masks and recorded (pass-through), its first packets in
    within ``seconds``, until the end."""
    recorder = get_recorder(services)
    try:
        camera_id = onboard(services, sim)
        assert recorder.add_registered() == [camera_id]
        recorder.start()
        wait_for(lambda: recorder.hub(camera_id).info is not None, seconds, "packets")
        assert not recorder.pipeline(camera_id).status.masked
        yield recorder, camera_id
    finally:
        recorder.stop()
        get_control(services).close()


class Viewer:
    """An aiortc peer that receives video (recvonly), as a browser's WHEP client does."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTransceiver("video", direction="recvonly")
        self.frames: list[Any] = []
        self.ended = asyncio.Event()
        self.location = ""
        self._tasks: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.ensure_future(self._pull(track)))

    async def _pull(self, track: Any) -> None:
        try:
            while True:
                self.frames.append(await track.recv())
                del self.frames[:-5]  # keep the newest few
                self.count = getattr(self, "count", 0) + 1
        except Exception:
            self.ended.set()

    @property
    def decoded(self) -> int:
        return int(getattr(self, "count", 0))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        assert self.pc.localDescription is not None
        return self.pc.localDescription.sdp

    async def connect(self, post: Post) -> None:
        reply = await asyncio.to_thread(post, await self.offer())
        assert reply.status_code == 201, (reply.status_code, reply.get_data(as_text=True))
        assert reply.mimetype == "application/sdp"
        self.location = reply.headers["Location"]
        await self.pc.setRemoteDescription(
            RTCSessionDescription(reply.get_data(as_text=True), "answer")
        )

    async def wait_frames(self, count: int = 1, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while self.decoded < count:
            assert time.monotonic() < deadline, f"{self.decoded} frames in {seconds:.0f} s"
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


def poster(client: Any, camera_id: str, token: str) -> Post:
    url = f"/api/v1/cameras/{camera_id}/whep"
    return lambda sdp: client.post(url, data=sdp, headers=bearer(token) | SDP)


# -- helpers --------------------------------------------------------------------------------


def test_parameter_sets_from_avcc_and_annexb() -> None:
    sps, pps = b"\x67\x42\xc0\x1e\xab", b"\x68\xce\x3c\x80"
    avcc = (
        b"\x01\x42\xc0\x1e\xff\xe1"
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )
    annexb = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps
    assert annexb_parameter_sets(avcc) == annexb
    assert annexb_parameter_sets(annexb) == annexb
    assert nal_types(annexb) == {7, 8}
    assert annexb_parameter_sets(b"") == b""
    assert annexb_parameter_sets(b"\x01\x42") == b""  # truncated avcC: none


class RefusingGso:
    """In place of a sender's duplicate socket: the kernel refusing UDP GSO, as on a
    route without checksum offload (no route here refuses it)."""

    def __init__(self) -> None:
        self.sends = 0

    def sendmsg(self, *args: Any) -> int:
        self.sends += 1
        raise OSError(errno.EIO, "Input/output error")

    def close(self) -> None:
        pass


def refuse_runs(datagrams: Any) -> RefusingGso:
    """Make the kernel refuse ``datagrams``' next run (a ``peer._Datagrams`` that has sent
    one: its duplicate of the pair's socket is closed and replaced)."""
    duplicate = datagrams._socket
    assert duplicate is not None
    refusing = datagrams._socket = RefusingGso()
    duplicate.close()
    return refusing


def test_packetize_cuts_nal_units_into_datagrams_of_one_size_and_back() -> None:
    """RFC 6184 packetization (packetization-mode 1) of an access unit: parameter sets
    aggregated (STAP-A), a large NAL unit cut into FU-A fragments all PACKET_MAX bytes
    long but the last (one size: one system call sends them, UDP GSO), a small one as it
    is. aiortc's own depacketizer puts back every NAL unit, byte for byte."""
    from aiortc.codecs.h264 import PACKET_MAX, H264PayloadDescriptor

    from recorder.webrtc.peer import packetize

    rng = random.Random(12)

    def nal(header: int, size: int) -> bytes:  # no start code inside: bytes 1-255
        return bytes([header]) + bytes(rng.randrange(1, 256) for _ in range(size - 1))

    step = PACKET_MAX - 2  # an FU-A fragment carries 2 header bytes
    for big in (PACKET_MAX + 1, 3 * step + 1, 3 * step + 2, 5000):
        units = [nal(0x67, 20), nal(0x68, 6), nal(0x65, big), nal(0x41, 100)]
        annexb = b"".join(b"\x00\x00\x00\x01" + u for u in units)
        payloads = packetize(annexb)
        assert payloads[0][0] & 0x1F == 24  # STAP-A: SPS and PPS
        fragments = [p for p in payloads if p[0] & 0x1F == 28]
        assert [len(p) for p in fragments[:-1]] == [PACKET_MAX] * (len(fragments) - 1)
        assert 2 < len(fragments[-1]) <= PACKET_MAX
        assert [p[1] & 0xC0 for p in fragments] == [0x80] + [0] * (len(fragments) - 2) + [0x40]
        assert payloads[-1] == units[-1]  # a small one alone, as it is
        again = b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads)
        assert again == annexb


# -- viewers ----------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_a_viewer_of_a_masked_camera_gets_the_mask_encoder_packets_PSCS_1_INV_5_ACC_6(
    masked: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    rig = masked
    gateway = rig.recorder.webrtc
    encoders = Encoder.opened()
    post = poster(client, rig.camera_id, tokens["dispatcher"])

    async def run() -> None:
        viewers = [Viewer() for _ in range(10)]
        try:
            await viewers[0].connect(post)
            await viewers[0].wait_frames(3, seconds=10)
            frame = viewers[0].frames[-1]
            assert (frame.width, frame.height) == (320, 180)
            for viewer in viewers[1:]:
                await viewer.connect(post)
            for viewer in viewers:
                await viewer.wait_frames(3, seconds=15)
            # Ten viewers, and still the one mask encoder: nothing encoded per viewer.
            assert Encoder.opened() == encoders
            assert gateway.senders_encoding() == 0
            assert gateway.session_count == 10
            # Each frame is packetized once for all ten, not once a viewer.
            sent = sum(gateway.packets_sent(sid) for sid in gateway.sessions(rig.camera_id))
            assert 0 < gateway.packetized(rig.camera_id) < sent / 3
            # One hub subscriber carries the packets to the loop for all ten.
            hub = rig.recorder.hub(rig.camera_id)
            assert hub.async_queues == 10
            subscribers = hub.subscriber_count
            # DELETE on the Location ends the session.
            gone = await asyncio.to_thread(
                client.delete, viewers[0].location, headers=bearer(tokens["dispatcher"])
            )
            assert gone.status_code == 204
            assert gateway.session_count == 9
            assert hub.async_queues == 9 and hub.subscriber_count == subscribers
            again = await asyncio.to_thread(
                client.delete, viewers[0].location, headers=bearer(tokens["dispatcher"])
            )
            assert again.status_code == 404
            # Somebody else's session is not theirs to end.
            other = await asyncio.to_thread(
                client.delete, viewers[1].location, headers=bearer(tokens["sergeant"])
            )
            assert other.status_code == 404 and gateway.session_count == 9
        finally:
            for viewer in viewers:
                await viewer.close()

    asyncio.run(run())
    wait_for(lambda: gateway.session_count == 0, 10, "sessions closed with their peers")
    with services.db.session() as s:
        views = (
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "live.view", AuditEntry.actor == "dispatcher"
                )
            )
            .scalars()
            .all()
        )
    assert len(views) == 10
    assert {v.details["kind"] for v in views} == {"webrtc"}
    assert all(v.target == f"camera:{rig.camera_id}" and v.outcome == "ok" for v in views)


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_a_viewer_of_a_pass_through_camera_gets_the_camera_packets(
    passthrough: tuple[Recorder, str], client: Any, tokens: dict[str, str]
) -> None:
    recorder, camera_id = passthrough
    encoders = Encoder.opened()

    async def run() -> None:
        viewer = Viewer()
        try:
            await viewer.connect(poster(client, camera_id, tokens["sergeant"]))
            await viewer.wait_frames(3, seconds=15)
        finally:
            await viewer.close()

    asyncio.run(run())
    assert Encoder.opened() == encoders  # no encoder at all: the camera's own packets
    assert recorder.webrtc.senders_encoding() == 0


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_the_lean_sender_keeps_rtcp_reports_and_answers_a_nack_with_rtx(
    masked: Rig, client: Any, tokens: dict[str, str]
) -> None:
    """The sender that replaces aiortc's RTP loop (recorder/webrtc/peer.py) keeps what
    aiortc's RTCP reads: the viewer's receiver gets sender reports counting the packets
    sent, and a packet the viewer reports lost (NACK) is sent again, wrapped as RTX
    (RFC 4588) around the same payload."""
    gateway = masked.recorder.webrtc
    post = poster(client, masked.camera_id, tokens["dispatcher"])

    async def run() -> None:
        viewer = Viewer()
        try:
            await viewer.connect(post)
            await viewer.wait_frames(10, seconds=15)
            (session_id,) = gateway.sessions(masked.camera_id)
            sender = gateway._sessions[session_id].sender
            # aiortc's sender reports, as the viewer sees them, and its outbound counters.
            deadline = time.monotonic() + 5  # reports go out every 0.5-1.5 s
            remote: list[Any] = []
            while not remote:
                assert time.monotonic() < deadline, "no RTCP sender report reached the viewer"
                await asyncio.sleep(0.2)
                received = await viewer.pc.getReceivers()[0].getStats()
                remote = [s for s in received.values() if s.type == "remote-outbound-rtp"]

            async def on_the_senders_loop() -> tuple[Any, RtpPacket, list[bytes]]:
                # On the sender's own loop: its history and transport are not read or
                # patched from another thread while it sends.
                stats = await sender.getStats()
                outbound = next(s for s in stats.values() if s.type == "outbound-rtp")
                # A NACK for a packet still in the history: sent again as RTX.
                original = RtpPacket.parse(sender._history[max(sender._history)])
                sent: list[bytes] = []
                send_rtp = sender.transport._send_rtp

                async def capture(data: bytes) -> None:
                    sent.append(data)
                    await send_rtp(data)

                sender.transport._send_rtp = capture  # type: ignore[method-assign]
                try:
                    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=sender._ssrc)
                    nack.lost = [original.sequence_number]
                    await sender._handle_rtcp_packet(nack)
                    nack.lost = [(original.sequence_number + 1000) & 0xFFFF]  # long gone
                    await sender._handle_rtcp_packet(nack)
                finally:
                    sender.transport._send_rtp = send_rtp  # type: ignore[method-assign]
                return outbound, original, sent

            outbound, original, sent = await asyncio.to_thread(gateway._call, on_the_senders_loop())
            assert outbound.packetsSent > 10 and outbound.bytesSent > 0
            assert 0 < remote[0].packetsSent <= outbound.packetsSent
            rtx = [RtpPacket.parse(d) for d in sent if not is_rtcp(d)]
            assert len(rtx) == 1
            assert rtx[0].ssrc == sender._rtx_ssrc
            assert rtx[0].payload_type != original.payload_type  # the negotiated RTX type
            assert rtx[0].timestamp == original.timestamp
            assert rtx[0].payload == original.sequence_number.to_bytes(2, "big") + original.payload
        finally:
            await viewer.close()

    asyncio.run(run())


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_a_720p_viewer_is_sent_runs_of_datagrams_and_one_by_one_when_the_kernel_refuses(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    """A 720p camera's frames are many datagrams: they go out in runs (one system call
    each, UDP GSO) and the viewer decodes them. Where the kernel refuses GSO (EIO on a
    route without checksum offload), the refused run and all after it go one by one and
    the viewer keeps decoding. The refusal is the one thing faked: no route here
    refuses it."""
    camera = SimulatedCamera(
        "hd", size=(1280, 720), fps=10, username=USERNAME, password=PASSWORD
    )  # fmt: skip
    camera.start()

    try:
        with recorded_as_it_comes(services, camera) as (recorder, camera_id):
            gateway = recorder.webrtc

            async def run() -> None:
                viewer = Viewer()
                try:
                    await viewer.connect(poster(client, camera_id, tokens["dispatcher"]))
                    await viewer.wait_frames(5, seconds=20)
                    (session_id,) = gateway.sessions(camera_id)
                    datagrams = gateway._sessions[session_id].sender._datagrams

                    async def refuse() -> tuple[RefusingGso, int]:  # on the sender's loop
                        return refuse_runs(datagrams), datagrams.batches

                    assert datagrams.gso
                    refusing, runs = await asyncio.to_thread(gateway._call, refuse())
                    assert runs > 0
                    before = viewer.decoded
                    await viewer.wait_frames(before + 10, seconds=20)
                    assert refusing.sends == 1 and not datagrams.gso  # not asked again
                    assert datagrams.batches == runs
                finally:
                    await viewer.close()

            asyncio.run(run())
    finally:
        camera.stop()


def test_datagrams_go_in_runs_of_one_size_in_order() -> None:
    """``_Datagrams`` on real sockets: runs of one size (the last may be shorter) in one
    call each, at most 64 datagrams and 65,000 bytes a call; every datagram arrives,
    byte for byte and in order, whether sent in runs, one by one because the kernel
    refused a run, or one by one because asyncio's transport holds a backlog (its size
    is the one thing faked); nothing once the transport is closed."""
    from recorder.webrtc.peer import _Datagrams

    def frame(tag: int, sizes: list[int]) -> list[bytes]:
        return [bytes([tag, i]) + bytes(size - 2) for i, size in enumerate(sizes)]

    async def run() -> None:
        loop = asyncio.get_running_loop()
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(0.5)
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        address = receiver.getsockname()

        def received(count: int) -> list[bytes]:
            return [receiver.recv(65536) for _ in range(count)]

        try:
            sender = _Datagrams()
            # A keyframe's STAP-A, two runs of FU-A fragments ending shorter, a P-frame.
            sent = frame(1, [200, *[1322] * 5, 900, *[1322] * 4, 400, 60])
            sender.send(transport, address, sent)
            assert received(len(sent)) == sent and sender.batches == 2
            # 70 fragments: 49 fit in 65,000 bytes, then the other 21.
            sent = frame(2, [1322] * 70)
            sender.send(transport, address, sent)
            assert received(70) == sent and sender.batches == 4
            refuse_runs(sender)
            for tag in (3, 4):  # refused, then not tried again
                sent = frame(tag, [1322] * 6 + [10])
                sender.send(transport, address, sent)
                assert received(7) == sent
            assert not sender.gso and sender.batches == 4

            backlogged = _Datagrams()
            transport.get_write_buffer_size = lambda: 1  # type: ignore[method-assign]
            sent = frame(5, [1322] * 6)
            backlogged.send(transport, address, sent)
            assert received(6) == sent and backlogged.batches == 0

            transport.close()
            backlogged.send(transport, address, frame(6, [1322] * 3))
            with pytest.raises(TimeoutError):
                receiver.recv(65536)
        finally:
            transport.close()
            receiver.close()

    asyncio.run(run())


def test_the_sender_names_what_a_new_aiortc_release_lacks() -> None:
    """The lean sender reaches into aiortc's private attributes (pinned): a release
    without one fails the offer naming it, instead of sending nothing."""
    from recorder.webrtc import peer
    from vms.errors import Unavailable

    async def run() -> None:
        pc = peer.new_peer_connection()
        try:
            sender = pc.addTransceiver("video", direction="sendonly").sender
            peer.check_private_api(sender)  # this release: all there
            del sender._RTCRtpSender__mid  # type: ignore[attr-defined]
            with pytest.raises(Unavailable, match="missing: mid"):
                peer.PacketSender.adopt(sender, lambda: None)
            assert type(sender) is not peer.PacketSender
        finally:
            await pc.close()

    asyncio.run(run())


# -- refusals ---------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_whep_refusals_403_audited_and_400_with_a_reason_ACC_1(
    masked: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    url = f"/api/v1/cameras/{masked.camera_id}/whep"
    offer = asyncio.run(_an_offer())
    for role in ("investigator", "officer", "auditor", "commander"):
        r = client.post(url, data=offer, headers=bearer(tokens[role]) | SDP)
        assert r.status_code == 403, role
        assert r.json["error"]["kind"] == "permission_denied"
    with services.db.session() as s:
        denied = (
            s.execute(
                select(AuditEntry.actor).where(
                    AuditEntry.action == "live.view", AuditEntry.outcome == "denied"
                )
            )
            .scalars()
            .all()
        )
    assert sorted(denied) == ["auditor", "commander", "investigator", "officer"]
    assert client.post(url, data=offer, headers=SDP).status_code == 401

    dispatcher = bearer(tokens["dispatcher"])
    bad = {
        "hello": "must start with v=0",
        "": "must start with v=0",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n": "no video",
        offer.replace("H264/90000", "H265/90000"): "no H.264",
        offer.replace("a=fingerprint:", "a=fingerprnt:"): "fingerprint",
        offer.replace("a=setup:", "a=setup:x"): "refused",
    }
    for body, reason in bad.items():
        r = client.post(url, data=body, headers=dispatcher | SDP)
        assert r.status_code == 400, (body[:40], r.status_code)
        assert r.json["error"]["kind"] == "invalid_argument"
        assert reason in r.json["error"]["message"], r.json
    r = client.post(url, data=offer, headers=dispatcher | {"Content-Type": "application/json"})
    assert r.status_code == 400 and "application/sdp" in r.json["error"]["message"]
    r = client.post(url, data=b"v=0\xff\xfe", headers=dispatcher | SDP)
    assert r.status_code == 400 and "UTF-8" in r.json["error"]["message"]
    missing = client.post("/api/v1/cameras/nope/whep", data=offer, headers=dispatcher | SDP)
    assert missing.status_code == 404
    assert masked.recorder.webrtc.session_count == 0  # nothing was opened by refusals


async def _an_offer() -> str:
    viewer = Viewer()
    try:
        return await viewer.offer()
    finally:
        await viewer.close()


def _demote(services: Services, actors: dict[str, Actor], token: str) -> None:
    with services.db.transaction() as s:
        user = s.execute(select(User).where(User.username == "dispatcher")).scalar_one()
        user.role = Role.INVESTIGATOR.value


def _revoke(services: Services, actors: dict[str, Actor], token: str) -> None:
    services.users.revoke_token(actors["dispatcher"], token)


@SQLITE_ONLY
@pytest.mark.timeout(120)
@pytest.mark.parametrize("cut", [_revoke, _demote], ids=["token-revoked", "role-lost"])
def test_a_viewer_is_cut_when_their_token_is_revoked_or_role_lost_ACC_1(
    masked: Rig,
    client: Any,
    services: Services,
    actors: dict[str, Actor],
    cut: Callable[[Services, dict[str, Actor], str], None],
) -> None:
    gateway = masked.recorder.webrtc
    gateway.settings = dataclasses.replace(gateway.settings, recheck_seconds=0.3)
    token = services.users.issue_token(actors["dispatcher"]).token

    async def run() -> None:
        viewer = Viewer()
        try:
            await viewer.connect(poster(client, masked.camera_id, token))
            await viewer.wait_frames(2, seconds=15)
            assert gateway.session_count == 1
            await asyncio.to_thread(cut, services, actors, token)
            deadline = time.monotonic() + 10
            while gateway.session_count:
                assert time.monotonic() < deadline, "the viewer was not cut"
                await asyncio.sleep(0.1)
            await asyncio.wait_for(viewer.ended.wait(), 10)  # the stream ended for them
        finally:
            await viewer.close()

    asyncio.run(run())
    assert "credential revoked" in gateway.closed_reasons.values()


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_offers_whose_ice_never_completes_leak_no_peer_connections(
    masked: Rig, client: Any, tokens: dict[str, str]
) -> None:
    from aiortc import RTCPeerConnection as PeerConnection

    gateway = masked.recorder.webrtc
    # Fifty from one user: above the per-user limit's default of 32 (its own test below).
    gateway.settings = dataclasses.replace(
        gateway.settings, connect_timeout_seconds=10.0, max_sessions_per_user=50
    )
    offer = asyncio.run(_an_offer())  # never answered: its ICE never completes
    post = poster(client, masked.camera_id, tokens["dispatcher"])
    gc.collect()
    before = sum(isinstance(o, PeerConnection) for o in gc.get_objects())
    for _ in range(50):
        assert post(offer).status_code == 201
    assert gateway.session_count == 50
    wait_for(lambda: gateway.session_count == 0, 30, "unconnected sessions closed")
    assert set(gateway.closed_reasons.values()) == {"ICE did not complete in time"}
    assert gateway.peer_connections() == 0
    # And nothing holds on to them: the peer connection objects themselves are gone.
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        left = sum(isinstance(o, PeerConnection) for o in gc.get_objects()) - before
        if left <= 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left <= 0, f"{left} peer connections still referenced"


def _open_udp_sockets() -> int:
    """UDP sockets this process holds (``/proc/self/fd`` links to inodes of
    ``/proc/net/udp``): what each peer connection's ICE gathering binds."""
    import os

    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            inodes |= {line.split()[9] for line in list(f)[1:]}
    held = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            held += link.startswith("socket:[") and link[8:-1] in inodes
    return held


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_one_user_holds_at_most_max_sessions_per_user_webrtc_views(
    masked: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    """Each WHEP offer, answered or not, holds UDP sockets and DTLS state on the media
    node until it closes; one dispatcher posting offers in a loop used to hold as many
    as they posted (a few hundred in the 15 s an unanswered one lives: the node's file
    descriptors). One more than ``[webrtc] max_sessions_per_user`` is 429 naming the
    limit, audited as a refused view; other users are not affected, and a session that
    ends gives its slot back (DELETE, or the connect timeout)."""
    gateway = masked.recorder.webrtc
    gateway.settings = dataclasses.replace(
        gateway.settings, max_sessions_per_user=3, connect_timeout_seconds=4.0
    )
    offer = asyncio.run(_an_offer())  # never answered: held until the connect timeout
    post = poster(client, masked.camera_id, tokens["dispatcher"])
    sockets = _open_udp_sockets()
    held = [post(offer) for _ in range(3)]
    assert [r.status_code for r in held] == [201, 201, 201]
    assert _open_udp_sockets() > sockets  # what each session costs the node
    refused = post(offer)
    assert refused.status_code == 429, refused.status_code
    assert refused.json["error"]["kind"] == "rate_limited"
    message = refused.json["error"]["message"]
    assert "[webrtc] max_sessions_per_user = 3" in message and "3 WebRTC" in message
    assert gateway.session_count == 3  # nothing was opened for the refused offer
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "live.view", AuditEntry.outcome == "denied"
            )
        ).scalar_one()
    assert denied.actor == "dispatcher"
    assert "max_sessions_per_user" in denied.details["reason"]
    # Another user's views are theirs: the limit is per user.
    assert poster(client, masked.camera_id, tokens["admin"])(offer).status_code == 201
    # Ending one gives its slot back.
    ended = client.delete(held[0].headers["Location"], headers=bearer(tokens["dispatcher"]))
    assert ended.status_code == 204, ended.status_code
    assert post(offer).status_code == 201
    assert post(offer).status_code == 429
    # So does the connect timeout of sessions that never connected.
    wait_for(lambda: gateway.session_count == 0, 30, "unconnected sessions closed")
    assert [post(offer).status_code for _ in range(3)] == [201, 201, 201]


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_the_reasons_of_closed_sessions_are_kept_for_the_latest_only(
    masked: Rig, client: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``closed_reasons`` used to keep an entry for every session since the node
    started: a viewer opening and ending sessions in a loop (or months of ordinary
    viewing) grew it without bound. It keeps the newest ``CLOSED_REASONS_KEPT``."""
    import recorder.webrtc

    monkeypatch.setattr(recorder.webrtc, "CLOSED_REASONS_KEPT", 3)
    gateway = masked.recorder.webrtc
    offer = asyncio.run(_an_offer())
    post = poster(client, masked.camera_id, tokens["dispatcher"])
    ended = []
    for _ in range(5):
        r = post(offer)
        assert r.status_code == 201
        gone = client.delete(r.headers["Location"], headers=bearer(tokens["dispatcher"]))
        assert gone.status_code == 204
        ended.append(r.headers["Location"].rsplit("/", 1)[1])
    assert list(gateway.closed_reasons) == ended[-3:]
    assert set(gateway.closed_reasons.values()) == {"ended by the viewer"}


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_a_viewer_of_a_masked_camera_joins_at_a_keyframe_made_for_them(
    services: Services, sim: SimulatedCamera, client: Any, tokens: dict[str, str]
) -> None:
    """The mask encoder's GOP is 30 s here: a viewer decoding frames within a few
    seconds got an IDR made when they joined (not the next scheduled one)."""
    recorder = get_recorder(services)
    recorder.settings = dataclasses.replace(recorder.settings, keyframe_seconds=30.0)
    with rigged(services, sim) as rig:
        rig.recorder.start()
        rig.wait_streaming()
        hub = rig.recorder.hub(rig.camera_id)
        published: list[bool] = []  # one entry per packet published: a keyframe?
        hub.subscribe(lambda p: published.append(bool(getattr(p, "keyframe", False))))
        # The stream's first IDR may be out before we subscribed: waiting for it would
        # wait for the next scheduled one, 30 s on. Any packet says the encoder runs.
        wait_for(lambda: len(published) >= 1, 30, "the first packet")
        time.sleep(1.0)  # well inside the 30 s GOP
        first = sum(published)

        async def run() -> float:
            viewer = Viewer()
            try:
                started = time.monotonic()
                await viewer.connect(poster(client, rig.camera_id, tokens["dispatcher"]))
                await viewer.wait_frames(1, seconds=10)
                return time.monotonic() - started
            finally:
                await viewer.close()

        took = asyncio.run(run())
        assert took < 10.0  # a third of the GOP: not its next scheduled IDR
        assert sum(published) > first  # an IDR was made for the viewer
