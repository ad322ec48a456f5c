"""The recorder's watch over its cameras' pictures (issue 12, item 3: alarms).

Two conditions the health check cannot see, because ONVIF may answer all along:

- **video lost**: no video packet from the camera for ``[recorder] video_lost_seconds``
  (a stream that ended, a camera whose RTSP service died, a stall the reconnects do not
  cure); cleared by the next packet. Any packet counts, one before the first keyframe
  too: a camera sending only P frames (a long GOP, sync points refused) sends video;
  what it lacks is keyframes, another condition (``no_keyframes``). A new pipeline's
  silence counts from the end of its first open (connected, or failed: FFmpeg bounds
  it by ``read_timeout_seconds``), not from its start: no video is due before a
  connection is open, and a slow one (RTSP set-up, FFmpeg probing the stream, a slow
  link) is not a lost camera;
- **picture blanked**: the mask stage has blanked every frame (pose lost or stale, or a
  mask stage failure: INV-5, fail closed) for ``[recorder] blanking_alarm_seconds``;
  cleared by the next masked frame. Judged only while video flows (without packets the
  stage's last frame tells nothing new);
- **no keyframes, nothing recorded**: video has arrived for ``keyframes_after`` seconds
  (the engine gives ``SEGMENT_LIMIT_FACTOR`` x ``[recorder] segment_seconds``, the
  bound the segment writer cuts an endless GOP at) and none of it was recorded: the
  connection has had no keyframe to start from (P frames from PLAY, a long or endless
  GOP, ``SetSynchronizationPoint`` refused). The segment writer, which raises the same
  ``no_keyframes`` alarm for an endless GOP after a keyframe, gets no packet then, so
  only the watch can tell. Cleared by the first recorded packet (the keyframe came);
  the bound counts afresh after "video lost". The recording gap meanwhile is the
  writer's, as for any time not recorded (OPS-4);
- **stream certificate not accepted**: the stream's ``rtsps`` certificate was refused
  (changed, or the stream moved from the place of its pin, or not trusted by the CA
  bundle): what the operator must know (ONVIF may answer, and "video lost" does not
  say why) with the action, the command and the fingerprint to accept
  (docs/design/security.md, "Camera certificates", 10); cleared by video from a
  connection that passed the check.

:class:`PictureWatch` is the pure decision (readings in, events out, monotonic seconds
given); :class:`WatchThread` reads every pipeline each ``tick`` seconds and publishes
the events (``recorder.video``, ``mask.blanking``, ``recorder.keyframes``,
``recorder.certificate``) that
:mod:`vms.alarms` turns into alarms. It reads counters the pipeline threads write (ints,
a string): no lock needed, a reading one tick late is harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from vms.clock import Clock, isoformat
from vms.events import EventBus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    """One camera's pipeline at one instant: which pipeline (``generation`` changes when
    the camera is restarted with a new one), video packets received so far (those before
    the first keyframe too: P frames are video arriving), and why its last frame was
    blanked whole (None: masked or not masked at all), of those packets how many were
    recorded (from a connection's first keyframe on), and whether the pipeline's first
    connection attempt has ended (``opened``: connected, or failed)."""

    generation: int
    packets: int
    blanking: str | None
    recorded: int
    opened: bool
    # Why the stream's certificate was refused, with the action (None: not refused, or a
    # connection passed the check since).
    certificate: str | None = None


@dataclass(frozen=True)
class Event:
    topic: str
    payload: dict[str, object]


class PictureWatch:
    """One camera's video-lost and blanking states, decided from readings."""

    def __init__(
        self, camera_id: str, lost_after: float, blank_after: float, keyframes_after: float
    ) -> None:
        self.camera_id = camera_id
        self.lost_after = lost_after
        self.blank_after = blank_after
        self.keyframes_after = keyframes_after
        # Raised here only (the segment writer says "keyframes again" at a run's first
        # segment, so this watch clears only what it raised).
        self.no_keyframes = False
        self._recorded = 0
        # Since when video arrives and none of it is recorded (None: recorded, or silent).
        self._unrecorded_since: float | None = None
        # None: not known yet (a start): the first packet, or masked frame, says "ok" once,
        # so an alarm left open by a previous run (a restart, a crash) is cleared.
        self.lost: bool | None = None
        self.blanked: bool | None = None
        self._generation: int | None = None
        self._packets = 0
        self._last_packet = 0.0
        self._opened = False  # the pipeline's first open had ended at the last reading
        self._blank_since: float | None = None
        # The certificate refusal this watch raised (None: none raised, or cleared).
        self.certificate: str | None = None

    def observe(self, reading: Reading, now: float) -> list[Event]:
        """The events ``reading`` at monotonic ``now`` causes (state changes only)."""
        events: list[Event] = []
        arrived = False
        if reading.generation != self._generation:
            # A new pipeline (start, restart): its silence counts from now (or from its
            # first open's end, below); an alarm already raised stays until a packet
            # arrives (a keyframe: recorded).
            self._generation, self._packets, self._last_packet = (
                reading.generation,
                reading.packets,
                now,
            )
            self._recorded, self._unrecorded_since = reading.recorded, None
            self._blank_since = None
        elif reading.packets > self._packets:
            arrived = True
            self._packets, self._last_packet = reading.packets, now
            if self.lost is not False:
                events.append(self._video("ok"))
                self.lost = False
        elif not self._opened:
            # Its first connection was still opening at the last reading: no video was
            # due; the silence counts from the first reading after the open ended.
            self._last_packet = now
        self._opened = reading.opened
        silent = now - self._last_packet
        if not self.lost and silent >= self.lost_after:
            events.append(self._video("lost"))
            self.lost = True
        events += self._keyframes(reading.recorded, arrived, now)
        events += self._certificate(reading.certificate, arrived)
        if self.lost:
            return events  # no frames: the stage's last word is old news
        if reading.blanking is None:
            self._blank_since = None
            if self.blanked is not False:
                events.append(self._blanking(False, None))
                self.blanked = False
        else:
            if self._blank_since is None:
                self._blank_since = now
            if not self.blanked and now - self._blank_since >= self.blank_after:
                events.append(self._blanking(True, reading.blanking))
                self.blanked = True
        return events

    def _keyframes(self, recorded: int, arrived: bool, now: float) -> list[Event]:
        """The no-keyframes state: video ``arrived`` since the last reading, and the
        pipeline's ``recorded`` count (see the module doc)."""
        if recorded > self._recorded:
            self._recorded, self._unrecorded_since = recorded, None
            if not self.no_keyframes:
                return []
            self.no_keyframes = False
            return [self._keyframes_event(False)]
        if self.lost:
            self._unrecorded_since = None  # no video: nothing to judge keyframes by
            return []
        if arrived and self._unrecorded_since is None:
            self._unrecorded_since = now
        since = self._unrecorded_since
        if since is None or self.no_keyframes or now - since < self.keyframes_after:
            return []
        self.no_keyframes = True
        return [self._keyframes_event(True)]

    def _certificate(self, problem: str | None, arrived: bool) -> list[Event]:
        """Raised when the pipeline's stream certificate is refused; cleared once video
        arrives from a connection that passed the check (an accepted certificate; a
        leftover of an earlier run is cleared by the alarms' "video ok")."""
        if problem is not None and self.certificate is None:
            self.certificate = problem
            return [self._certificate_event(problem)]
        if problem is None and self.certificate is not None and arrived:
            self.certificate = None
            return [self._certificate_event(None)]
        return []

    def _certificate_event(self, problem: str | None) -> Event:
        if problem is not None:
            log.error("camera %s: ALARM stream certificate: %s", self.camera_id, problem)
        else:
            log.warning("camera %s: stream certificate accepted, alarm cleared", self.camera_id)
        payload: dict[str, object] = {"camera_id": self.camera_id, "active": problem is not None}
        if problem is not None:
            payload["detail"] = problem
        return Event("recorder.certificate", payload)

    def ended(self) -> list[Event]:
        """The camera is not recorded here any more: its alarms end with it."""
        events = []
        if self.certificate is not None:
            events.append(self._certificate_event(None))
            self.certificate = None
        if self.lost:
            events.append(self._video("ok"))
        if self.blanked:
            events.append(self._blanking(False, None))
        if self.no_keyframes:
            events.append(self._keyframes_event(False))
        self.lost = self.blanked = self.no_keyframes = False
        return events

    def _keyframes_event(self, active: bool) -> Event:
        payload: dict[str, object] = {"camera_id": self.camera_id, "active": active}
        if active:
            payload["detail"] = (
                f"no keyframe from the camera in {self.keyframes_after:g} s of video: "
                "nothing of it is recorded until one comes"
            )
            log.error("camera %s: ALARM no keyframes: %s", self.camera_id, payload["detail"])
        else:
            log.warning("camera %s: keyframes again, alarm cleared", self.camera_id)
        return Event("recorder.keyframes", payload)

    def _video(self, state: str) -> Event:
        log.warning("camera %s: video %s -> %s", self.camera_id, _other(self.lost), state)
        return Event(
            "recorder.video",
            {"camera_id": self.camera_id, "state": state, "seconds": self.lost_after},
        )

    def _blanking(self, active: bool, reason: str | None) -> Event:
        log.warning(
            "camera %s: picture blanked %s -> %s (%s)",
            self.camera_id,
            "unknown" if self.blanked is None else self.blanked,
            active,
            reason or "masking again",
        )
        return Event(
            "mask.blanking", {"camera_id": self.camera_id, "active": active, "reason": reason}
        )


def _other(lost: bool | None) -> str:
    return "unknown" if lost is None else ("ok" if not lost else "lost")


class WatchThread:
    """Reads the pipelines every ``tick`` seconds and publishes what :class:`PictureWatch`
    decides, stamped with the clock's time (INV-7)."""

    def __init__(
        self,
        readings: Callable[[], dict[str, Reading]],
        events: EventBus,
        clock: Clock,
        *,
        lost_after: float,
        blank_after: float,
        keyframes_after: float,
        tick: float = 0.5,
    ) -> None:
        self.readings = readings
        self.events = events
        self.clock = clock
        self.lost_after = lost_after
        self.blank_after = blank_after
        self.keyframes_after = keyframes_after
        self.tick = tick
        self._watches: dict[str, PictureWatch] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="picture-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.round()
            except Exception:  # the next round tries again; a watch must not die
                log.exception("picture watch round failed")

    def round(self) -> None:
        """One look at every camera (the thread's step; tests call it directly)."""
        readings = self.readings()
        now = self.clock.monotonic()
        events: list[Event] = []
        for camera_id, reading in readings.items():
            watch = self._watches.get(camera_id)
            if watch is None:
                watch = PictureWatch(
                    camera_id, self.lost_after, self.blank_after, self.keyframes_after
                )
                self._watches[camera_id] = watch
            events += watch.observe(reading, now)
        for camera_id in set(self._watches) - set(readings):
            events += self._watches.pop(camera_id).ended()
        at = isoformat(self.clock.now())
        for event in events:
            self.events.publish(event.topic, {**event.payload, "at": at})
