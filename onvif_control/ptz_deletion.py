"""A camera's deletion as PTZ control sees it (docs/design/ptz-arbitration.md P5, P6).

:class:`PtzDeletion` is the :class:`~onvif_control.cameras.CameraPtz` that
:class:`~onvif_control.ptz.PtzService` gives the camera service (which may not import the
PTZ side): around the deletion, the arbiter's Stop for each open session while the row
and connection still exist, under the camera's steering lock (P5); for each session the
deletion ends, its rate-limit bucket goes; and once the deletion has committed, one
``ptz.session`` saying nobody controls the camera, numbered after every number the camera
had (P6), so the pages showing its holder apply it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from sqlalchemy import select

from onvif_control.ptz_sessions import PtzSessions
from vms.db.models import Camera, PtzSession


class PtzDeletion:
    """:class:`~onvif_control.cameras.CameraPtz` of :class:`PtzSessions`."""

    def __init__(self, sessions: PtzSessions) -> None:
        self.sessions = sessions
        self._guard = threading.Lock()
        # Camera being deleted -> the number its sessions' end is published under, set
        # when the deletion ends the first of them (None of them: nothing to publish).
        self._ended: dict[str, int] = {}

    @contextlib.contextmanager
    def deleting(self, camera_id: str) -> Iterator[None]:
        """Held around a camera's deletion: under the camera's steering lock, the
        arbiter's Stop for each of its open sessions, sent while its row and connection
        still exist; the lock is held until the deletion is over, so no command of those
        sessions reaches the camera after that Stop (one waiting for the lock then finds
        its session ended: 409). Then, if the deletion ended sessions, ``ptz.session``
        (nobody) under the camera's next number; a deletion that failed publishes
        nothing."""
        sessions = self.sessions
        with sessions.steering(camera_id):
            with sessions.db.session() as s:
                open_rows = (
                    s.execute(
                        select(PtzSession).where(
                            PtzSession.camera_id == camera_id, PtzSession.ended_at.is_(None)
                        )
                    )
                    .scalars()
                    .all()
                )
            for row in open_rows:
                sessions.stop_after_end(row, "camera deleted")
            try:
                yield
            finally:
                with self._guard:
                    seq = self._ended.pop(camera_id, None)
        if seq is not None:
            sessions.publish_controller(camera_id, None, seq)

    def session_ended(self, session_id: str) -> None:
        """A session the deletion ended, inside its transaction, which holds the camera's
        row lock: its rate-limit bucket goes, and the camera's number is read. Read
        committed, from another connection (PostgreSQL's read committed, SQLite's WAL:
        not blocked by the deletion's lock), it is the camera's last: every change
        before the lock has committed, and none can follow (it would wait for the lock
        and find no camera). The deletion publishes its end under the next one."""
        self.sessions.on_end(session_id)
        with self.sessions.db.reader() as c:
            found = c.execute(
                select(Camera.id, Camera.ptz_session_seq)
                .join(PtzSession, PtzSession.camera_id == Camera.id)
                .where(PtzSession.id == session_id)
            ).first()
        if found is not None:
            with self._guard:
                self._ended[found.id] = int(found.ptz_session_seq or 0) + 1
