"""Fan-out of a camera's encoded packets: the in-process live interface.

One :class:`PacketHub` per camera pipeline. The pipeline publishes every H.264 packet it
sends out (pass-through: the camera's own; masked: the packets of its single encoder,
INV-5) and every consumer (segment writer, live preview, the later WebRTC view) gets the
*same* packets: nothing is re-encoded per consumer.

The WebRTC live view (a later issue) uses it like this, on its asyncio loop::

    hub = services.ports.get(Recorder).hub(camera_id)
    queue = hub.subscribe_async(asyncio.get_running_loop(), maxsize=60)
    try:
        info = hub.info            # StreamInfo: codec, size, extradata (SPS/PPS)
        while True:
            packet = await queue.get()   # EncodedPacket, starts at a keyframe
            if isinstance(packet, Interruption):  # camera down or new parameters:
                continue                 # re-read hub.info, packets resume at a keyframe
            ...  # hand packet.data (Annex B) to aiortc's H.264 sender, pts in 90 kHz
    finally:
        hub.unsubscribe_async(queue)

Callbacks (``subscribe``) run on the pipeline thread and must not block; asyncio queues
are fed with ``call_soon_threadsafe`` and drop the oldest packets (then wait for the next
keyframe) when a consumer falls behind, so a slow viewer never stalls recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from vms.media.stream import RawPacket, StreamInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedPacket:
    """A packet as every consumer sees it. ``pts``/``dts`` in ``info.time_base`` units
    since the start of this stream; ``capture`` is the estimated UTC capture time."""

    raw: RawPacket
    pts: int
    dts: int
    capture: dt.datetime
    info: StreamInfo
    masked: bool
    mask_version: int

    @property
    def data(self) -> bytes:
        return self.raw.data

    @property
    def keyframe(self) -> bool:
        return self.raw.keyframe


@dataclass(frozen=True)
class Interruption:
    """The stream stopped (camera down, stalled, restarted with new parameters...):
    consumers close what they were writing and wait for the next keyframe. ``cause`` is
    the OPS-4 gap cause."""

    cause: str
    detail: str
    at: dt.datetime


Item = EncodedPacket | Interruption
Subscriber = Callable[[Item], None]


class PacketHub:
    """Thread-safe fan-out of packets and :class:`Interruption` markers."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.info: StreamInfo | None = None
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._loops: dict[asyncio.AbstractEventLoop, _LoopGroup] = {}

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subscribers.remove(subscriber)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, packet: Item) -> None:
        if isinstance(packet, EncodedPacket):
            self.info = packet.info
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(packet)
            except Exception:
                # One broken consumer must not stop recording or the others.
                log.exception("camera %s: a packet consumer failed; dropping it", self.camera_id)
                self.unsubscribe(subscriber)

    # -- asyncio consumers (WebRTC) -----------------------------------------------------

    def subscribe_async(
        self, loop: asyncio.AbstractEventLoop, maxsize: int = 60
    ) -> asyncio.Queue[Item]:
        """An asyncio queue on ``loop`` fed with this camera's packets from the next
        keyframe on (call from the loop's thread).

        All the queues of one loop share one subscriber: a packet crosses to the loop
        with one ``call_soon_threadsafe`` however many viewers watch (twenty WebRTC
        viewers are one wake-up of the loop per packet, not twenty)."""
        queue: asyncio.Queue[Item] = asyncio.Queue(maxsize)
        state = {"synced": False}

        def put(packet: Item) -> None:  # on the loop thread
            if isinstance(packet, Interruption):
                state["synced"] = False
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(packet)
                return
            if not state["synced"]:
                if not packet.keyframe:
                    return
                state["synced"] = True
            if queue.full():
                # Behind: drop what is queued and wait for the next keyframe.
                while not queue.empty():
                    queue.get_nowait()
                state["synced"] = packet.keyframe
                if not packet.keyframe:
                    return
            queue.put_nowait(packet)

        with self._lock:
            group = self._loops.get(loop)
            if group is None:
                group = self._loops[loop] = _LoopGroup(loop)
                new_group = True
            else:
                new_group = False
            group.puts[queue] = put
        if new_group:
            self.subscribe(group.forward)
        return queue

    def unsubscribe_async(self, queue: asyncio.Queue[Item]) -> None:
        with self._lock:
            for loop, group in list(self._loops.items()):
                if group.puts.pop(queue, None) is not None and not group.puts:
                    del self._loops[loop]
                    empty: _LoopGroup | None = group
                    break
            else:
                empty = None
        if empty is not None:
            self.unsubscribe(empty.forward)

    @property
    def async_queues(self) -> int:
        with self._lock:
            return sum(len(g.puts) for g in self._loops.values())


class _LoopGroup:
    """The asyncio queues of one loop: fed by one hub subscriber."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.puts: dict[asyncio.Queue[Item], Callable[[Item], None]] = {}

    def forward(self, packet: Item) -> None:  # on the pipeline thread
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.deliver, packet)

    def deliver(self, packet: Item) -> None:  # on the loop thread
        for put in list(self.puts.values()):
            put(packet)
