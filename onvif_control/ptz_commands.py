"""PTZ commands: checked, rate-limited, sent and audited (INV-5, INV-6, PSCS-2).

A command needs the caller's own open session (P4, :mod:`onvif_control.ptz_sessions`);
then the per-session token bucket, the pose before, the guard's parse against the
software limits (:mod:`onvif_control.guard`, a table of ops), the engine (which marks
the move for the mask plan before it sends it, INV-5) and the pose after. Every command,
granted, refused or failed, is written to the audit log with the session's purpose and
incident number, its arguments and the poses before and after (INV-6). Also here: the
PTZ status read and the audit of the tracker's limit stops.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from onvif_control import arbitration, guard
from onvif_control.arbitration import Bucket
from onvif_control.cameras import CameraService, target
from onvif_control.connections import Connections
from onvif_control.engine import PtzEngine, Reading
from onvif_control.guard import CommandRequest, Op
from onvif_control.pose import PoseTracker
from onvif_control.ptz_sessions import PtzSessions, SessionView, session_context
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.camera_model import Pose
from vms.clock import Clock
from vms.config import PtzConfig
from vms.db.engine import Database
from vms.db.models import PtzSession
from vms.errors import InvalidArgument, RateLimited, VMSError


@dataclass(frozen=True)
class MalformedCommand:
    """What can be told of a command request that did not parse, for its audit entry
    (INV-6: refused commands are audited too): its session and op when they were text,
    and the other values as sent (free-form)."""

    session_id: str | None
    op: str | None
    args: Mapping[str, Any]


@dataclass(frozen=True)
class CommandResult:
    """A command done: what was sent (after the software limits; ``clamped`` when they
    changed it), the pose aimed at, the poses before and after, when the session expires
    if no command follows, and for preset edits the token and the camera's presets."""

    op: Op
    sent: dict[str, Any]
    clamped: bool
    target: Pose | None
    pose_before: Reading
    pose_after: Reading
    expires_at: dt.datetime
    preset_token: str | None = None
    presets: list[dict[str, Any]] | None = None
    outcome: Literal["ok"] = "ok"


@dataclass(frozen=True)
class PtzState:
    """A camera's pose (from the pose tracker when fresh, else read from the camera),
    whether it moves, and who controls it as of the camera's session sequence (P6)."""

    camera_id: str
    pose: Reading
    moving: bool
    source: Literal["tracker", "camera"]
    controller: SessionView | None
    session_seq: int


class CommandBuckets:
    """One token bucket per session: ``rate()`` commands a second, burst twice that
    (at least 1). Shared by every thread of this process; a bucket is forgotten when
    its session ends, and any refilled to its burst at the next command (the same as
    none: a session ended in another process, by the jobs role's ``ptz-expire`` or
    another web worker, never tells this one)."""

    def __init__(self, clock: Clock, rate: Callable[[], float]) -> None:
        self.clock = clock
        self.rate = rate
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def take(self, session_id: str) -> None:
        """Spend a token of ``session_id``'s bucket; RateLimited (429) when it is empty."""
        rate = self.rate()
        now, burst = self.clock.now(), max(1.0, 2 * rate)
        with self._lock:
            ok, bucket = arbitration.take(self._buckets.get(session_id), now, rate, burst)
            # Those refilled go (a few: sessions that sent a command within the last
            # burst / rate seconds are kept); without this, one a session for good.
            full = [
                k for k, b in self._buckets.items() if arbitration.refilled(b, now, rate, burst)
            ]
            for other in full:
                del self._buckets[other]
            self._buckets[session_id] = bucket
        if not ok:
            raise RateLimited(f"more than {rate:g} PTZ commands per second in this session")

    def __len__(self) -> int:
        """Buckets held (sessions whose bucket has not refilled yet)."""
        with self._lock:
            return len(self._buckets)

    def __contains__(self, session_id: object) -> bool:
        """Whether ``session_id`` has a bucket (it sent a command and has not ended)."""
        with self._lock:
            return session_id in self._buckets

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._buckets.pop(session_id, None)

    def move(self, old: str, new: str) -> None:
        """Session ``new`` replaces ``old`` (A3): it goes on with ``old``'s bucket."""
        with self._lock:
            bucket = self._buckets.pop(old, None)
            if bucket is not None:
                self._buckets[new] = bucket


