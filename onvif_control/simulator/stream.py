"""One shared encoder per camera: capture clock, render, encode, packetise, fan out.

A named thread per camera produces frames at the configured rate on the capture clock
(``time.monotonic`` unless injected): frame ``n`` is captured at ``epoch + n / fps``, the
pose is the PTZ pose at that instant, and the RTP timestamp is derived from it. The
thread only renders and encodes while at least one RTSP session is playing, and hands
each packetised access unit to the event loop with ``call_soon_threadsafe``; sessions
subscribe there. Encoding happens once per camera however many clients watch.

With ``burn_in_clock`` the capture time (wall clock, ms) is burned into the top of each
picture before it is encoded (:mod:`onvif_control.simulator.timecode`), for the
glass-to-glass latency benchmark. :meth:`StreamHub.request_keyframe` makes the next frame
an IDR: a new RTSP session (unless it takes the stream as it comes), or ONVIF
``SetSynchronizationPoint``; ``sync_points`` counts the latter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from onvif_control.simulator import timecode
from onvif_control.simulator.encoder import VIDEO_CLOCK_RATE, EncoderError, H264Encoder
from onvif_control.simulator.panorama import LivePanorama
from onvif_control.simulator.ptz_unit import PtzUnit
from onvif_control.simulator.render import Renderer
from onvif_control.simulator.rtp import Payload, packetize_h264

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessUnit:
    """An encoded frame ready for RTP: payloads, capture times, keyframe flag."""

    payloads: tuple[Payload, ...]
    rtp_time: int  # 90 kHz units since the stream epoch (sessions add their own offset)
    capture_monotonic: float
    capture_utc: dt.datetime
    keyframe: bool


Subscriber = Callable[[AccessUnit], None]

#: Skips a camera remembers (:attr:`FrameStats.skips`).
MAX_SKIPS = 1000


@dataclass
class FrameStats:
    """Counters for the benchmark and logs (written by the frame thread).

    Times are the frame thread's CPU time (``time.thread_time``), so they measure the
    work, not waiting for a busy machine's scheduler.
    """

    frames: int = 0
    skipped: int = 0
    render_seconds: float = 0.0
    encode_seconds: float = 0.0
    #: Where frames were skipped: (capture time of the first frame not made, how many),
    #: the latest ``MAX_SKIPS``. A receiver's timeline has a hole there that no one lost
    #: on the way (tests tell the camera's own skips from frames lost downstream).
    skips: deque[tuple[dt.datetime, int]] = field(default_factory=lambda: deque(maxlen=MAX_SKIPS))


class StreamHub:
    """Produces the camera's H.264 stream for all subscribed sessions."""

    def __init__(
        self,
        name: str,
        panorama: LivePanorama,
        renderer: Renderer,
        ptz: PtzUnit,
        fps: int,
        *,
        gop_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        utc_now: Callable[[], dt.datetime] | None = None,
        burn_in_clock: bool = False,
    ) -> None:
        self.name = name
        self.burn_in_clock = burn_in_clock
        self.gop_seconds = gop_seconds
        self.fps = fps
        self._panorama = panorama
        self._renderer = renderer
        self._ptz = ptz
        self._clock = clock
        self.encoder = H264Encoder(renderer.size, fps, gop_seconds)
        self.epoch = clock()
        self.epoch_utc = (utc_now or (lambda: dt.datetime.now(dt.UTC)))()
        self.stats = FrameStats()
        width, height = renderer.size
        self._buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
        self._subscribers: set[Subscriber] = set()
        self._active = 0
        self._want_keyframe = True
        self.sync_points = 0  # SetSynchronizationPoint requests answered
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_pts = -1
        # Encode one frame now so SPS/PPS are known before the first DESCRIBE.
        self._produce(self.epoch)

    @property
    def parameter_sets(self) -> tuple[bytes, bytes]:
        """SPS and PPS for the SDP."""
        return self.encoder.parameter_sets()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the frame thread; frames are delivered on ``loop``."""
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run, name=f"sim-frames-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the frame thread and wait for it (bounded)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s frame thread did not stop within %.1f s", self.name, timeout)

    # Called on the event loop thread -----------------------------------------------

    def subscribe(self, subscriber: Subscriber, *, keyframe: bool = True) -> None:
        """Deliver access units to ``subscriber``, starting with a fresh keyframe
        (``keyframe``, the default) or with the encoder's next frame, whatever it is."""
        self._subscribers.add(subscriber)
        with self._cond:
            self._active = len(self._subscribers)
            if keyframe:
                self._want_keyframe = True
            self._cond.notify_all()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber``; idempotent."""
        self._subscribers.discard(subscriber)
        with self._cond:
            self._active = len(self._subscribers)

    def request_keyframe(self) -> None:
        """Make the next frame an IDR (a session fell behind, or missed its IDR at PLAY)."""
        with self._cond:
            self._want_keyframe = True

    def synchronization_point(self) -> None:
        """ONVIF ``SetSynchronizationPoint``: the next frame is an IDR (any thread)."""
        with self._cond:
            self._want_keyframe = True
            self.sync_points += 1

    def _deliver(self, unit: AccessUnit) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(unit)
            except Exception:
                # One broken session must not stop the others.
                log.exception("%s subscriber failed; dropping it", self.name)
                self.unsubscribe(subscriber)

    # Frame thread ------------------------------------------------------------------

    def _run(self) -> None:
        period = 1.0 / self.fps
        # Frame 0, at the epoch, was encoded by __init__ (for the parameter sets) and took
        # pts 0: started at 0 again, the first frame sent got pts 1 (the max below), one
        # tick off the capture clock, and the next step was 5999 ticks.
        index = 1
        while True:
            with self._cond:
                while not self._stopping and self._active == 0:
                    self._cond.wait()
                if self._stopping:
                    return
            now = self._clock()
            due = self.epoch + index * period
            if due < now - period:  # fell behind (or was idle): skip to the present
                skipped = int((now - due) / period)
                index += skipped
                self.stats.skipped += skipped
                first = self.epoch_utc + dt.timedelta(seconds=due - self.epoch)
                self.stats.skips.append((first, skipped))
                due = self.epoch + index * period
            # A frame is never made before its capture time: a wake-up by a session
            # joining or leaving waits on (a real camera cannot send a frame early, and a
            # receiver's capture clock takes the earliest arrival as the truth).
            while due > now:
                with self._cond:
                    notified = self._cond.wait(due - now)
                    if self._stopping:
                        return
                if not notified:
                    break
                now = self._clock()
            index += 1
            try:
                unit = self._produce(due)
            except EncoderError:
                log.exception("%s encoder failed; stopping the stream", self.name)
                return
            if self._loop is not None and not self._loop.is_closed():
                try:
                    self._loop.call_soon_threadsafe(self._deliver, unit)
                except RuntimeError:  # loop closed during shutdown
                    return

    def _produce(self, capture: float) -> AccessUnit:
        t0 = time.thread_time()
        pose = self._ptz.pose(capture)
        with self._panorama.lock:
            self._panorama.paint(capture - self.epoch)
        self._renderer.render_i420(pose, self._buffer)
        capture_utc = self.epoch_utc + dt.timedelta(seconds=capture - self.epoch)
        if self.burn_in_clock:
            width, height = self._renderer.size
            millis = round(capture_utc.timestamp() * 1000)
            timecode.burn(self._buffer, width, height, millis)
        t1 = time.thread_time()
        with self._cond:
            keyframe, self._want_keyframe = self._want_keyframe, False
        pts = max(round((capture - self.epoch) * VIDEO_CLOCK_RATE), self._last_pts + 1)
        self._last_pts = pts
        frame = self.encoder.encode(self._buffer, pts, keyframe=keyframe)
        t2 = time.thread_time()
        self.stats.frames += 1
        self.stats.render_seconds += t1 - t0
        self.stats.encode_seconds += t2 - t1
        return AccessUnit(
            tuple(packetize_h264(frame.nals)),
            pts,
            capture,
            capture_utc,
            frame.keyframe,
        )
