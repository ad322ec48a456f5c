"""aiortc's side of the WebRTC live view (:mod:`recorder.webrtc`): the track each viewer
is sent, the sender that sends it, and the pieces of a peer connection. The one module
that imports aiortc; the gateway loads it on the first offer.

Per viewer, aiortc's own sender does for every RTP packet what costs the most here in
Python: an ``RtpPacket`` object, its header extensions serialized, the clock read twice,
four coroutines down to ``sendto`` (docs/design/live-view.md, "WebRTC cost"). For
packets it does not encode, it also splits and packetizes every frame again for every
viewer. So:

- :class:`Packetizer`: a camera's frame is split into RTP payloads once, for all its
  viewers (aiortc's H.264 packetization with FU-A fragments of one size, SPS/PPS put in
  front of a keyframe that lacks them).
- :class:`PacketSender`: aiortc's ``RTCRtpSender`` with its RTP loop replaced. Per frame
  it serializes one header (aiortc's, with the negotiated extensions); per packet it
  writes the sequence number and marker into it and protects it (SRTP); the frame's
  datagrams go to the selected ICE pair's socket, runs of one size in one system call
  (:class:`_Datagrams`, UDP GSO). RTCP (sender reports, NACK, PLI) stays aiortc's:
  the counters its reports read are kept, and a NACKed packet is sent again (as RTX
  when negotiated) from the sender's own history.

Both reach into aiortc 1.16's and aioice 0.13's private attributes (pinned in
``constraints.txt``); :func:`check_private_api` names any that a new release lacks,
and the first offer fails with that message instead of sending nothing.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpSender,
    RTCSessionDescription,
    clock,
)
from aiortc.codecs.h264 import FU_A_HEADER_SIZE, NAL_TYPE_FU_A, PACKET_MAX, H264Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, wrap_rtx
from aiortc.utils import random32

from recorder.fanout import EncodedPacket, Interruption, Item, PacketHub
from recorder.webrtc import VIDEO_CLOCK, annexb_parameter_sets, nal_types
from vms.errors import Unavailable

log = logging.getLogger(__name__)

# aiortc's RTCRtpSender keeps these name-mangled: what PacketSender reads and keeps up.
_SENDER = "_RTCRtpSender__"
_SENDER_PRIVATE = (
    "rtp_started",
    "rtp_exited",
    "rtp_header_extensions_map",
    "mid",
    "rtx_payload_type",
    "rtx_sequence_number",
    "ntp_timestamp",
    "rtp_timestamp",
    "octet_count",
    "packet_count",
)
_DTLS = "_RTCDtlsTransport__"


def new_peer_connection() -> RTCPeerConnection:
    """A server-side peer: host candidates only (non-trickle, the answer complete at once)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def h264_codecs() -> list[RTCRtpCodecCapability]:
    """The codecs a viewer is offered: H.264 (the packets we have) and its RTX."""
    return [
        c
        for c in RTCRtpSender.getCapabilities("video").codecs
        if c.mimeType.lower() in ("video/h264", "video/rtx")
    ]


def offer_description(sdp: str) -> RTCSessionDescription:
    return RTCSessionDescription(sdp=sdp, type="offer")


def check_private_api(sender: RTCRtpSender) -> None:
    """Unavailable naming what this aiortc/aioice lacks of what :class:`PacketSender`
    uses (a release newer than ``constraints.txt`` pins)."""
    missing = [name for name in _SENDER_PRIVATE if not hasattr(sender, _SENDER + name)]
    dtls = sender.transport
    missing += [name for name in ("_tx_srtp",) if not hasattr(dtls, name)]
    missing += [f"{_DTLS}{n}" for n in ("tx_bytes", "tx_packets") if not hasattr(dtls, _DTLS + n)]
    ice = getattr(dtls.transport, "_connection", None)
    if ice is None or not isinstance(getattr(ice, "_nominated", None), dict):
        missing.append("aioice Connection._nominated")
    if missing:
        raise Unavailable(
            "the WebRTC sender does not fit this aiortc/aioice release (missing: "
            + ", ".join(missing)
            + "); install the versions constraints.txt names"
        )


