"""One camera's media pipeline: RTSP in -> (decode -> mask -> encode) -> fan-out.

Runs in a named thread (``rtsp-<camera>``); every call in it blocks (PyAV), none runs on
an event loop. Per connection:

1. connect over TCP; on failure publish an :class:`Interruption` (``camera_down``) and
   retry with exponential backoff (``reconnect_min_seconds`` doubling up to
   ``reconnect_max_seconds``, reset after a healthy session);
2. drop packets until the first keyframe with a timestamp (a decoder or muxer cannot
   start before it, and untimed packets cannot be placed on the timeline). A connection
   with no such keyframe ``KEYFRAME_ASK_SECONDS`` after it began asks the camera for
   one, and again as often while it has none (``ask_keyframe``: ONVIF
   ``SetSynchronizationPoint`` through :mod:`recorder.keyframes`, from a thread of the
   connection's own, so the per-packet path pays nothing). FFmpeg gives an RTSP
   session's first packet no timestamp, so the IDR a camera sends at PLAY is dropped;
   many cameras send P frames from PLAY, some nothing until their next keyframe: with a
   long GOP (30-60 s) nothing was recorded until it came, at every connection;
3. cameras **without** masks: pass the packets through, no decode (cheap recording);
4. cameras **with** masks: decode once, mask once (the pose at each frame's capture
   time), encode once (libx264); masked cameras never fall back to pass-through, and a
   failure anywhere in the mask stage blanks the frame (INV-5). If decoding itself fails
   the frame is replaced by a blank one;
5. publish the packets to the :class:`PacketHub` (segments, live view).

Masks are re-read every ``mask_reload_seconds`` (``MaskService.current``: the version row
and the running lifts, the mask rows only when the version moved), for all the engine's
cameras at once by :class:`~recorder.polls.CameraPolls`, whose newest reading the stream
takes every ``mask_check_seconds`` (from memory: a mask changed is painted within about
``mask_reload_seconds + mask_check_seconds``); a change of mask
version forces a keyframe so the segment writer can start a segment under the new
version; switching between pass-through and masked restarts the stream (an
:class:`Interruption` with cause ``reconfigured``).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from privacy_masks.model import MaskSet
from privacy_masks.paint import PaintStyle, blank, frame_planes
from privacy_masks.planning import MaskSettings
from privacy_masks.stage import MaskStage
from recorder.fanout import EncodedPacket, Interruption, PacketHub
from recorder.timing import WALL_STEP, CaptureClock, wall_step
from vms.camera_model import Calibration, PoseSource
from vms.clock import Clock
from vms.errors import DataLoss, FailedPrecondition, Unavailable, VMSError
from vms.failure_streak import FailureStreak
from vms.media.codec import Decoder, Encoder, new_frame
from vms.media.rtsps import CameraTls
from vms.media.stream import RawPacket, RtspInput, StreamInfo
from vms.outage_log import OutageLog
from vms.tls_pins import stream_certificate_problem
from vms.urls import redact_credentials as redact

log = logging.getLogger(__name__)

MaskProvider = Callable[[str], MaskSet]

#: A connection without a keyframe to start from this long after it began asks the
#: camera for one, and again as often while it has none. Opening the stream alone
#: takes 1.5-3 s (FFmpeg reads ``probesize`` bytes), and a 1 s GOP's next keyframe
#: often comes within it: asking sooner would ask at nearly every connection.
KEYFRAME_ASK_SECONDS = 2.0

#: A connection that recorded for this long (from its first recorded packet, on the
#: monotonic clock) was healthy: the reconnect delay after it starts again from
#: ``reconnect_min_seconds``. In seconds, not packets (30 were "3 s at 10 fps": 15 s at
#: 2 fps, 1 s at 30 fps), so a camera's frame rate does not change how it is reconnected.
HEALTHY_SECONDS = 3.0


class _KeyframeWait:
    """Asks the camera for a keyframe every ``every`` seconds, from a thread of its own,
    until :meth:`stop` (the connection's first keyframe came, or it ended)."""

    def __init__(self, camera_id: str, ask: Callable[[], object], every: float) -> None:
        self.camera_id = camera_id
        self._ask = ask
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"keyframe-wait-{camera_id}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        asked = 0
        while not self._done.wait(self._every):
            if asked == 0:
                log.info(
                    "camera %s: no keyframe to start from %.0f s after connecting; asking "
                    "the camera for one",
                    self.camera_id,
                    self._every,
                )
            asked += 1
            try:
                self._ask()
            except Exception:  # a courtesy: the stream goes on without it
                log.exception("camera %s: asking for a keyframe failed", self.camera_id)

    def stop(self) -> None:
        """Ask no more; returns once the thread has ended (an ask does not block), so
        nothing is asked after the recorder stopped."""
        self._done.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5.0)


