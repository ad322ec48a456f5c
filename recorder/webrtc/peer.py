"""aiortc's side of the WebRTC live view (:mod:`recorder.webrtc`): the track each viewer
is sent and the pieces of a peer connection. The one module that imports aiortc; the
gateway loads it on the first offer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from recorder.fanout import EncodedPacket, Interruption, Item, PacketHub
from recorder.webrtc import VIDEO_CLOCK, VIDEO_TIME_BASE, annexb_parameter_sets, nal_types
from vms.media.stream import encoded_packet


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


class PacketTrack(MediaStreamTrack):
    """A video track that yields the hub's encoded packets (``av.Packet``, Annex B,
    90 kHz pts), never frames: aiortc sends them without re-encoding.

    Subscribes to the hub on the first ``recv`` (when the peer connection is up), from
    the next keyframe on; keyframes are sent with the stream's SPS/PPS in front when
    they do not carry them (browsers need them before the first IDR). Timestamps stay
    increasing across camera reconnects (a new stream starts at pts 0)."""

    kind = "video"

    def __init__(self, hub: PacketHub, on_join: Callable[[], None]) -> None:
        super().__init__()
        self.hub = hub
        self._on_join = on_join
        self._queue: asyncio.Queue[Item] | None = None
        self._offset = 0
        self._last = -1
        self.packets_sent = 0

    async def recv(self) -> Any:  # av.Packet
        if self.readyState != "live":
            raise MediaStreamError
        if self._queue is None:
            self._queue = self.hub.subscribe_async(asyncio.get_running_loop(), maxsize=90)
            self._on_join()
        while True:
            item = await self._queue.get()
            if isinstance(item, Interruption):
                continue  # the queue resumes at the next keyframe
            return self._packet(item)

    def _packet(self, item: EncodedPacket) -> Any:  # av.Packet
        data = item.data
        if item.keyframe and 7 not in nal_types(data):
            data = annexb_parameter_sets(item.info.extradata) + data
        pts = round(item.pts * item.info.time_base * VIDEO_CLOCK) + self._offset
        if pts <= self._last:  # the stream restarted: continue after the last one
            self._offset += self._last + VIDEO_CLOCK // 10 - pts
            pts = self._last + VIDEO_CLOCK // 10
        self._last = pts
        self.packets_sent += 1
        return encoded_packet(data, pts, VIDEO_TIME_BASE)

    def stop(self) -> None:
        super().stop()
        if self._queue is not None:
            self.hub.unsubscribe_async(self._queue)
            self._queue = None