# -- the packets of a frame -----------------------------------------------------------------


class RtpFrame(NamedTuple):
    """One frame as a viewer's sender takes it: its RTP payloads (shared by every viewer
    of the camera, not to be changed) and its timestamp on this viewer's 90 kHz clock."""

    payloads: list[bytes]
    timestamp: int


class _H264Payloads(H264Encoder):
    """aiortc's H.264 packetization (single NAL units, STAP-A aggregates of small ones,
    FU-A fragments of large ones), but with every FU-A fragment of a NAL unit
    ``PACKET_MAX`` bytes long except the last (aiortc spreads the sizes evenly, a byte
    apart): a frame's fragments are then datagrams of one size, which one system call
    sends (:class:`_Datagrams`). Never instantiated: only its class methods are used."""

    @staticmethod
    def _packetize_fu_a(data: bytes) -> list[bytes]:
        indicator = (data[0] & 0xE0) | NAL_TYPE_FU_A  # F and NRI of the NAL unit
        nal_type = data[0] & 0x1F
        step = PACKET_MAX - FU_A_HEADER_SIZE
        starts = range(1, len(data), step)  # after the NAL unit's own header byte
        last = starts[-1]
        return [
            bytes((indicator, nal_type | (0x80 if at == 1 else 0) | (0x40 if at == last else 0)))
            + data[at : at + step]
            for at in starts
        ]


def packetize(annexb: bytes) -> list[bytes]:
    """The RTP payloads (RFC 6184, packetization-mode 1) of an Annex B access unit."""
    return _H264Payloads._packetize(_H264Payloads._split_bitstream(annexb))


class Packetizer:
    """A camera's frames split into RTP payloads once for all its viewers (on the WebRTC
    loop's thread). Every viewer's queue holds the same :class:`EncodedPacket` objects,
    taken from the queues one viewer after another: the payloads of the last few are
    kept, recognised by identity."""

    KEEP = 8

    def __init__(self) -> None:
        self._recent: collections.deque[tuple[EncodedPacket, list[bytes]]] = collections.deque(
            maxlen=self.KEEP
        )
        self.packetized = 0

    def payloads(self, item: EncodedPacket) -> list[bytes]:
        for done, payloads in self._recent:
            if done is item:
                return payloads
        data = item.data
        if item.keyframe and 7 not in nal_types(data):
            # Browsers need the parameter sets before the first IDR.
            data = annexb_parameter_sets(item.info.extradata) + data
        payloads = packetize(data)
        self._recent.append((item, payloads))
        self.packetized += 1
        return payloads


class PacketTrack(MediaStreamTrack):
    """A viewer's video track: the hub's encoded packets as :class:`RtpFrame` values
    (never decoded, never encoded), for :class:`PacketSender`.

    Subscribes to the hub on the first ``recv`` (when the peer connection is up), from
    the next keyframe on. Timestamps stay increasing across camera reconnects (a new
    stream starts at pts 0)."""

    kind = "video"

    def __init__(self, hub: PacketHub, packetizer: Packetizer, on_join: Callable[[], None]):
        super().__init__()
        self.hub = hub
        self._packetizer = packetizer
        self._on_join = on_join
        self._queue: asyncio.Queue[Item] | None = None
        self._offset = 0
        self._last = -1
        self.packets_sent = 0

    async def recv(self) -> Any:  # RtpFrame: aiortc's annotation says Frame | Packet
        return await self.next_frame()

    async def next_frame(self) -> RtpFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._queue is None:
            self._queue = self.hub.subscribe_async(asyncio.get_running_loop(), maxsize=90)
            self._on_join()
        while True:
            item = await self._queue.get()
            if isinstance(item, Interruption):
                continue  # the queue resumes at the next keyframe
            self.packets_sent += 1
            return RtpFrame(self._packetizer.payloads(item), self._timestamp(item))

    def _timestamp(self, item: EncodedPacket) -> int:
        pts = round(item.pts * item.info.time_base * VIDEO_CLOCK) + self._offset
        if pts <= self._last:  # the stream restarted: continue after the last one
            self._offset += self._last + VIDEO_CLOCK // 10 - pts
            pts = self._last + VIDEO_CLOCK // 10
        self._last = pts
        return pts

    def stop(self) -> None:
        super().stop()
        if self._queue is not None:
            self.hub.unsubscribe_async(self._queue)
            self._queue = None