@dataclass(frozen=True)
class CameraSpec:
    """A camera the recorder records. ``url`` includes credentials; ``camera_id`` is
    also the catalog device id. ``tls``: how an ``rtsps`` camera's certificate is
    checked (its pin, CA bundle or first use, from the camera row; None: an ``rtsps``
    stream is refused, never opened unchecked)."""

    camera_id: str
    url: str
    calibration: Calibration = field(default_factory=Calibration)
    tls: CameraTls | None = None


@dataclass(frozen=True)
class PipelineSettings:
    read_timeout_seconds: float = 5.0
    reconnect_min_seconds: float = 0.5
    reconnect_max_seconds: float = 30.0
    keyframe_seconds: float = 1.0
    mask_reload_seconds: float = 1.0
    # How often the stream asks its mask provider (the engine's CameraPolls: memory).
    mask_check_seconds: float = 0.25
    paint_style: PaintStyle = PaintStyle.SOLID
    masks: MaskSettings = field(default_factory=MaskSettings)
    # Narrow moving cameras' masks by image registration (issue 12.4).
    mask_registration: bool = True


@dataclass
class PipelineStatus:
    state: str = "starting"  # starting | connecting | streaming | down | stopped
    masked: bool = False
    mask_version: int = 0
    connected_at: dt.datetime | None = None
    last_error: str | None = None
    # Why the stream's certificate was refused, with the action (vms.tls_pins
    # stream_certificate_problem); None since a connection passed the check.
    certificate: str | None = None
    packets: int = 0
    dropped_before_keyframe: int = 0
    # Every video packet the camera sent, those before the first keyframe too: what the
    # picture watch counts as video arriving (recorder/watch.py). A camera that starts
    # on P frames and refuses a sync point sends video for a whole GOP before a packet
    # is recorded; it lacks keyframes, it has not lost its video.
    received: int = 0
    reconnects: int = 0
    # Seconds waited before the latest reconnect attempt (the backoff, step 1).
    reconnect_delay: float = 0.0
    # Capture -> encoded packet published, seconds (masked cameras), most recent.
    latencies: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=2000)
    )


