"""Keyframes for live viewers of pass-through cameras (issue 12.1).

A masked camera's viewers get a keyframe from its own mask encoder
(:meth:`~recorder.pipeline.CameraPipeline.request_keyframe`). A pass-through camera's
packets are the camera's: a viewer joining between two keyframes waits for the camera's
next GOP, unless the camera is asked for one. :class:`CameraKeyframes` asks through the
:class:`~vms.ports.KeyframeRequest` port (ONVIF ``SetSynchronizationPoint``, provided by
``onvif_control``, which this package may not import):

1. at most one request per camera every ``[webrtc] camera_keyframe_interval_seconds``
   (twenty viewers joining, or a browser's repeated PLIs, are one request). A request
   that comes sooner is not dropped but deferred to the end of the interval, once
   however many come: a viewer who joins just after another would otherwise have
   missed that one's keyframe and waited for a whole GOP;
2. the request runs on a worker thread (``keyframe-request``): the WebRTC loop that
   calls :meth:`CameraKeyframes.request` never waits for a camera;
3. a camera that answers it cannot (``ActionNotSupported``, or not a camera the port
   knows) is remembered until :meth:`CameraKeyframes.forget` (the camera restarted or
   re-read); its viewers then wait for its next keyframe, as every viewer does with
   ``[webrtc] camera_keyframe_requests`` off. A camera that did not answer is asked
   again next time.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from vms.clock import Clock
from vms.errors import VMSError
from vms.ports import KeyframeRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyframeSettings:
    enabled: bool = True
    interval_seconds: float = 1.0


def due(now: float, last: float | None, interval: float) -> bool:
    """Whether a camera last asked at ``last`` (monotonic seconds; None: never) may be
    asked again at ``now``."""
    return last is None or now - last >= interval


@dataclass
class KeyframeCounts:
    """What was asked (for tests and the log): requests sent, answered, refused."""

    sent: int = 0
    answered: int = 0
    unsupported: int = 0
    failed: int = 0


class CameraKeyframes:
    """Keyframe requests to pass-through cameras through the port ``find()`` returns
    (None: no provider in this process, nothing is asked)."""

    def __init__(
        self,
        find: Callable[[], KeyframeRequest | None],
        clock: Clock,
        settings: KeyframeSettings,
    ) -> None:
        self._find = find
        self._clock = clock
        self.settings = settings
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._unsupported: set[str] = set()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._deferred: dict[str, threading.Timer] = {}
        self.counts = KeyframeCounts()

    def supported(self, camera_id: str) -> bool:
        """False once ``camera_id`` answered that it cannot make keyframes on request."""
        return camera_id not in self._unsupported

    def request(self, camera_id: str) -> bool:
        """Ask ``camera_id`` for a keyframe in the background (see the module's rules).
        True when a request was sent now; False when it is deferred (or was deferred
        already), or nothing is asked."""
        if not self.settings.enabled or camera_id in self._unsupported:
            return False
        port = self._find()
        if port is None:
            return False
        now = self._clock.monotonic()
        with self._lock:
            last = self._last.get(camera_id)
            if due(now, last, self.settings.interval_seconds):
                self._send(port, camera_id, now)
                return True
            if camera_id not in self._deferred:
                assert last is not None
                wait = last + self.settings.interval_seconds - now
                timer = threading.Timer(wait, self._send_deferred, (port, camera_id))
                timer.name = f"keyframe-deferred-{camera_id}"
                timer.daemon = True
                self._deferred[camera_id] = timer
                timer.start()
            return False

    def _send_deferred(self, port: KeyframeRequest, camera_id: str) -> None:
        with self._lock:
            if self._deferred.pop(camera_id, None) is None or camera_id in self._unsupported:
                return  # forgotten, stopped, or refused meanwhile
            self._send(port, camera_id, self._clock.monotonic())

    def _send(self, port: KeyframeRequest, camera_id: str, now: float) -> None:
        # Called with the lock held.
        self._last[camera_id] = now
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="keyframe-request"
            )
        self.counts.sent += 1
        self._pool.submit(self._ask, port, camera_id)

    def _ask(self, port: KeyframeRequest, camera_id: str) -> None:
        try:
            answered = port.request_keyframe(camera_id)
        except VMSError as exc:
            self.counts.failed += 1
            log.info("camera %s: keyframe request failed (asked again later): %s", camera_id, exc)
            return
        except Exception:  # a worker thread: a bug here must be seen, not lost
            self.counts.failed += 1
            log.exception("camera %s: keyframe request failed", camera_id)
            return
        if answered:
            self.counts.answered += 1
            return
        self.counts.unsupported += 1
        with self._lock:
            self._unsupported.add(camera_id)
        log.info(
            "camera %s: keyframes on request -> unsupported; live viewers wait for its "
            "next keyframe",
            camera_id,
        )

    def forget(self, camera_id: str) -> None:
        """Forget what is known of ``camera_id`` (restarted, edited or removed)."""
        with self._lock:
            self._last.pop(camera_id, None)
            self._unsupported.discard(camera_id)
            timer = self._deferred.pop(camera_id, None)
        if timer is not None:
            timer.cancel()

    def stop(self) -> None:
        """Drop the requests not yet sent and let the worker threads end."""
        with self._lock:
            pool, self._pool = self._pool, None
            timers, self._deferred = list(self._deferred.values()), {}
        for timer in timers:
            timer.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