# -- datagrams ------------------------------------------------------------------------------

# linux/udp.h: one sendmsg carries many datagrams of one size (UDP GSO, Linux 4.18).
UDP_SEGMENT = 103
_GSO_BYTES = 65_000  # under the 65,507 bytes of one UDP send
_GSO_SEGMENTS = 64  # the kernel's UDP_MAX_SEGMENTS


class _Datagrams:
    """A viewer's datagrams to its selected ICE pair. Each run of one size (a frame's
    FU-A fragments; the last of a run may be shorter) goes in one ``sendmsg`` with
    ``UDP_SEGMENT`` on a duplicate of the pair's socket: the kernel cuts it into the
    datagrams, one system call instead of one a packet. The rest goes through asyncio's
    transport, and so does everything while the transport holds a backlog, so the order
    is kept. Without GSO (not Linux, or the kernel refuses it: EIO on a route without
    checksum offload, say) everything goes through the transport."""

    def __init__(self) -> None:
        self.gso = sys.platform == "linux"
        self.batches = 0  # sendmsg calls that carried a run
        self._transport: Any = None
        self._socket: socket.socket | None = None

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = self._transport = None

    def send(self, transport: Any, address: Any, datagrams: list[bytes]) -> None:
        if transport.is_closing():  # as asyncio's sendto: nothing goes out
            self.close()
            return
        i, n = 0, len(datagrams)
        while i < n:
            size = len(datagrams[i])
            j = i + 1
            if self.gso:
                limit = min(_GSO_SEGMENTS, _GSO_BYTES // size)
                while j < n and j - i < limit and len(datagrams[j]) == size:
                    j += 1
                if j < n and j - i < limit and len(datagrams[j]) < size:
                    j += 1  # a shorter last one
            if (
                j - i == 1
                or transport.get_write_buffer_size()
                or not self._send_run(transport, address, datagrams[i:j], size)
            ):
                for datagram in datagrams[i:j]:
                    transport.sendto(datagram, address)
            i = j

    def _send_run(self, transport: Any, address: Any, run: list[bytes], size: int) -> bool:
        """Whether ``run`` went out in one call (False: nothing of it did)."""
        if transport is not self._transport:
            self.close()
            self._socket = transport.get_extra_info("socket").dup()
            self._transport = transport
        assert self._socket is not None
        segment = [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))]
        try:
            self._socket.sendmsg([b"".join(run)], segment, 0, address)
        except BlockingIOError:
            return False  # the transport queues it, and what follows, in order
        except OSError as exc:
            self.gso = False
            self.close()
            log.info("WebRTC: UDP GSO refused (%s); sending datagrams one by one", exc)
            return False
        self.batches += 1
        return True


# -- the sender -----------------------------------------------------------------------------


