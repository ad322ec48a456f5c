"""Whether a camera is to be recorded: the writer's reading of the camera's recording
state (on/off), read again as capture time goes on and kept as it was while the
database does not answer (INV-1, INV-7).

Used only by :class:`recorder.segments.SegmentWriter`, on its own thread.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from vms.outage_log import OutageLog

log = logging.getLogger(__name__)


class RecordingSwitch:
    """One camera's recording state as the writer last read it."""

    def __init__(self, camera_id: str, read: Callable[[str], bool], poll: dt.timedelta) -> None:
        """``read``: where the state is read (``read(camera_id)``); ``poll``: how much
        capture time passes before it is read again."""
        self.camera_id = camera_id
        self._read = read
        self._poll = poll
        self.enabled = True
        self._checked: dt.datetime | None = None
        self._unread = OutageLog(log)

    def at(self, now: dt.datetime) -> bool:
        """Whether recording is on at capture time ``now``."""
        # Read again every poll of capture time, and at once when capture times went
        # back (the clock was set back: INV-7), not only once they come round again.
        if self._checked is None or not dt.timedelta(0) <= now - self._checked < self._poll:
            self._checked = now
            try:
                enabled = self._read(self.camera_id)
            except Exception:
                # The database did not answer: the camera goes on as it was, and the
                # segment in progress is kept (it was dropped as a writer failure, and
                # footage lost for want of a reading: INV-1). Logged once per outage.
                self._unread.failed(
                    "camera %s: recording state unreadable; recording stays %s",
                    self.camera_id,
                    "on" if self.enabled else "off",
                )
                return self.enabled
            self._unread.works("camera %s: recording state readable again", self.camera_id)
            if enabled != self.enabled:
                log.info(
                    "camera %s: recording %s -> %s",
                    self.camera_id,
                    "on" if self.enabled else "off",
                    "on" if enabled else "off",
                )
            self.enabled = enabled
        return self.enabled
