"""How many live streams of one kind a user may hold open at once in this media engine.

A live stream holds something of the process for as long as it is open: an MJPEG
response a server thread (and, forwarded from a web process, that process's thread and a
connection of its pool to the node), a WebRTC session its UDP sockets, DTLS state and
its share of the ``webrtc-loop``. Without a bound, one signed-in viewer could open
streams until the threads or the file descriptors run out and the dispatchers' own views
fail. A :class:`StreamLimit` counts each user's open streams of one kind and refuses one
more (429 naming the limit and the setting) until one ends. The count is per process
(per media node: each node serves its own cameras).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from vms.errors import RateLimited

Release = Callable[[], None]


class StreamLimit:
    """Each user's open streams of one kind. ``what`` names the streams and ``setting``
    the configuration key of the limit, for the refusal's message."""

    def __init__(self, what: str, setting: str) -> None:
        self.what = what
        self.setting = setting
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()

    def open_count(self, username: str) -> int:
        with self._lock:
            return self._open[username]

    def acquire(self, username: str, per_user: int) -> Release:
        """Count one more open stream of ``username``; RateLimited when they hold
        ``per_user`` already (0: no limit). The returned function gives the slot back
        (once, however often it is called)."""
        with self._lock:
            held = self._open[username]
            if per_user > 0 and held >= per_user:
                raise RateLimited(
                    f"{username} already has {held} {self.what} open, the most one user may "
                    f"hold at once ({self.setting} = {per_user}); close one first",
                    open_streams=held,
                    limit=per_user,
                )
            self._open[username] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self._open[username] -= 1
                if self._open[username] <= 0:
                    del self._open[username]

        return release