class PtzCommands:
    """Commands, status and limit-stop audit of PTZ cameras. ``config`` is read per
    command (``limit_mode``, ``commands_per_second``)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        cameras: CameraService,
        connections: Connections,
        engine: PtzEngine,
        tracker: PoseTracker,
        config: PtzConfig,
        sessions: PtzSessions,
    ) -> None:
        if config.limit_mode not in ("clamp", "refuse"):
            raise InvalidArgument(f"[ptz] limit_mode {config.limit_mode!r}: clamp or refuse")
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.cameras = cameras
        self.connections = connections
        self.engine = engine
        self.tracker = tracker
        self.config = config
        self.sessions = sessions
        self.buckets = CommandBuckets(clock, lambda: self.config.commands_per_second)

    def command(self, actor: Actor, camera_id: str, asked: CommandRequest) -> CommandResult:
        """``POST /api/v1/cameras/{id}/ptz {session_id, op, ...}`` (issue 4 item 5)."""
        self.authoriser.require(actor, Action.PTZ_CONTROL, target(camera_id))
        args = asked.given()
        try:
            row = self.sessions.for_command(actor, camera_id, asked.session_id)
        except VMSError as exc:
            details: dict[str, Any] = {
                "session_id": asked.session_id,
                "op": asked.op.value,
                "args": args,
            }
            raise self.sessions.refuse(actor, "ptz.command", camera_id, exc, details) from None
        context: dict[str, Any] = {**session_context(row), "op": asked.op.value, "args": args}
        before: Reading | None = None
        try:
            self.buckets.take(row.id)
            record = self.connections.ptz_record(camera_id)
            before = self.engine.status(camera_id)
            stored = record.presets
            if asked.op is Op.GOTO_PRESET and guard.limited(record.calibration):
                # PSCS-1: a preset is checked against the limits where the camera has it
                # now (set or re-aimed on the camera itself, our copy may be stale).
                stored = {
                    str(p["token"]): (p.get("x"), p.get("y"), p.get("zoom"))
                    for p in self.engine.presets(camera_id)
                }
            presets = {
                token: None if None in xyz else record.calibration.from_generic(*xyz)  # type: ignore[arg-type]
                for token, xyz in stored.items()
            }
            command = guard.parse(
                asked,
                record.calibration,
                before.pose,
                presets=presets,
                limit_mode=self.config.limit_mode,
            )
            # P5: a take-over, release or expiry since the check above ends the session
            # and then sends Stop under this lock: sent now, the move is stopped by it;
            # refused here, it never leaves.
            with self.sessions.steering(camera_id):
                self.sessions.check_still_open(row.id)
                outcome = self.engine.execute(camera_id, command)
        except VMSError as exc:
            details = {**context}
            if before is not None:
                details["pose_before"] = before.to_dict()
            raise self.sessions.refuse(actor, "ptz.command", camera_id, exc, details) from None
        now = self.clock.now()
        with self.db.transaction() as s:
            live = s.get(PtzSession, row.id)
            if live is not None and live.ended_at is None:
                live.last_activity_at = now
            details = {
                **context,
                "sent": command.arguments(),
                "clamped": command.clamped,
                "target": command.target.to_dict() if command.target else None,
                "pose_before": before.to_dict(),
                "pose_after": outcome.after.to_dict(),
            }
            if outcome.preset_token is not None:
                details["preset_token"] = outcome.preset_token
            self.audit.append(s, who(actor), "ptz.command", target(camera_id), details=details)
        if outcome.presets is not None:
            self.cameras.store_presets(camera_id, outcome.presets)
        return CommandResult(
            op=command.op,
            sent=command.arguments(),
            clamped=command.clamped,
            target=command.target,
            pose_before=before,
            pose_after=outcome.after,
            expires_at=now + dt.timedelta(seconds=self.sessions.idle_seconds),
            preset_token=outcome.preset_token,
            presets=outcome.presets,
        )

    def refuse_malformed(
        self, actor: Actor, camera_id: str, attempt: MalformedCommand, error: VMSError
    ) -> VMSError:
        """A command the web layer could not parse (its request model refused it):
        authorised and audited as refused like any other (INV-6), in the order a parsed
        command is checked (permission, then session, then values). Returns the error to
        raise: the session's when that is wrong too, else ``error``."""
        self.authoriser.require(actor, Action.PTZ_CONTROL, target(camera_id))
        details: dict[str, Any] = {
            "session_id": attempt.session_id,
            "op": attempt.op,
            "args": dict(attempt.args),
        }
        try:
            row = self.sessions.for_command(actor, camera_id, attempt.session_id)
        except VMSError as exc:
            error = exc
        else:
            details = {**session_context(row), "op": attempt.op, "args": dict(attempt.args)}
        return self.sessions.refuse(actor, "ptz.command", camera_id, error, details)

    def status(self, actor: Actor, camera_id: str) -> PtzState:
        """``GET /api/v1/cameras/{id}/ptz/status``: pose, move status, controller."""
        if not (
            self.authoriser.allows(actor, Action.PTZ_CONTROL)
            or self.authoriser.allows(actor, Action.LIVE_VIEW)
        ):
            self.authoriser.require(actor, Action.LIVE_VIEW, target(camera_id))
        sample = self.tracker.latest(camera_id)
        fresh = (
            sample is not None
            and not sample.commanded
            and self.tracker.running
            and (self.clock.now() - sample.at).total_seconds() <= 1.0
        )
        if fresh:
            assert sample is not None
            record = self.connections.ptz_record(camera_id)
            reading = Reading(
                sample.pose,
                record.calibration.to_generic(sample.pose),
                sample.moving,
                sample.at,
            )
            source: Literal["tracker", "camera"] = "tracker"
        else:
            reading = self.engine.status(camera_id)
            source = "camera"
        control = self.sessions.control(camera_id)
        return PtzState(
            camera_id, reading, reading.moving, source, control.controller, control.session_seq
        )

    def limit_stop(self, camera_id: str, pose: Pose) -> None:
        """The pose tracker stopped a continuous move at a software limit: audit the Stop
        it sent (INV-6: every command, including the system's)."""
        with self.db.session() as s:
            row = self.sessions.open_row(s, camera_id)
            context = session_context(row) if row is not None else {"camera_id": camera_id}
        self.audit.record(
            self.db,
            Who("pose-tracker", SYSTEM_ROLE),
            "ptz.limit_stop",
            target(camera_id),
            details={
                **context,
                "op": "stop",
                "pose_after": pose.to_dict(),
                "reason": "continuous move reached a software limit",
            },
        )
