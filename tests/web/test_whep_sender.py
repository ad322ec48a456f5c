"""The WebRTC sender of the live view (recorder/webrtc/peer.py, issue 12, item 1): RFC 6184
packetization, the lean sender that replaces aiortc's RTP loop (RTCP reports, NACK
answered with RTX), datagrams sent in runs (UDP GSO) and one by one when the kernel
refuses them, and the aiortc private attributes it relies on named when missing. The
viewers are real aiortc peers against the real media engine recording the simulator;
the WHEP sessions themselves are in ``test_whep.py``.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import time
from typing import Any

import pytest
from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket, RtpPacket, is_rtcp

from onvif_control.simulator import SimulatedCamera
from recorder.webrtc import annexb_parameter_sets, nal_types
from tests.recorder.conftest import PASSWORD, USERNAME, Rig
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.whep import SQLITE_ONLY, Viewer, poster, recorded_as_it_comes
from tests.web.whep import masked as masked  # the fixtures: the simulator recorded
from vms.services import Services

# -- packetization (no network) ------------------------------------------------------------


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


# -- the sender on a real viewer ------------------------------------------------------------


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
