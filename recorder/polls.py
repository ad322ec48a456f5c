"""The recorder's every-second reads of the database, made once for all its cameras.

Every camera's pipeline re-read its masks each second (``MaskService.current``: the
version row and the running lifts) and every segment writer its recording state
(``RecordingLog.enabled``), each in a transaction of its own on the camera's thread. On
the camera threads, between two frames of the codecs, such a read cost about 1.5 ms and
0.6 ms of CPU (bench/README.md, session 17): nearly half of what a pass-through camera
costs, and the reads of N cameras cost N times as much. A database that hung held the
camera's stream with it.

:class:`CameraPolls` reads both for every camera of the engine in one thread
(``camera-polls``), every ``period`` seconds, one transaction each
(:meth:`~privacy_masks.service.MaskService.current_all`,
:meth:`~recorder.recording.RecordingLog.enabled_all`); the pipelines and writers take its
newest reading from memory. Rules, all fail closed (PSCS-1, INV-5):

- a camera asked about for the first time (a pipeline connecting) is read on the asking
  thread at once, as before: a stream never starts on a reading older than its start;
- a reading replaces a camera's newest one only if its read began after that one's (reads
  are numbered as they begin): a camera is never handed a mask set older than one it was
  handed (a mask added is never dropped again by a slower read begun before it);
- once a read fails, or leaves a camera out (its own rows failed: the others are read
  all the same), or none has succeeded for ``stale_seconds`` (a database that hangs
  holds the polling thread, never the streams), asking raises
  :class:`~vms.errors.Unavailable` until a read succeeds again: the pipeline keeps its
  masks and drops their lifts, the writer keeps its recording state, as when their own
  reads failed (``CameraPipeline._reread``, ``SegmentWriter._recording_enabled``).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from privacy_masks.model import MaskSet
from vms.clock import Clock
from vms.errors import Unavailable
from vms.outage_log import OutageLog

log = logging.getLogger(__name__)

T = TypeVar("T")
Reader = Callable[[Iterable[str]], dict[str, T]]


@dataclass(frozen=True)
class _Reading(Generic[T]):
    order: int  # reads are numbered as they begin
    begun: float  # clock.monotonic() when the read began
    value: T


class _Board(Generic[T]):
    """The newest reading of one kind for each camera, and the last failure."""

    def __init__(self, what: str, read: Reader[T], clock: Clock, stale_seconds: float) -> None:
        self.what = what
        self._read = read
        self._clock = clock
        self._stale = stale_seconds
        self._lock = threading.Lock()
        self._readings: dict[str, _Reading[T]] = {}
        self._reads = itertools.count(1)
        self._failed: tuple[int, str] | None = None  # (order, what went wrong)
        # Cameras a read that succeeded left out (their own rows failed): order.
        self._missed: dict[str, int] = {}

    def cameras(self) -> list[str]:
        with self._lock:
            return list(self._readings)

    def forget(self, camera_id: str) -> None:
        with self._lock:
            self._readings.pop(camera_id, None)
            self._missed.pop(camera_id, None)

    def get(self, camera_id: str) -> T:
        with self._lock:
            reading = self._readings.get(camera_id)
            failed = self._failed
            missed = self._missed.get(camera_id, 0)
        if reading is None:  # the first ask: read at once
            value = self.read([camera_id], first=True).get(camera_id)
            if value is None:
                raise Unavailable(f"the {self.what} of camera {camera_id} unreadable")
            return value
        if failed is not None and failed[0] > reading.order:
            raise Unavailable(f"{self.what} unreadable: {failed[1]}")
        if missed > reading.order:
            raise Unavailable(f"the {self.what} of camera {camera_id} unreadable")
        age = self._clock.monotonic() - reading.begun
        if age > self._stale:
            raise Unavailable(f"{self.what} not read for {age:.1f} s")
        return reading.value

    def read(self, camera_ids: list[str], *, first: bool = False) -> dict[str, T]:
        """Read ``camera_ids`` now and keep what is newer than what is kept; raises
        what the read raised (and records it, so that older readings are not handed
        out as if nothing had happened). A round (``first`` False) keeps nothing of a
        camera forgotten while it read (it would be read every round again, for good);
        a camera's first ask keeps its reading."""
        with self._lock:
            order, begun = next(self._reads), self._clock.monotonic()
        try:
            values = self._read(camera_ids)
        except Exception as exc:
            with self._lock:
                if self._failed is None or self._failed[0] < order:
                    self._failed = (order, f"{type(exc).__name__}: {exc}"[:300])
            raise
        with self._lock:
            for camera_id in camera_ids:
                kept = self._readings.get(camera_id)
                if kept is None and not first:
                    continue  # forgotten meanwhile (removed from the engine)
                if kept is not None and kept.order > order:
                    continue  # a newer read has answered for it already
                if camera_id in values:
                    self._readings[camera_id] = _Reading(order, begun, values[camera_id])
                    self._missed.pop(camera_id, None)
                else:
                    self._missed[camera_id] = max(order, self._missed.get(camera_id, 0))
            if self._failed is not None and self._failed[0] < order:
                self._failed = None
        return values


class CameraPolls:
    """One thread reading every ``period`` seconds the masks and recording state of the
    cameras asked about (module doc). ``masks`` and ``enabled`` are the pipelines' and
    writers' readers: they block only at a camera's first ask."""

    def __init__(
        self,
        read_masks: Reader[MaskSet],
        read_enabled: Reader[bool],
        clock: Clock,
        period: float = 1.0,
        stale_seconds: float = 5.0,
        forget_masks: Callable[[str], None] = lambda camera_id: None,
    ) -> None:
        self.period = period
        # What the masks' reader keeps of a camera (MaskService.forget), dropped with it.
        self._forget_masks = forget_masks
        self._boards: tuple[_Board[MaskSet], _Board[bool]] = (
            _Board("masks", read_masks, clock, stale_seconds),
            _Board("recording state", read_enabled, clock, stale_seconds),
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0  # rounds made by the thread (each kind read once a round)
        self._unread = OutageLog(log)  # by board

    def masks(self, camera_id: str) -> MaskSet:
        return self._boards[0].get(camera_id)

    def enabled(self, camera_id: str) -> bool:
        return self._boards[1].get(camera_id)

    def forget(self, camera_id: str) -> None:
        """Stop reading ``camera_id`` (removed from the engine); asked again, it is
        read at once. What the masks' reader keeps of it goes too (a round reading it
        meanwhile drops it again, :meth:`poll`)."""
        for board in self._boards:
            board.forget(camera_id)
        self._forget_masks(camera_id)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="camera-polls", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def poll(self) -> None:
        """One round: each kind read for every camera asked about so far."""
        for board in self._boards:
            cameras = board.cameras()
            if not cameras:
                continue
            try:
                board.read(cameras)
                if board is self._boards[0]:
                    # A camera forgotten during the read: the masks' reader kept it
                    # again, which only forgetting it once more undoes.
                    for camera_id in set(cameras) - set(board.cameras()):
                        self._forget_masks(camera_id)
            except Exception:
                # Once per outage (the askers raise Unavailable meanwhile, and log too).
                self._unread.failed(
                    "the %s of %d cameras cannot be read", board.what, len(cameras), key=board.what
                )
                continue
            self._unread.works(
                "the %s of the cameras can be read again", board.what, key=board.what
            )
        self.rounds += 1

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.poll()