class PacketSender(RTCRtpSender):
    """aiortc's sender with a lean RTP loop for :class:`PacketTrack`'s frames (module
    docstring). Made with :meth:`adopt` from the sender of a transceiver, before the
    offer is applied."""

    _on_keyframe: Callable[[], None]
    _history: dict[int, bytes]
    _datagrams: _Datagrams

    @classmethod
    def adopt(cls, sender: RTCRtpSender, on_keyframe: Callable[[], None]) -> PacketSender:
        """``sender`` as a PacketSender; ``on_keyframe`` is called for a viewer's
        picture-loss report (RTCP PLI/FIR), which aiortc could only honour for frames
        it encodes itself."""
        check_private_api(sender)
        sender.__class__ = cls
        assert isinstance(sender, PacketSender)
        sender._on_keyframe = on_keyframe
        sender._history = {}
        sender._datagrams = _Datagrams()
        return sender

    def _send_keyframe(self) -> None:
        self._on_keyframe()

    def _private(self, name: str) -> Any:
        return getattr(self, _SENDER + name)

    async def _run_rtp(self, codec: RTCRtpCodecParameters) -> None:
        self._private("rtp_started").set()
        track = self.track
        assert isinstance(track, PacketTrack) and codec.payloadType is not None
        try:
            sequence = random_sequence_number()
            origin = random32()
            while True:
                frame = await track.next_frame()
                if self._enabled:
                    sequence = self._send_frame(codec.payloadType, frame, origin, sequence)
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:  # as aiortc's loop: stop() waits for rtp_exited, so go on
            log.warning("WebRTC sender failed: %s", traceback.format_exc())
        self._datagrams.close()
        track.stop()
        self._private("rtp_exited").set()

    def _send_frame(self, payload_type: int, frame: RtpFrame, origin: int, sequence: int) -> int:
        """Send ``frame``'s packets from ``sequence`` on; the next sequence number."""
        dtls = self.transport
        if dtls.state != "connected":
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            raise ConnectionError("Cannot send data, not connected")
        protect = dtls._tx_srtp.protect
        history = self._history

        # One header a frame, aiortc's, with the negotiated extensions (the send time
        # is the frame's: its packets leave together).
        timestamp = (origin + frame.timestamp) & 0xFFFFFFFF
        packet = RtpPacket(payload_type=payload_type, timestamp=timestamp, ssrc=self._ssrc)
        packet.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
        packet.extensions.mid = self._private("mid")
        header = bytearray(packet.serialize(self._private("rtp_header_extensions_map")))

        payloads = frame.payloads
        last = len(payloads) - 1
        octets = sent = 0
        datagrams = []
        for i, payload in enumerate(payloads):
            header[1] = payload_type | (0x80 if i == last else 0)  # the marker ends a frame
            header[2], header[3] = sequence >> 8, sequence & 0xFF
            data = bytes(header) + payload
            history[sequence % RTP_HISTORY_SIZE] = data
            protected = protect(data)
            datagrams.append(protected)
            octets += len(payload)
            sent += len(protected)
            sequence = (sequence + 1) & 0xFFFF
        self._datagrams.send(pair.protocol.transport, pair.remote_addr, datagrams)

        # What aiortc's RTCP sender reports and getStats() read.
        setattr(self, _SENDER + "ntp_timestamp", clock.current_ntp_time())
        setattr(self, _SENDER + "rtp_timestamp", timestamp)
        setattr(self, _SENDER + "octet_count", self._private("octet_count") + octets)
        setattr(self, _SENDER + "packet_count", self._private("packet_count") + len(payloads))
        setattr(dtls, _DTLS + "tx_bytes", getattr(dtls, _DTLS + "tx_bytes") + sent)
        setattr(dtls, _DTLS + "tx_packets", getattr(dtls, _DTLS + "tx_packets") + len(payloads))
        return sequence

    async def _retransmit(self, sequence_number: int) -> None:
        """A packet the viewer reported lost (RTCP NACK), again: as RTX when negotiated
        (aiortc's own ``_retransmit``, from this sender's history)."""
        data = self._history.get(sequence_number % RTP_HISTORY_SIZE)
        if data is None:
            return
        extensions = self._private("rtp_header_extensions_map")
        packet = RtpPacket.parse(data, extensions)
        if packet.sequence_number != sequence_number:
            return  # overwritten by a later one
        rtx_payload_type = self._private("rtx_payload_type")
        if rtx_payload_type is not None:
            rtx_sequence = self._private("rtx_sequence_number")
            packet = wrap_rtx(
                packet,
                payload_type=rtx_payload_type,
                sequence_number=rtx_sequence,
                ssrc=self._rtx_ssrc,
            )
            setattr(self, _SENDER + "rtx_sequence_number", (rtx_sequence + 1) & 0xFFFF)
        await self.transport._send_rtp(packet.serialize(extensions))