class CameraPipeline:
    """Reads, masks and publishes one camera's stream until :meth:`stop`."""

    def __init__(
        self,
        spec: CameraSpec,
        hub: PacketHub,
        masks: MaskProvider,
        pose_source: Callable[[], PoseSource | None],
        settings: PipelineSettings,
        clock: Clock,
        ask_keyframe: Callable[[], object] | None = None,
    ) -> None:
        """``ask_keyframe``: asks the camera for a keyframe without blocking (the
        engine's :meth:`~recorder.keyframes.CameraKeyframes.request`; None: never)."""
        self.spec = spec
        self._ask_keyframe = ask_keyframe
        # The current connection's asking for its first keyframe (pipeline thread only).
        self._keyframe_wait: _KeyframeWait | None = None
        self.camera_id = spec.camera_id
        self.hub = hub
        self._masks = masks
        self._pose_source = pose_source
        self.settings = settings
        # Arrival times, hence capture times, on the clock pose samples are stamped with
        # (INV-5, INV-7): the masks compare the two.
        self.clock = clock
        self._now = clock.now
        self.status = PipelineStatus()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._input: RtspInput | None = None
        self.stage: MaskStage | None = None
        # Set from other threads (a WebRTC viewer joined or lost pictures): the mask
        # encoder makes its next frame an IDR. Pass-through cameras ignore it.
        self.keyframe_wanted = threading.Event()
        self._mask_reads = OutageLog(log)
        # Whether the current connection has been healthy (set by _session, read by
        # _run after the connection ended, by an error as a rule).
        self._healthy = False

    @property
    def _masks_unread(self) -> bool:
        """The last re-read of the masks failed."""
        return self._mask_reads.failing()

    def request_keyframe(self) -> None:
        """Ask the mask encoder for a keyframe (live viewers joining a masked camera)."""
        self.keyframe_wanted.set()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"rtsp-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning(
                    "camera %s: pipeline thread did not stop in %.0f s", self.camera_id, timeout
                )

    def _set_state(self, state: str, detail: str = "", *, quiet: bool = False) -> None:
        """``quiet``: logged at DEBUG (a repeated failure's connecting -> down)."""
        old = self.status.state
        if old != state:
            log.log(
                logging.DEBUG if quiet else logging.INFO,
                "camera %s: pipeline %s -> %s%s",
                self.camera_id,
                old,
                state,
                f" ({detail})" if detail else "",
            )
            self.status.state = state

    # -- thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.settings.reconnect_min_seconds
        # Failed attempts in a row with the same failure: a camera down for months is
        # logged at attempts 1, 2, 4, 8, ... only, not three lines each (OPS-4's gap
        # records the outage once; the status shows it meanwhile).
        streak, last_detail = FailureStreak(), ""
        while not self._stop.is_set():
            self._set_state("connecting", quiet=streak.count > 0)
            source = RtspInput(
                self.spec.url, timeout=self.settings.read_timeout_seconds, tls=self.spec.tls
            )
            self._healthy = False
            self._wait_for_keyframe()
            try:
                info = source.open()
                self.status.connected_at = self._now()
                self.status.last_error = self.status.certificate = None
                self._set_state("streaming", redact(self.spec.url))
                self._session(source, info)
                cause, detail = "stopped", "recorder stopped"
            except Unavailable as exc:
                cause = "stalled" if self.status.state == "streaming" else "camera_down"
                if "ended" in str(exc) and self.status.state == "streaming":
                    cause = "camera_down"
                detail = str(exc)
            except (DataLoss, FailedPrecondition) as exc:  # bad bytes, or not H.264 video
                cause, detail = "stream_error", str(exc)
                if isinstance(exc, FailedPrecondition):
                    # A refused certificate stays the camera's problem until a connection
                    # passes the check: the watch shows it as an alarm with its action.
                    problem = stream_certificate_problem(self.camera_id, exc)
                    if problem is not None:
                        self.status.certificate = problem
            except VMSError as exc:
                cause, detail = "error", str(exc)
            except Exception as exc:
                # Unexpected: logged with the traceback, then the pipeline reconnects.
                log.exception("camera %s: pipeline failed", self.camera_id)
                cause, detail = "error", repr(exc)
            finally:
                if self._keyframe_wait is not None:
                    self._keyframe_wait.stop()
                    self._keyframe_wait = None
                source.close()
            # The gap record, status and log name the cause, never the camera's password
            # (an unexpected error's text may hold the URL it failed on).
            detail = redact(detail)
            self.hub.publish(Interruption(cause, detail[:500], self._now()))
            if self._stop.is_set():
                break
            self.status.last_error = detail
            streamed = self.status.state == "streaming"
            if streamed or detail != last_detail:
                streak.ended()  # counted from 1 again
            last_detail = detail
            loud = streak.failed()  # 1, 2, 4, 8, ...
            self._set_state("down", detail, quiet=not loud)
            # A healthy connection resets the delay however it ended: every one ends
            # with an error (the stream ended, a stall), none returns but at a stop.
            if self._healthy:
                delay = self.settings.reconnect_min_seconds
            self.status.reconnect_delay = delay
            self.status.reconnects += 1
            if loud:
                log.warning(
                    "camera %s: %s (%s); reconnecting in %.1f s%s",
                    self.camera_id,
                    cause,
                    detail,
                    delay,
                    f" (failed {streak.count} times in a row)" if streak.count > 1 else "",
                )
            if self._stop.wait(delay):
                break
            delay = min(delay * 2.0, self.settings.reconnect_max_seconds)
        self._set_state("stopped")

    def _wait_for_keyframe(self) -> None:
        """The stream starts over (a connection, or masks on/off): until its first
        keyframe, the camera is asked for one (step 2)."""
        if self._keyframe_wait is not None:
            self._keyframe_wait.stop()
        if self._ask_keyframe is not None:
            self._keyframe_wait = _KeyframeWait(
                self.camera_id, self._ask_keyframe, KEYFRAME_ASK_SECONDS
            )

    def _reread(self, masks: MaskSet) -> MaskSet:
        """The camera's masks read again. When they cannot be read (the database does not
        answer), the set in force without its lifts (PSCS-1, fail closed: no mask is
        lifted): the stream goes on masked by what it had. It used to end, and the next
        connection, which reads the masks first, failed as long as the database was
        out: no recording meanwhile. Logged once per outage."""
        try:
            fresh = self._masks(self.camera_id)
        except Exception:
            self._mask_reads.failed(
                "camera %s: masks unreadable; the %d in force stay, none lifted (PSCS-1)",
                self.camera_id,
                len(masks.polygons),
            )
            return replace(masks, lifts=()) if masks.lifts else masks
        self._mask_reads.works("camera %s: masks readable again", self.camera_id)
        return fresh

    def _session(self, source: RtspInput, info: StreamInfo) -> None:
        """Stream until the source fails (raises) or we are stopped (returns); sets
        ``_healthy`` once this connection has recorded for ``HEALTHY_SECONDS``."""
        masks = self._masks(self.camera_id)
        next_reload = self.clock.monotonic() + self.settings.mask_check_seconds
        self.status.masked, self.status.mask_version = masks.masked, masks.version
        session = _MaskedSession(self, info, masks) if masks.masked else None
        first_pts: int | None = None
        tick = float(info.time_base)  # seconds per pts unit (float: no Fraction per packet)
        clock = CaptureClock(1.0 / info.fps if info.fps > 0 else 0.0)
        last_read: dt.datetime | None = None
        last_monotonic = 0.0
        # This connection is judged, not the pipeline over all its connections: once a
        # camera had recorded 30 packets, a connection that recorded one reset the
        # reconnect delay, and a camera giving a keyframe and dropping was reconnected
        # at the minimum delay for ever. None: nothing recorded yet.
        healthy_at: float | None = None
        for raw in source.packets():
            # When each read returned, for the next packet's capture bound (timing.py).
            read_at, read_monotonic = self._now(), self.clock.monotonic()
            if last_read is not None:
                step = wall_step(last_read, read_at, last_monotonic, read_monotonic)
                if abs(step) > WALL_STEP:
                    # The clock was set: capture times start again from this arrival, on
                    # the clock pose samples are now stamped with (INV-5, INV-7).
                    log.warning(
                        "camera %s: the clock was set by %+.3f s; capture times follow it",
                        self.camera_id,
                        step.total_seconds(),
                    )
                    clock.reset()
                    last_read = None
            last_monotonic = read_monotonic
            earlier, last_read = last_read, read_at
            if self._stop.is_set():
                return
            self.status.received += 1
            if first_pts is None:
                if raw.pts is None or not raw.keyframe:
                    self.status.dropped_before_keyframe += 1
                    continue
                first_pts = raw.pts
                if self._keyframe_wait is not None:
                    self._keyframe_wait.stop()
            if raw.pts is None:
                self.status.dropped_before_keyframe += 1
                continue
            self.status.packets += 1
            if healthy_at is None:
                healthy_at = read_monotonic + HEALTHY_SECONDS
            elif not self._healthy and read_monotonic >= healthy_at:
                self._healthy = True
            now = read_at
            capture = clock.capture((raw.pts - first_pts) * tick, now, earlier)
            if self.clock.monotonic() >= next_reload:
                next_reload = self.clock.monotonic() + self.settings.mask_check_seconds
                fresh = self._reread(masks)
                if fresh.masked != masks.masked:
                    log.info(
                        "camera %s: masks %s -> %s; restarting the stream",
                        self.camera_id,
                        "on" if masks.masked else "off",
                        "on" if fresh.masked else "off",
                    )
                    self.hub.publish(Interruption("reconfigured", "mask set changed", now))
                    masks = fresh
                    self.status.masked, self.status.mask_version = masks.masked, masks.version
                    session = _MaskedSession(self, info, masks) if masks.masked else None
                    first_pts = None
                    clock.reset()
                    self._wait_for_keyframe()
                    continue
                if changed(masks, fresh):
                    log.info(
                        "camera %s: mask version %d -> %d (%d -> %d lifts running)",
                        self.camera_id,
                        masks.version,
                        fresh.version,
                        len(masks.lifts),
                        len(fresh.lifts),
                    )
                    masks = fresh
                    self.status.mask_version = masks.version
                    if session is not None:
                        session.update(masks)
            if session is None:
                dts = raw.dts if raw.dts is not None else raw.pts
                self.hub.publish(
                    EncodedPacket(
                        raw,
                        raw.pts - first_pts,
                        dts - first_pts,
                        capture,
                        info,
                        False,
                        masks.version,
                    )
                )
            else:
                session.process(raw, capture)


