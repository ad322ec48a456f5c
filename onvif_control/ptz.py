"""The PTZ service other packages use: sessions and commands of PTZ cameras, authorised,
arbitrated and audited (INV-6, PSCS-2, PSCS-4).

One object for the web API, the Socket.IO handlers, the pages and the jobs, composed of
:class:`~onvif_control.ptz_sessions.PtzSessions` (who controls a camera) and
:class:`~onvif_control.ptz_commands.PtzCommands` (what they make it do), which share the
session rows and the per-session rate-limit buckets
(docs/design/ptz-arbitration.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onvif_control.cameras import CameraService
from onvif_control.connections import Connections
from onvif_control.engine import PtzEngine
from onvif_control.guard import CommandRequest
from onvif_control.pose import PoseTracker
from onvif_control.ptz_commands import CommandResult, MalformedCommand, PtzCommands, PtzState
from onvif_control.ptz_deletion import PtzDeletion
from onvif_control.ptz_sessions import ControlState, OpenSession, PtzSessions, SessionView
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser
from vms.auth.permissions import Actor
from vms.camera_model import Pose
from vms.clock import Clock
from vms.config import PtzConfig
from vms.db.engine import Database
from vms.errors import VMSError
from vms.events import EventBus
from vms.metrics import PTZ_COMMAND_SECONDS


class PtzService:
    """Sessions, commands and status of PTZ cameras (``CameraControl.ptz``).

    ``priorities``, ``purposes`` and ``idle_seconds`` are the sessions' (from ``[ptz]``);
    the commands read their own ``config`` per command.
    """

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        events: EventBus,
        authoriser: Authoriser,
        cameras: CameraService,
        connections: Connections,
        engine: PtzEngine,
        tracker: PoseTracker,
        config: PtzConfig,
    ) -> None:
        self.clock = clock
        self.sessions = PtzSessions(
            db, audit, clock, events, authoriser, connections, engine, config
        )
        self.commands = PtzCommands(
            db,
            audit,
            clock,
            authoriser,
            cameras,
            connections,
            engine,
            tracker,
            config,
            self.sessions,
        )
        # A session's rate-limit bucket goes with the session, or on with the session
        # that replaces it (A3).
        self.sessions.on_end = self.commands.buckets.forget
        self.sessions.on_replace = self.commands.buckets.move
        # Deleting a camera stops what its sessions set moving, then ends them (P5), and
        # tells the pages under the camera's next number (P6).
        cameras.ptz = PtzDeletion(self.sessions)
        self.priorities = self.sessions.priorities
        self.purposes = self.sessions.purposes
        self.idle_seconds = self.sessions.idle_seconds

    # -- sessions (onvif_control.ptz_sessions) ------------------------------------------

    def open_session(self, actor: Actor, camera_id: str, ask: OpenSession) -> SessionView:
        """Take control of a camera (arbitration rules A1-A5)."""
        return self.sessions.open_session(actor, camera_id, ask)

    def refuse_malformed_session(
        self, actor: Actor, camera_id: str, asked: Mapping[str, Any], error: VMSError
    ) -> VMSError:
        """Audit a session request that did not parse (PSCS-2); the error to raise."""
        return self.sessions.refuse_malformed(actor, camera_id, asked, error)

    def close_session(
        self, actor: Actor, camera_id: str, session_id: str | None = None
    ) -> SessionView:
        """Release a session: your own, or anyone's as an admin (A6)."""
        return self.sessions.close_session(actor, camera_id, session_id)

    def expire_idle(self) -> int:
        """Job: end sessions idle for ``[ptz] idle_release_seconds`` (A2); audited."""
        return self.sessions.expire_idle()

    def controller(self, camera_id: str) -> SessionView | None:
        """The open, unexpired session of a camera, if any."""
        return self.sessions.controller(camera_id)

    def control(self, camera_id: str) -> ControlState:
        """The controller and the camera's session sequence (P6), read together."""
        return self.sessions.control(camera_id)

    # -- commands (onvif_control.ptz_commands) ------------------------------------------

    def command(self, actor: Actor, camera_id: str, asked: CommandRequest) -> CommandResult:
        """Send a command in the caller's session (issue 4 item 5; INV-6); its time is
        measured (``vms_ptz_command_seconds``, issue 13 item 7)."""
        started, outcome = self.clock.monotonic(), "refused"
        try:
            result = self.commands.command(actor, camera_id, asked)
            outcome = "ok"
            return result
        finally:
            elapsed = self.clock.monotonic() - started
            PTZ_COMMAND_SECONDS.labels(asked.op.value, outcome).observe(elapsed)

    def refuse_malformed(
        self, actor: Actor, camera_id: str, attempt: MalformedCommand, error: VMSError
    ) -> VMSError:
        """Audit a command that did not parse as refused (INV-6); the error to raise."""
        return self.commands.refuse_malformed(actor, camera_id, attempt, error)

    def status(self, actor: Actor, camera_id: str) -> PtzState:
        """``GET /api/v1/cameras/{id}/ptz/status``: pose, move status, controller."""
        return self.commands.status(actor, camera_id)

    def limit_stop(self, camera_id: str, pose: Pose) -> None:
        """Audit the Stop the pose tracker sent at a software limit (INV-6)."""
        self.commands.limit_stop(camera_id, pose)
