"""Continuous reconcile of the recorder with the camera registry (ARCHITECTURE.md
section 1: the media role follows cameras added, edited or removed while it runs).

:func:`plan` is pure: from the cameras the recorder follows and a registry snapshot it
decides what to add, restart (stream URL, credentials or calibration changed: the
calibration places the masks) and remove (deleted, or no main stream any more).
:class:`RegistryFollower` runs :meth:`recorder.engine.Recorder.reconcile` every
``[recorder] reconcile_seconds`` in a named thread (``recorder-reconcile``).

Cameras added by hand (:meth:`Recorder.add_camera`) are not followed: the registry
neither restarts nor removes them. A registered camera whose credentials cannot be read
keeps recording as it is (the error is logged each round).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass

from recorder.pipeline import CameraSpec
from recorder.registry import RegistrySnapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """What one reconcile round changes (ids in order)."""

    add: tuple[CameraSpec, ...] = ()
    restart: tuple[CameraSpec, ...] = ()
    remove: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.add or self.restart or self.remove)


def plan(
    followed: Mapping[str, CameraSpec], unfollowed: Set[str], snapshot: RegistrySnapshot
) -> Plan:
    """The changes that bring ``followed`` (registry cameras being recorded, with the
    spec they run with) in step with ``snapshot``; ``unfollowed`` are ids recorded
    from another source, which the registry does not touch."""
    wanted = snapshot.specs
    return Plan(
        add=tuple(
            spec
            for camera_id, spec in sorted(wanted.items())
            if camera_id not in followed and camera_id not in unfollowed
        ),
        restart=tuple(
            spec
            for camera_id, spec in sorted(wanted.items())
            if camera_id in followed and followed[camera_id] != spec
        ),
        remove=tuple(
            camera_id
            for camera_id in sorted(followed)
            if camera_id not in wanted and camera_id not in snapshot.unreadable
        ),
    )


class RegistryFollower:
    """Calls ``reconcile`` every ``interval_seconds`` until :meth:`stop`; a failing
    round is logged and retried next period."""

    def __init__(self, reconcile: Callable[[], Plan], interval_seconds: float) -> None:
        self._reconcile = reconcile
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="recorder-reconcile", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self._reconcile()
            except Exception:
                # The registry or the database is unavailable: recording goes on as it
                # is; the next round tries again.
                log.exception("reconcile with the camera registry failed")