def changed(current: MaskSet, fresh: MaskSet) -> bool:
    """Whether a re-read of a camera's masks (same masked-ness) replaces the set the
    stream paints: another version, or the same version with other lifts. Every change
    of masks or lifts bumps the version, except one: when the lifts cannot be read,
    ``MaskService.current`` gives the set without them under the same version (PSCS-1,
    fail closed: no mask is lifted), and the stream must stop showing a lifted mask at
    once, not when the lift's window ends."""
    return fresh.version != current.version or fresh.lifts != current.lifts


class _MaskedSession:
    """Decode once, mask once, encode once, for one connection of a masked camera."""

    def __init__(self, pipeline: CameraPipeline, info: StreamInfo, masks: MaskSet) -> None:
        self.p = pipeline
        self.info = info
        self.masks = masks
        # The decoder's own pictures: the stage paints them and puts them back after
        # the encode (MaskStage.paint_for_encode, put_back), with no whole-frame copy.
        self.decoder = Decoder(info, writable=False)
        self.encoder: Encoder | None = None
        self.stage = MaskStage(
            pipeline.camera_id,
            pipeline._pose_source(),
            pipeline.spec.calibration,
            pipeline.settings.masks,
            pipeline.settings.paint_style,
            pipeline.clock,  # lifts end on the clock (PSCS-1)
        )
        if not pipeline.settings.mask_registration:
            self.stage.disable_registration()
        pipeline.stage = self.stage
        self._captures: dict[int, dt.datetime] = {}
        self._pkt_capture: dict[int, dt.datetime] = {}
        self._first_pts: int | None = None
        self._force_key = False
        self._size = (info.width, info.height)
        self._to_90k = float(info.time_base) * 90000  # source pts units -> 90 kHz

    def update(self, masks: MaskSet) -> None:
        self.masks = masks
        self._force_key = True  # segments start on a keyframe under the new version

    def process(self, raw: RawPacket, capture: dt.datetime) -> None:
        try:
            frames = self.decoder.decode(raw)
        except DataLoss as exc:
            # INV-5: a frame we cannot decode is sent blank, never passed through.
            log.warning("camera %s: %s; sending a blank frame", self.p.camera_id, exc)
            if self._size[0] <= 0:
                return
            frame = new_frame(*self._size)
            blank(frame_planes(frame))
            frame.pts = raw.pts
            frames = [frame]
        self._pkt_capture[raw.pts or 0] = capture
        for frame in frames:
            # A decoder with reordering returns frames late: time them by their own pts.
            at = self._pkt_capture.pop(frame.pts, capture) if frame.pts is not None else capture
            self._frame(frame, at, raw)
        if len(self._pkt_capture) > 64:
            self._pkt_capture.clear()

    def _frame(self, frame: Any, capture: dt.datetime, raw: RawPacket) -> None:
        # A moving camera's frame waits (briefly) for the pose reading after it: its
        # mask is then bounded between two readings, not extrapolated (mask-geometry.md).
        stage = self.stage
        saved = stage.mask_for_encode(frame, self.masks, capture)
        try:
            self._encode(frame, capture, raw)
        finally:
            stage.put_back(saved)  # the decoder's picture as it decoded it

    def _encode(self, frame: Any, capture: dt.datetime, raw: RawPacket) -> None:
        size = (int(frame.width), int(frame.height))
        if self.encoder is None or size != self._size:
            keyint = max(1, round(self.info.fps * self.p.settings.keyframe_seconds))
            self.encoder = Encoder(size[0], size[1], self.info.fps, keyint)
            self._size = size
        src_pts: int = frame.pts if frame.pts is not None else (raw.pts or 0)
        if self._first_pts is None:
            self._first_pts = src_pts
        pts = round((src_pts - self._first_pts) * self._to_90k)
        self._captures[pts] = capture
        wanted = self.p.keyframe_wanted.is_set()
        if wanted:
            self.p.keyframe_wanted.clear()
        packets = self.encoder.encode(frame, pts, keyframe=self._force_key or wanted)
        self._force_key = False
        for packet in packets:
            p_pts = packet.pts if packet.pts is not None else pts
            p_dts = packet.dts if packet.dts is not None else p_pts
            cap = self._captures.pop(p_pts, capture)
            self.p.hub.publish(
                EncodedPacket(
                    packet, p_pts, p_dts, cap, self.encoder.info, True, self.masks.version
                )
            )
            self.p.status.latencies.append((self.p._now() - cap).total_seconds())
        if len(self._captures) > 64:
            self._captures.clear()
