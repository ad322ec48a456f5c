"""Pose tracking: every PTZ camera's pose from ``GetStatus``, with timestamps, for the
media pipeline (privacy masks, INV-5) and the browsers.

:class:`PoseTracker` implements :class:`vms.camera_model.PoseSource`. It polls each PTZ
camera on the ONVIF loop: fast (``[cameras] pose_fast_hz``, at least 5 Hz) while the
camera moves, during a continuous move, and for ``pose_settle_seconds`` after a command;
slowly (every ``pose_idle_seconds``) otherwise. Commanded moves record the expected
pose at once (``commanded=True``) so masks can cover the destination before the camera
confirms it (ARCHITECTURE section 5). Sample times come from the injected clock (INV-7),
the one the recorder stamps frame capture times with (INV-5); every decision reads its
monotonic time, and ``loop.time()`` only schedules polls (docs/design/time.md).

The camera read its pose at some instant of the GetStatus round trip: a sample is
stamped at the middle of it and carries half of it as its ``uncertainty``, which the
masks allow for (INV-5). A reply that took longer than ``[privacy_masks]
latency_seconds`` is not recorded: while a camera's replies stay that slow its pose
grows stale and its picture is blanked.

A continuous move is stopped by the tracker when the camera reaches (or would reach
before the next poll) a software limit: the guard cannot know in advance where a
velocity command will end (issue 4 item 5).

With camera ownership across media nodes (issue 13.1) each node's tracker polls, and
keeps ONVIF connections to, only the cameras its node records: ``scope()`` (the
:class:`~vms.ports.CameraOwnership` port, read every loop turn) names them; a camera
commanded through this process is polled too while its command lasts, so the limit
watch above holds wherever the command was given. A camera taken over starts being
polled at the next turn with no pose known, so its pipeline blanks until the first
reply (INV-5); one handed back stops being polled, its poses are forgotten (a later
takeover starts blank again, never from a pose the other node saw the camera leave)
and its connection is closed.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass, field

from onvif_control.adapter.models import PtzStatus
from onvif_control.connections import Connections
from onvif_control.guard import beyond_limits
from vms.camera_model import Calibration, Pose, PoseSample
from vms.clock import Clock, isoformat
from vms.errors import VMSError
from vms.events import EventBus
from vms.outage_log import OutageLog

log = logging.getLogger(__name__)

MAX_SAMPLES = 4096  # per camera, on top of the time bound
CAMERA_LIST_SECONDS = 3.0  # how often newly onboarded cameras are picked up
SPEED_BASE = 0.1  # seconds between the two samples that estimate the speed
STATUS_GRACE = 0.3  # seconds after a continuous move during which IDLE is not believed
IDLE_REPLIES_TO_END = 2  # IDLE replies in a row that end a continuous move's limit watch
# A continuous move never seen moving is watched this long (the API's longest
# ContinuousMove timeout, 60 s, and some).
UNSEEN_MOVE_WATCH_SECONDS = 70.0
# A sample this much older than the last one recorded: the clock was set back (INV-7),
# not the few tenths of a second samples from two threads can arrive out of order.
CLOCK_SET_BACK = dt.timedelta(seconds=5)

LimitStop = Callable[[str, Pose], None]
# The cameras this node polls; None: every PTZ camera (camera ownership off).
Scope = Callable[[], Collection[str] | None]


@dataclass
class _Track:
    samples: collections.deque[PoseSample]
    velocity: tuple[float, float, float] | None = None  # active continuous move
    velocity_since: float = 0.0  # clock.monotonic() when the move was commanded
    fast_until: float = 0.0  # clock.monotonic()
    last_publish: float = 0.0
    last_published: tuple[float, float, float, bool] | None = None
    polls: OutageLog = field(default_factory=lambda: OutageLog(log))  # failing polls
    slow: bool = False  # the last reply took longer than the masks allow
    # Replies in a row that said IDLE during a continuous move, and whether one said it
    # moves since it was commanded (see _poll).
    idle_replies: int = 0
    seen_moving: bool = False
    # Every measured pose, slow replies too: the software-limit look-ahead needs a speed
    # even on a link too slow for the masks to use its poses.
    measured: collections.deque[PoseSample] = field(
        default_factory=lambda: collections.deque(maxlen=64)
    )


class PoseTracker:
    """The pose of every PTZ camera (the :class:`~vms.ports.PoseSource` port).

    ``on_limit_stop(camera_id, pose)`` is called (from the ONVIF loop thread) after the
    tracker stopped a continuous move at a software limit, so the stop is audited.
    """

    def __init__(
        self,
        connections: Connections,
        clock: Clock,
        events: EventBus,
        *,
        fast_hz: float = 5.0,
        idle_seconds: float = 2.0,
        settle_seconds: float = 2.0,
        history_seconds: float = 30.0,
        publish_hz: float = 4.0,
        max_reply_seconds: float = 0.15,
        on_limit_stop: LimitStop | None = None,
        scope: Scope | None = None,
    ) -> None:
        if fast_hz < 5.0:
            raise ValueError(f"pose_fast_hz {fast_hz} is below the 5 Hz masks need")
        self.connections = connections
        self.clock = clock
        self.events = events
        self.fast_period = 1.0 / fast_hz
        self.idle_period = max(idle_seconds, self.fast_period)
        self.settle_seconds = settle_seconds
        self.keep = dt.timedelta(seconds=history_seconds)
        self.publish_period = 1.0 / publish_hz if publish_hz > 0 else float("inf")
        self.max_reply_seconds = max_reply_seconds
        self.on_limit_stop = on_limit_stop
        self.scope = scope
        self._lock = threading.Lock()
        self._tracks: dict[str, _Track] = {}
        self._urgent: set[str] = set()  # cameras to poll now (a command was sent)
        self._future: Future[None] | None = None
        self._stopping = threading.Event()
        self.polls = 0  # GetStatus calls made (benchmarks)
        self.polls_by_camera: collections.Counter[str] = collections.Counter()
        self.polled: frozenset[str] = frozenset()  # the cameras polled now
        self.slow_replies = 0  # replies not recorded: slower than the masks allow

    # -- PoseSource ---------------------------------------------------------------------

    def latest(self, camera_id: str) -> PoseSample | None:
        with self._lock:
            track = self._tracks.get(camera_id)
            return track.samples[-1] if track and track.samples else None

    def history(self, camera_id: str, since: dt.datetime) -> list[PoseSample]:
        with self._lock:
            track = self._tracks.get(camera_id)
            if track is None:
                return []
            return [s for s in track.samples if s.at >= since]

    # -- feeding ------------------------------------------------------------------------

    def _track(self, camera_id: str) -> _Track:
        track = self._tracks.get(camera_id)
        if track is None:
            track = _Track(collections.deque(maxlen=MAX_SAMPLES))
            self._tracks[camera_id] = track
        return track

    def _append(self, camera_id: str, sample: PoseSample) -> None:
        with self._lock:
            track = self._track(camera_id)
            samples = track.samples
            if samples and samples[-1].at - sample.at > CLOCK_SET_BACK:
                # The clock was set back (INV-7): the history is on the old time line, and
                # restamping every new sample to its end would leave no sample before any
                # frame captured since (all blanked, INV-5, until the clock came round).
                # It starts again; frames captured before are blanked meanwhile.
                log.warning(
                    "camera %s: the clock was set back %.1f s; pose history starts again",
                    camera_id,
                    (samples[-1].at - sample.at).total_seconds(),
                )
                samples.clear()
            # Commanded and measured samples can arrive out of order across threads.
            if samples and sample.at < samples[-1].at:
                # Restamped later: its uncertainty grows by as much (the reading's
                # instant is not moved).
                later = samples[-1].at
                grown = (
                    None
                    if sample.uncertainty is None
                    else sample.uncertainty + (later - sample.at).total_seconds()
                )
                sample = dataclasses.replace(sample, at=later, uncertainty=grown)
            samples.append(sample)
            horizon = sample.at - self.keep
            while len(samples) > 1 and samples[0].at < horizon:
                samples.popleft()
        self._publish(camera_id, sample)

    def measure(self, status: PtzStatus, calibration: Calibration, round_trip: float) -> PoseSample:
        """A measured pose (``GetStatus``) in degrees; not recorded. The camera read it
        at some instant of the request's ``round_trip`` (seconds, ending now): stamped
        at its middle, give or take half of it (INV-5)."""
        half = max(0.0, round_trip) / 2.0
        return PoseSample(
            calibration.from_generic(status.x, status.y, status.zoom),
            self.clock.now() - dt.timedelta(seconds=half),
            status.moving,
            uncertainty=half,
        )

    def record(
        self, camera_id: str, status: PtzStatus, calibration: Calibration, round_trip: float
    ) -> PoseSample:
        """A measured pose (``GetStatus``) in degrees, recorded for the masks."""
        sample = self.measure(status, calibration, round_trip)
        self._append(camera_id, sample)
        return sample

    def expect(self, camera_id: str, pose: Pose) -> None:
        """A commanded move: the expected pose, now, and fast polling for a while."""
        self._append(camera_id, PoseSample(pose, self.clock.now(), True, commanded=True))
        self.poke(camera_id)

    def commanding(self, camera_id: str, target: Pose | None) -> None:
        """A command is about to be sent: record it now, *before* the camera can move
        (INV-5, docs/design/mask-geometry.md: a poll reply in flight could otherwise say
        "idle" after the camera started, and the masks would not cover the move).

        The sample's pose is the command's target when known, else the last known pose
        (the mask plan uses commanded samples only as the instant of a command). With no
        pose known at all there is nothing to mark: the pipeline blanks anyway.
        """
        with self._lock:
            track = self._tracks.get(camera_id)
            last = track.samples[-1] if track and track.samples else None
        pose = target or (last.pose if last is not None else None)
        if pose is not None:
            self._append(camera_id, PoseSample(pose, self.clock.now(), True, commanded=True))
        self.poke(camera_id)

    def poke(self, camera_id: str) -> None:
        """Poll fast for ``settle_seconds`` (a command was sent)."""
        with self._lock:
            self._track(camera_id).fast_until = self.clock.monotonic() + self.settle_seconds
            self._urgent.add(camera_id)

    def continuous(self, camera_id: str, velocity: tuple[float, float, float] | None) -> None:
        """A continuous move started (velocity) or stopped (None): limits are watched."""
        with self._lock:
            track = self._track(camera_id)
            moving = velocity is not None and any(abs(v) > 1e-9 for v in velocity)
            track.velocity = velocity if moving else None
            track.velocity_since = self.clock.monotonic()
            track.idle_replies = 0
            track.seen_moving = False
            track.fast_until = track.velocity_since + self.settle_seconds
            self._urgent.add(camera_id)

    def forget(self, camera_id: str) -> None:
        with self._lock:
            self._tracks.pop(camera_id, None)

    def _publish(self, camera_id: str, sample: PoseSample) -> None:
        key = (
            round(sample.pose.pan, 2),
            round(sample.pose.tilt, 2),
            round(sample.pose.zoom, 3),
            sample.moving,
        )
        now = self.clock.monotonic()
        with self._lock:
            track = self._track(camera_id)
            if key == track.last_published or now - track.last_publish < self.publish_period:
                return
            track.last_publish, track.last_published = now, key
        self.events.publish("ptz.pose", pose_json(camera_id, sample))

    # -- polling ------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling on the ONVIF loop (the media role calls this)."""
        if self._future is not None and not self._future.done():
            return
        self._stopping.clear()
        self._future = self.connections.runtime.submit(self._run())

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        future, self._future = self._future, None
        if future is not None:
            try:
                future.result(timeout)
            except Exception:  # the loop may already be gone at shutdown
                log.debug("pose tracker stopped with an error", exc_info=True)

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due: dict[str, float] = {}
        inflight: dict[str, asyncio.Task[None]] = {}
        registered: list[str] = []
        cameras: list[str] = []
        listed_at = float("-inf")
        while not self._stopping.is_set():
            now = loop.time()
            if now - listed_at >= CAMERA_LIST_SECONDS:
                try:
                    registered = await asyncio.to_thread(self.connections.camera_ids, ptz_only=True)
                except Exception:
                    log.exception("pose tracker: listing cameras failed")
                else:
                    self._drop_unregistered(registered, inflight)
                listed_at = now
            cameras = self._in_scope(registered, cameras, inflight)
            for camera_id in cameras:
                due.setdefault(camera_id, now)
            for camera_id in set(due) - set(cameras):
                due.pop(camera_id, None)
            with self._lock:
                urgent, self._urgent = self._urgent, set()
            for camera_id in urgent:
                if camera_id in due:
                    due[camera_id] = min(due[camera_id], now)
            for camera_id in cameras:
                if due.get(camera_id, now) <= now and camera_id not in inflight:
                    task = loop.create_task(self._poll(camera_id, due))
                    inflight[camera_id] = task
                    task.add_done_callback(_discard(inflight, camera_id))
            wake = min((due[c] for c in cameras if c not in inflight and c in due), default=now)
            await asyncio.sleep(min(max(wake - loop.time(), 0.005), 0.05))
        for task in list(inflight.values()):
            task.cancel()
        await asyncio.gather(*inflight.values(), return_exceptions=True)

    def _drop_unregistered(
        self, registered: list[str], inflight: dict[str, asyncio.Task[None]]
    ) -> None:
        """Forget the cameras gone from the registry (deleted, or no longer PTZ): their
        poses, their poll count and their connection, which would otherwise be kept for
        every camera ever registered. Its poll in flight is cancelled first (it would
        record again); a camera commanded through this process is kept while its
        command lasts (one onboarded after the listing was read)."""
        listed = set(registered)
        with self._lock:
            known = set(self._tracks) | set(self.polls_by_camera)
        gone = known - listed - self._commanded()
        for camera_id in sorted(gone):
            task = inflight.pop(camera_id, None)
            if task is not None:
                task.cancel()
            with self._lock:
                self._tracks.pop(camera_id, None)
                self._urgent.discard(camera_id)
                self.polls_by_camera.pop(camera_id, None)
            self.connections.release(camera_id)
            log.info("camera %s: pose no longer tracked (not a registered PTZ camera)", camera_id)

    def _in_scope(
        self,
        registered: list[str],
        polled: list[str],
        inflight: dict[str, asyncio.Task[None]],
    ) -> list[str]:
        """The registered cameras this node polls (see the module's text): those its node
        records, and any camera commanded through this process while the command lasts
        (a continuous move, the settle time after a command), so the software-limit watch
        of a move given here never depends on which node records the camera. A camera
        entering the scope by ownership starts with no pose (its pipeline blanks until
        the first reply, INV-5); one leaving it is no longer polled, its poses are
        forgotten and its connection closed."""
        if self.scope is None:
            cameras = registered
        else:
            try:
                owned = self.scope()
            except Exception:
                log.exception("pose tracker: reading the cameras of this node failed")
                owned = set(polled)  # keep polling what it polled
            commanded = self._commanded()
            cameras = [c for c in registered if owned is None or c in owned or c in commanded]
            before, after = set(polled), set(cameras)
            for camera_id in sorted(after - before):
                if camera_id not in commanded:
                    self.forget(camera_id)
                log.info("camera %s: pose tracked by this node", camera_id)
            for camera_id in sorted(before - after):
                task = inflight.pop(camera_id, None)
                if task is not None:
                    task.cancel()
                self.forget(camera_id)
                self.connections.release(camera_id)
                log.info("camera %s: pose no longer tracked here (not owned)", camera_id)
        self.polled = frozenset(cameras)
        return cameras

    def _commanded(self) -> set[str]:
        """Cameras with a command of this process in force (a continuous move, or within
        ``settle_seconds`` of a command)."""
        now = self.clock.monotonic()
        with self._lock:
            return {
                camera_id
                for camera_id, track in self._tracks.items()
                if track.velocity is not None or now < track.fast_until
            }

    async def _poll(self, camera_id: str, due: dict[str, float]) -> None:
        # Two time lines: ``loop.time()`` only schedules the next poll (``due``, read by
        # ``_run``); every decision (is the reply too slow for the masks, was it sent
        # after the command, poll fast until when) reads the injected clock, on which
        # the commands are stamped too (INV-5, INV-7, docs/design/time.md).
        loop = asyncio.get_running_loop()
        scheduled = loop.time()
        started = self.clock.monotonic()
        try:
            record = self.connections.record(camera_id)
            device = self.connections.device(camera_id)
            sent = self.clock.monotonic()
            status = await device.status(record.profile_token)
            round_trip = self.clock.monotonic() - sent
        except VMSError as exc:
            # Its polls are one at a time (``_run``): ``track.polls`` needs no lock.
            with self._lock:
                track = self._track(camera_id)
            track.polls.failed(
                "camera %s: pose unknown: %s",
                camera_id,
                exc.message,
                level=logging.WARNING,
                traceback=False,
            )
            due[camera_id] = scheduled + self.idle_period
            return
        except Exception:
            # The database away, or a bug: with its traceback, once per outage as above
            # (it was every poll of every camera while the outage lasted).
            with self._lock:
                track = self._track(camera_id)
            track.polls.failed("camera %s: pose poll failed", camera_id)
            due[camera_id] = scheduled + self.idle_period
            return
        self.polls += 1
        self.polls_by_camera[camera_id] += 1
        slow = round_trip > self.max_reply_seconds
        if slow:
            # Used below to stop at limits, but not recorded for the masks (INV-5).
            sample = self.measure(status, record.calibration, round_trip)
            self.slow_replies += 1
        else:
            sample = self.record(camera_id, status, record.calibration, round_trip)
        # The limit watch times replies by their arrival (its look-ahead allows for the
        # round trip); mid-round-trip stamps would mistime a reply that waited.
        sample = dataclasses.replace(
            sample,
            at=sample.at + dt.timedelta(seconds=sample.uncertainty or 0.0),
            uncertainty=None,
        )
        with self._lock:
            track = self._track(camera_id)
            track.polls.works("camera %s: pose known again", camera_id, level=logging.INFO)
            was_slow, track.slow = track.slow, slow
            track.measured.append(sample)
            velocity = track.velocity
            # A reply to a request sent before the move was commanded says nothing about it.
            after_command = started > track.velocity_since + STATUS_GRACE
            # The move ended by itself (its ContinuousMove timeout) only when the camera
            # was seen moving since the command and then two replies in a row say IDLE:
            # IDLE replies before it moves (a camera still accelerating, a command that a
            # slow or loaded link delivered late, a reply computed before the move
            # began) must not end the limit watch while the camera goes on to turn. A
            # move never seen is watched for the longest ContinuousMove timeout.
            if velocity is not None and after_command and status.moving:
                track.seen_moving = True
            if velocity is not None and after_command and not status.moving:
                track.idle_replies += 1
            else:
                track.idle_replies = 0
            ended = (track.seen_moving and track.idle_replies >= IDLE_REPLIES_TO_END) or (
                velocity is not None
                and self.clock.monotonic() - track.velocity_since > UNSEEN_MOVE_WATCH_SECONDS
            )
            fast = (
                status.moving or velocity is not None or self.clock.monotonic() < track.fast_until
            )
        if slow and not was_slow:
            log.warning(
                "camera %s: GetStatus took %.0f ms, more than the %.0f ms masks allow "
                "([privacy_masks] latency_seconds); its poses are not used, so its "
                "picture is blanked, until replies are fast again (INV-5)",
                camera_id,
                round_trip * 1000,
                self.max_reply_seconds * 1000,
            )
        elif was_slow and not slow:
            log.info("camera %s: GetStatus replies fast again", camera_id)
        if velocity is not None and ended:
            # The camera stopped by itself (ContinuousMove timeout).
            self.continuous(camera_id, None)
            velocity = None
        if velocity is not None:
            await self._watch_limit(camera_id, record.calibration, sample, velocity, round_trip)
        due[camera_id] = scheduled + (self.fast_period if fast else self.idle_period)

    def _reference(self, camera_id: str, sample: PoseSample) -> PoseSample | None:
        """A measured sample at least ``SPEED_BASE`` before ``sample`` (speed estimate)."""
        horizon = sample.at - dt.timedelta(seconds=SPEED_BASE)
        with self._lock:
            track = self._tracks.get(camera_id)
            for old in reversed(track.measured if track else ()):
                if old.at <= horizon:
                    return old if (sample.at - old.at).total_seconds() < 2.0 else None
        return None

    async def _watch_limit(
        self,
        camera_id: str,
        calibration: Calibration,
        sample: PoseSample,
        velocity: tuple[float, float, float],
        round_trip: float,
    ) -> None:
        predicted = sample.pose
        reference = self._reference(camera_id, sample)
        if reference is not None:
            seconds = (sample.at - reference.at).total_seconds()
            # Where the camera will be when the next reply can stop it, at its measured
            # speed: the pose was read up to a round trip before this reply, and the
            # next poll starts a period after this one did (or when this reply came,
            # if that is later) and takes a round trip (a slow link looks further).
            ahead = (max(self.fast_period, round_trip) + round_trip) / seconds
            p, q = reference.pose, sample.pose
            predicted = Pose(
                q.pan + (q.pan - p.pan) * ahead,
                q.tilt + (q.tilt - p.tilt) * ahead,
                q.zoom + (q.zoom - p.zoom) * ahead,
            )
        if not (
            beyond_limits(sample.pose, calibration, *velocity)
            or beyond_limits(predicted, calibration, *velocity)
        ):
            return
        record = self.connections.record(camera_id)
        self.commanding(camera_id, None)  # INV-5: marked before it is sent
        try:
            await self.connections.device(camera_id).stop(record.profile_token)
        except VMSError as exc:
            log.warning("camera %s: stopping at the software limit failed: %s", camera_id, exc)
            return
        self.continuous(camera_id, None)
        log.info("camera %s: continuous move stopped at the software limit", camera_id)
        if self.on_limit_stop is not None:
            try:
                await asyncio.to_thread(self.on_limit_stop, camera_id, sample.pose)
            except Exception:
                log.exception("camera %s: recording the limit stop failed", camera_id)


def _discard(
    inflight: dict[str, asyncio.Task[None]], camera_id: str
) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if inflight.get(camera_id) is task:  # not a newer poll of a camera polled again
            inflight.pop(camera_id, None)

    return done


def pose_json(camera_id: str, sample: PoseSample) -> dict[str, object]:
    return {
        "camera_id": camera_id,
        "pose": sample.pose.to_dict(),
        "moving": sample.moving,
        "commanded": sample.commanded,
        "at": isoformat(sample.at),
    }
