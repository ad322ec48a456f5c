"""Live stills for the web: snapshot and MJPEG from the pipeline's *encoded* packets.

A :class:`LivePreview` subscribes to the camera's :class:`PacketHub` only while someone
watches, decodes those packets (for a masked camera: the masked stream, so no unmasked
pixel can reach a viewer, INV-5) in a named thread (``preview-<camera>``) and keeps the
newest frame; viewers get JPEGs encoded at most once per frame. It stops decoding
``idle_seconds`` after the last viewer left.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Generator
from typing import Any

from recorder.fanout import EncodedPacket, Interruption, Item, PacketHub
from vms.clock import Clock
from vms.errors import DataLoss, Unavailable
from vms.media.codec import Decoder, JpegEncoder
from vms.media.stream import StreamInfo

log = logging.getLogger(__name__)


class LivePreview:
    def __init__(
        self, camera_id: str, hub: PacketHub, clock: Clock, *, idle_seconds: float = 10.0
    ) -> None:
        self.camera_id = camera_id
        self.hub = hub
        self.clock = clock
        self.idle_seconds = idle_seconds
        self._cond = threading.Condition()
        self._frame: Any = None
        self._seq = 0
        self._jpeg: tuple[int, bytes] | None = None
        self._viewers = 0
        self._last_viewer = clock.monotonic()
        self._queue: queue.Queue[Item | None] = queue.Queue(maxsize=120)
        self._thread: threading.Thread | None = None
        self._encoder = JpegEncoder()
        self._stopping = False

    # -- viewers --------------------------------------------------------------------------

    def snapshot(self, timeout: float = 5.0) -> bytes:
        """A JPEG of the newest frame (waits up to ``timeout`` for one)."""
        self._attach()
        try:
            with self._cond:
                if not self._cond.wait_for(lambda: self._frame is not None, timeout):
                    raise Unavailable(
                        f"camera {self.camera_id}: no live picture within {timeout:.0f} s"
                    )
                return self._jpeg_of_current()
        finally:
            self._detach()

    def frames(self, max_fps: float = 10.0, timeout: float = 10.0) -> Generator[bytes, None, None]:
        """JPEGs of new frames, at most ``max_fps`` per second, until the consumer stops."""
        self._attach()
        try:
            seen = -1
            period = 1.0 / max_fps
            while True:
                started = self.clock.monotonic()
                with self._cond:
                    if not self._cond.wait_for(functools.partial(self._newer, seen), timeout):
                        raise Unavailable(f"camera {self.camera_id}: live stream stalled")
                    seen = self._seq
                    jpeg = self._jpeg_of_current()
                yield jpeg
                rest = period - (self.clock.monotonic() - started)
                if rest > 0:
                    time.sleep(rest)
        finally:
            self._detach()

    def _newer(self, seen: int) -> bool:
        return self._seq != seen and self._frame is not None

    def _jpeg_of_current(self) -> bytes:
        if self._jpeg is None or self._jpeg[0] != self._seq:
            self._jpeg = (self._seq, self._encoder.encode(self._frame))
        return self._jpeg[1]

    def _attach(self) -> None:
        with self._cond:
            self._viewers += 1
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self.hub.subscribe(self._offer)
                self._thread = threading.Thread(
                    target=self._run, name=f"preview-{self.camera_id}", daemon=True
                )
                self._thread.start()

    def _detach(self) -> None:
        with self._cond:
            self._viewers -= 1
            self._last_viewer = self.clock.monotonic()

    def stop(self) -> None:
        self._stopping = True
        self.hub.unsubscribe(self._offer)
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(5)

    # -- decoding thread ------------------------------------------------------------------

    def _offer(self, item: Item) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            # Behind: start over at the next keyframe.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(Interruption("behind", "preview behind", self.clock.now()))

    def _run(self) -> None:
        decoder: Decoder | None = None
        info: StreamInfo | None = None
        synced = False
        while not self._stopping:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                item = None
                if self._idle():
                    break
                continue
            if item is None:
                break
            if isinstance(item, Interruption):
                synced = False
                continue
            assert isinstance(item, EncodedPacket)
            if not synced:
                if not item.keyframe:
                    continue
                synced = True
            if decoder is None or item.info != info:
                decoder, info = Decoder(item.info), item.info
            try:
                frames = decoder.decode(item.raw)
            except DataLoss as exc:
                log.warning("camera %s: preview decode failed: %s", self.camera_id, exc)
                synced = False
                continue
            for frame in frames:
                with self._cond:
                    self._frame = frame
                    self._seq += 1
                    self._cond.notify_all()
            if self._idle():
                break
        self.hub.unsubscribe(self._offer)
        with self._cond:
            self._frame = None
            self._thread = None if self._stopping else self._thread
        log.info("camera %s: live preview idle -> stopped", self.camera_id)

    def _idle(self) -> bool:
        with self._cond:
            return (
                self._viewers == 0
                and self.clock.monotonic() - self._last_viewer > self.idle_seconds
            )
