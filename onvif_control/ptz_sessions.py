"""PTZ sessions: who controls a camera, arbitrated and audited (INV-6, PSCS-2, PSCS-4).

Opening, closing, take-overs, admin releases, maintenance reservations and idle expiry
of sessions; every one, granted or refused, is written to the hash-chained audit log
with the user, role, camera, purpose and incident number. Session state lives in the
database and arbitration runs in a transaction that locks the camera row, so several
web/media processes agree on who holds a camera (ARCHITECTURE section 1: nothing may
assume one process). The rules are in :mod:`onvif_control.arbitration` and
docs/design/ptz-arbitration.md; commands go through :mod:`onvif_control.ptz_commands`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from onvif_control import arbitration, guard
from onvif_control.arbitration import Claim, Holder, Verdict
from onvif_control.cameras import target
from onvif_control.connections import Connections
from onvif_control.engine import PtzEngine
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.clock import Clock, isoformat
from vms.config import PtzConfig
from vms.db.engine import Database
from vms.db.models import Camera, PtzSession, Role, User
from vms.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    VMSError,
)
from vms.events import EventBus
from vms.jsonable import jsonable

log = logging.getLogger(__name__)

ARBITER = Who("ptz-arbiter", SYSTEM_ROLE)


@dataclass(frozen=True)
class SessionView:
    """A PTZ session as shown: who, why, since when, until when (``expires_at`` None
    for a reservation; ``session_id`` None when hidden from the viewer). ``session_seq``:
    the camera's session sequence (P6) as of this view, when it was read with it (the
    answer of a take or a release, the controller read with :meth:`PtzSessions.control`).
    """

    session_id: str | None
    camera_id: str
    username: str
    role: str
    priority: int
    purpose: str
    incident_number: str | None
    note: str | None
    reservation: bool
    started_at: dt.datetime
    last_activity_at: dt.datetime
    expires_at: dt.datetime | None
    ended_at: dt.datetime | None
    end_reason: str | None
    session_seq: int | None = None


@dataclass(frozen=True)
class ControlState:
    """Who controls a camera (None: nobody, or an expired session) and the camera's
    session sequence that state is at (P6), read together in one statement."""

    controller: SessionView | None
    session_seq: int


def session_view(row: PtzSession, idle_seconds: float, seq: int | None = None) -> SessionView:
    return SessionView(
        session_id=row.id,
        camera_id=row.camera_id,
        username=row.username,
        role=row.role,
        priority=row.priority,
        purpose=row.purpose,
        incident_number=row.incident_number,
        note=row.note,
        reservation=row.reservation,
        started_at=row.started_at,
        last_activity_at=row.last_activity_at,
        expires_at=arbitration.expires_at(holder_of(row), idle_seconds),
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        session_seq=seq,
    )


def holder_of(row: PtzSession) -> Holder:
    return Holder(
        session_id=row.id,
        username=row.username,
        role=row.role,
        priority=row.priority,
        last_activity_at=row.last_activity_at,
        reservation=row.reservation,
    )


def session_context(row: PtzSession) -> dict[str, Any]:
    """What every PTZ audit entry carries about its session (PSCS-2, PSCS-5)."""
    return {
        "session_id": row.id,
        "camera_id": row.camera_id,
        "user": row.username,
        "purpose": row.purpose,
        "incident_number": row.incident_number,
    }


@dataclass(frozen=True)
class OpenSession:
    """A request for control of a camera (``POST .../ptz/session``): the purpose (one
    of ``[ptz] purposes``; a reservation's is maintenance), an optional incident number
    and note, and whether an admin reserves the camera for maintenance (A5)."""

    purpose: str | None = None
    incident_number: str | None = None
    note: str | None = None
    reserve: bool = False


@dataclass
class _Refusal:
    error: VMSError


class SteeringLocks:
    """One lock per camera that orders what is sent to it (P5): a command's last session
    check and its send hold it, and so does the Stop that follows a session's end. A
    command checked just before a take-over is then either sent before that Stop (which
    stops it) or refused, never sent after it. In-process: a camera's PTZ is served by
    one process (its media node; see "Deviation" in docs/design/ptz-arbitration.md)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        # Each camera's lock and how many hold it or wait for it: kept only while one
        # does, so a deleted camera (whose deletion takes its lock, P5) leaves nothing.
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def __call__(self, camera_id: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(camera_id) or (threading.Lock(), 0)
            self._locks[camera_id] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                # Dropped by the last one out, never from under a holder or a waiter:
                # the next caller makes a new lock that nobody else can hold.
                _, users = self._locks[camera_id]
                if users == 1:
                    del self._locks[camera_id]
                else:
                    self._locks[camera_id] = (lock, users - 1)


class PtzSessions:
    """Who controls which PTZ camera: open, close, take over, release, expire (A1-A6).

    ``on_end(session_id)`` is called whenever a session ends, inside the ending
    transaction (:class:`~onvif_control.ptz.PtzService` sets it so that the commands
    forget that session's rate-limit bucket); ``on_replace(old, new)`` when a holder
    replaces their own session (A3), before ``old`` ends, so that the rate limit goes on
    from the old session's bucket.
    """

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        events: EventBus,
        authoriser: Authoriser,
        connections: Connections,
        engine: PtzEngine,
        config: PtzConfig,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.events = events
        self.authoriser = authoriser
        self.connections = connections
        self.engine = engine
        self.idle_seconds = config.idle_release_seconds
        self.priorities = arbitration.parse_priorities(config.role_priorities)
        self.purposes = tuple(p.strip() for p in config.purposes.split(",") if p.strip())
        self.on_end: Callable[[str], None] = lambda session_id: None
        self.on_replace: Callable[[str, str], None] = lambda old, new: None
        self.steering = SteeringLocks()

    # -- helpers ----------------------------------------------------------------------

    def refuse(
        self, actor: Actor, action: str, camera_id: str, error: VMSError, details: dict[str, Any]
    ) -> VMSError:
        """Audit a refusal in its own transaction (the action did not happen; INV-6)."""
        outcome = "failed" if error.http_status >= 500 else "refused"
        self.audit.record(
            self.db,
            who(actor),
            action,
            target(camera_id),
            outcome=outcome,
            details={**details, "reason": error.message, "error": error.kind},
        )
        return error

    def open_row(self, s: Session, camera_id: str) -> PtzSession | None:
        """The newest open session row of ``camera_id`` (expired or not), if any."""
        return (
            s.execute(
                select(PtzSession)
                .where(PtzSession.camera_id == camera_id, PtzSession.ended_at.is_(None))
                .order_by(PtzSession.started_at.desc())
            )
            .scalars()
            .first()
        )

    def _lock_camera(self, s: Session, camera_id: str) -> Camera:
        camera = s.execute(
            select(Camera).where(Camera.id == camera_id).with_for_update()
        ).scalar_one_or_none()
        if camera is None:
            raise NotFound(f"camera {camera_id!r} does not exist")
        return camera

    @staticmethod
    def _advance(camera: Camera) -> int:
        """P6: the next session sequence of ``camera``, whose row the caller has locked
        (so two changes never share a number), once per transaction that changes its
        sessions."""
        camera.ptz_session_seq = (camera.ptz_session_seq or 0) + 1
        return camera.ptz_session_seq

    def _end(
        self,
        s: Session,
        row: PtzSession,
        by: Who,
        action: str,
        reason: str,
        now: dt.datetime,
        **extra: Any,
    ) -> None:
        row.ended_at, row.end_reason, row.ended_by = now, reason, by.name
        self.audit.append(
            s,
            by,
            action,
            target(row.camera_id),
            details={
                **session_context(row),
                "reason": reason,
                "started_at": isoformat(row.started_at),
                "ended_at": isoformat(now),
                **extra,
            },
        )
        self.on_end(row.id)

    def _halt(self, ended: PtzSession, why: str) -> None:
        """Stop any move the ended session left running (a continuous move would run on
        until its ONVIF timeout, with nobody in control); see :meth:`stop_after_end`."""
        with self.steering(ended.camera_id):  # after any command already on its way (P5)
            self.stop_after_end(ended, why)

    def stop_after_end(self, ended: PtzSession, why: str) -> None:
        """The arbiter's Stop after ``ended``, the caller holding the camera's steering
        lock. Audited as the arbiter's command with the ended session and the pose after
        (INV-6, PSCS-5: whose move it stopped, where it left the camera; no pose before:
        reading it would delay the Stop); a camera that cannot be reached is logged, not
        raised: the session has ended either way."""
        camera_id = ended.camera_id
        outcome, error, after = "ok", None, None
        try:
            after = self.engine.execute(camera_id, guard.Command(guard.Op.STOP)).after
        except VMSError as exc:
            outcome, error = "failed", exc.message
            log.warning("camera %s: stop after session end failed: %s", camera_id, exc.message)
        self.audit.record(
            self.db,
            ARBITER,
            "ptz.command",
            target(camera_id),
            outcome=outcome,
            details={
                **session_context(ended),
                "op": "stop",
                "reason": why,
                **({"pose_after": after.to_dict()} if after is not None else {}),
                **({"error": error} if error else {}),
            },
        )

    def _notify_displaced(self, row: PtzSession, by: str, reason: str) -> None:
        """Tell the operator who lost control (Socket.IO room of that user)."""
        self.events.publish(
            "ptz.displaced",
            {
                "camera_id": row.camera_id,
                "session_id": row.id,
                "username": row.username,
                "by": by,
                "reason": reason,
            },
        )

    def publish_controller(self, camera_id: str, row: PtzSession | None, seq: int) -> None:
        """``ptz.session``: who controls the camera as of its session sequence ``seq``
        (P6; a page applies it only if newer than what it has)."""
        self.events.publish(
            "ptz.session",
            {
                "camera_id": camera_id,
                "session_seq": seq,
                "controller": (
                    jsonable(session_view(row, self.idle_seconds, seq)) if row else None
                ),
            },
        )

    # -- sessions ---------------------------------------------------------------------

    def open_session(self, actor: Actor, camera_id: str, ask: OpenSession) -> SessionView:
        """``POST /api/v1/cameras/{id}/ptz/session {purpose, incident_number?, note?,
        reserve?}``: take control of a camera (arbitration rules A1-A5)."""
        self.authoriser.require(actor, Action.PTZ_CONTROL, target(camera_id))
        purpose, incident, note, reserve = ask.purpose, ask.incident_number, ask.note, ask.reserve
        asked = {"purpose": purpose, "incident_number": incident, "reserve": reserve}
        try:
            if reserve:
                if actor.role is not Role.ADMIN:
                    raise PermissionDenied("only an admin may reserve a camera for maintenance")
                purpose = purpose or "maintenance"
                if purpose != "maintenance":
                    raise InvalidArgument("a reservation's purpose is maintenance")
            if purpose not in self.purposes:
                # PSCS-4: only the permitted purposes.
                raise InvalidArgument(
                    f"purpose {purpose!r} is not a permitted use; one of "
                    f"{', '.join(self.purposes)} (PSCS-4)",
                    field="purpose",
                )
            self.connections.ptz_record(camera_id)
        except VMSError as exc:
            raise self.refuse(actor, "ptz.session.open", camera_id, exc, asked) from None

        claim = Claim(
            actor.username,
            actor.role.value,
            arbitration.priority_of(actor.role.value, self.priorities),
            reservation=reserve,
        )
        refusal: _Refusal | None = None
        # The session this claim ended (not the holder's own, A3): stopped and told (P5).
        displaced: tuple[PtzSession, str, str, str] | None = None
        with self.db.transaction() as s:
            camera = self._lock_camera(s, camera_id)
            now = self.clock.now()
            current = self.open_row(s, camera_id)
            decision = arbitration.decide(
                holder_of(current) if current else None, claim, now, self.idle_seconds
            )
            if not decision.granted:
                assert current is not None
                error = Conflict(
                    decision.reason,
                    holder=current.username,
                    holder_role=current.role,
                    holder_purpose=current.purpose,
                    expires_at=isoformat(
                        arbitration.expires_at(holder_of(current), self.idle_seconds)
                    ),
                )
                self.audit.append(
                    s,
                    who(actor),
                    "ptz.session.open",
                    target(camera_id),
                    outcome="refused",
                    details={**asked, "reason": decision.reason, "holder": current.username},
                )
                refusal = _Refusal(error)
            else:
                session_id = new_id()
                if current is not None:
                    if decision.verdict is Verdict.GRANT:
                        self._end(
                            s,
                            current,
                            ARBITER,
                            "ptz.session.expire",
                            "expired",
                            now,
                            idle_seconds=self.idle_seconds,
                        )
                        # P5: expired by the clock before the ptz-expire job ran; its
                        # move may still run (a continuous move lasts up to 60 s).
                        displaced = (
                            current,
                            "session expired",
                            ARBITER.name,
                            f"idle for {self.idle_seconds:g} s (A2)",
                        )
                    elif decision.verdict is Verdict.REPLACE_OWN:
                        # A reopened session gets no fresh burst of commands.
                        self.on_replace(current.id, session_id)
                        self._end(s, current, who(actor), "ptz.session.close", "replaced", now)
                    else:
                        self._end(
                            s,
                            current,
                            who(actor),
                            "ptz.session.takeover",
                            "taken_over",
                            now,
                            taken_by=actor.username,
                            taken_by_role=actor.role.value,
                            why=decision.reason,
                        )
                        displaced = (
                            current,
                            "session taken over",
                            actor.username,
                            decision.reason,
                        )
                row = PtzSession(
                    id=session_id,
                    camera_id=camera_id,
                    username=actor.username,
                    role=actor.role.value,
                    priority=claim.priority,
                    purpose=str(purpose),
                    incident_number=incident,
                    note=note,
                    reservation=reserve,
                    started_at=now,
                    last_activity_at=now,
                )
                s.add(row)
                seq = self._advance(camera)
                s.flush()
                self.audit.append(
                    s,
                    who(actor),
                    "ptz.session.open",
                    target(camera_id),
                    details={
                        **session_context(row),
                        "reservation": reserve,
                        "note": note,
                        "decision": decision.verdict.value,
                        "reason": decision.reason,
                    },
                )
                out = session_view(row, self.idle_seconds, seq)
        if refusal is not None:
            raise refusal.error
        if displaced is not None:
            ended, why, by, reason = displaced
            self._halt(ended, why)
            self._notify_displaced(ended, by, reason)
        self.publish_controller(camera_id, row, seq)
        return out

    def close_session(
        self, actor: Actor, camera_id: str, session_id: str | None = None
    ) -> SessionView:
        """Release a session: your own, or anyone's as an admin (A6)."""
        self.authoriser.require(actor, Action.PTZ_CONTROL, target(camera_id))
        refusal: _Refusal | None = None
        row: PtzSession | None = None
        seq: int | None = None
        with self.db.transaction() as s:
            camera = self._lock_camera(s, camera_id)
            now = self.clock.now()
            row = self.open_row(s, camera_id)
            if row is None or (session_id is not None and row.id != session_id):
                refusal = _Refusal(
                    NotFound(f"no open PTZ session {session_id or ''} on this camera")
                )
            elif not arbitration.may_release(
                holder_of(row), actor.username, actor.role is Role.ADMIN
            ):
                refusal = _Refusal(
                    PermissionDenied(
                        f"the session belongs to {row.username}; only they or an "
                        "admin may release it (A6)"
                    )
                )
                self.audit.append(
                    s,
                    who(actor),
                    "ptz.session.close",
                    target(camera_id),
                    outcome="refused",
                    details={**session_context(row), "reason": refusal.error.message},
                )
            elif row.username == actor.username:
                self._end(s, row, who(actor), "ptz.session.close", "released", now)
                seq = self._advance(camera)
            else:
                self._end(
                    s,
                    row,
                    who(actor),
                    "ptz.session.release",
                    "released_by_admin",
                    now,
                    released_by=actor.username,
                )
                seq = self._advance(camera)
            out = session_view(row, self.idle_seconds, seq) if row is not None else None
        if refusal is not None:
            raise refusal.error
        assert row is not None and out is not None and seq is not None
        self._halt(row, "session closed")
        if row.username != actor.username:
            self._notify_displaced(row, actor.username, "released by an admin (A6)")
        self.publish_controller(camera_id, None, seq)
        return out

    def expire_idle(self) -> int:
        """Job: end sessions idle for ``[ptz] idle_release_seconds`` (A2), and those of
        users disabled since they opened them, reservations too (ACC-1: a disabled user
        holds no camera); audited.

        Every jobs-role process runs it, and a session may end meanwhile (a claim that
        found it expired, A2/P5): each is ended under its camera's row lock, as every
        other change of a camera's sessions, and only when it is still open and still
        due to end then, so it ends once, with one entry and one Stop (INV-6)."""
        idle = dt.timedelta(seconds=self.idle_seconds)
        with self.db.session() as s:
            # Disabled users' sessions first, then the idle ones.
            candidates = {row.id: row.camera_id for row in self._of_disabled_users(s)}
            for session_id, camera_id in s.execute(
                select(PtzSession.id, PtzSession.camera_id).where(
                    PtzSession.ended_at.is_(None),
                    PtzSession.reservation.is_(False),
                    PtzSession.last_activity_at <= self.clock.now() - idle,
                )
            ).all():
                candidates.setdefault(session_id, camera_id)
        # Each ended session, why, what its user hears, and its camera's sequence (P6).
        ended: list[tuple[PtzSession, str, str, int]] = []
        for session_id, camera_id in candidates.items():
            with self.db.transaction() as s:
                try:
                    camera = self._lock_camera(s, camera_id)
                except NotFound:
                    continue  # deleted meanwhile: its deletion ended its session
                now = self.clock.now()
                row = s.get(PtzSession, session_id, populate_existing=True)
                if row is None or row.ended_at is not None:
                    continue  # ended since it was seen
                user = s.execute(
                    select(User.active).where(User.username == row.username)
                ).scalar_one_or_none()
                if not user:  # disabled, or no longer exists
                    self._end(s, row, ARBITER, "ptz.session.close", "user_disabled", now)
                    seq = self._advance(camera)
                    ended.append((row, "user disabled", "user disabled (ACC-1)", seq))
                elif not row.reservation and row.last_activity_at <= now - idle:
                    self._end(
                        s,
                        row,
                        ARBITER,
                        "ptz.session.expire",
                        "expired",
                        now,
                        idle_seconds=self.idle_seconds,
                    )
                    seq = self._advance(camera)
                    told = f"idle for {self.idle_seconds:g} s (A2)"
                    ended.append((row, "session expired", told, seq))
        for row, why, note, seq in ended:
            self._halt(row, why)
            self._notify_displaced(row, ARBITER.name, note)
            self.publish_controller(row.camera_id, None, seq)
        return len(ended)

    def _of_disabled_users(self, s: Session) -> list[PtzSession]:
        """Open sessions whose user is no longer active (or no longer exists)."""
        active = exists().where(User.username == PtzSession.username, User.active.is_(True))
        query = select(PtzSession).where(PtzSession.ended_at.is_(None), ~active)
        return list(s.execute(query).scalars())

    def controller(self, camera_id: str) -> SessionView | None:
        """The open, unexpired session of a camera, if any."""
        return self.control(camera_id).controller

    def control(self, camera_id: str) -> ControlState:
        """The open, unexpired session of a camera, if any, and the camera's session
        sequence (P6), in one statement: one snapshot on PostgreSQL too, so the state is
        never newer than its number (a release and a re-take committed between two reads
        would be shown under the older number, and the release's event, numbered between
        them, applied over it). An unknown camera: nobody, sequence 0."""
        with self.db.session() as s:
            found = s.execute(
                select(Camera.ptz_session_seq, PtzSession)
                .select_from(Camera)
                .outerjoin(
                    PtzSession,
                    (PtzSession.camera_id == Camera.id) & PtzSession.ended_at.is_(None),
                )
                .where(Camera.id == camera_id)
                .order_by(PtzSession.started_at.desc())
                .limit(1)
            ).first()
            if found is None:
                return ControlState(None, 0)
            seq, row = int(found[0] or 0), found[1]
            if row is None or arbitration.is_expired(
                holder_of(row), self.clock.now(), self.idle_seconds
            ):
                return ControlState(None, seq)
            return ControlState(session_view(row, self.idle_seconds, seq), seq)

    def refuse_malformed(
        self, actor: Actor, camera_id: str, asked: Mapping[str, Any], error: VMSError
    ) -> VMSError:
        """A session request the web layer could not parse: authorised, then audited as
        refused like any other (PSCS-2); ``asked`` is what was sent (free-form)."""
        self.authoriser.require(actor, Action.PTZ_CONTROL, target(camera_id))
        return self.refuse(actor, "ptz.session.open", camera_id, error, dict(asked))

    def for_command(self, actor: Actor, camera_id: str, session_id: str | None) -> PtzSession:
        """The caller's own open, unexpired session ``session_id`` on ``camera_id`` (P4):
        404 unknown, 403 another user's, 409 ended or expired (an expired one is ended
        first, A2)."""
        if not session_id:
            raise InvalidArgument("session_id is required: open a PTZ session first (PSCS-2)")
        now = self.clock.now()
        with self.db.session() as s:
            row = s.get(PtzSession, session_id)
            if row is None or row.camera_id != camera_id:
                raise NotFound(f"PTZ session {session_id!r} does not exist on this camera")
            if row.username != actor.username:
                raise PermissionDenied(f"PTZ session {session_id!r} belongs to {row.username}")
            if row.ended_at is not None:
                raise Conflict(
                    f"PTZ session {session_id!r} has ended ({row.end_reason}); open a new one",
                    end_reason=row.end_reason,
                )
            expired = arbitration.is_expired(holder_of(row), now, self.idle_seconds)
        if expired:
            self.expire_idle()
            raise Conflict(
                f"PTZ session {session_id!r} expired after {self.idle_seconds:g} s without "
                "commands (A2); open a new one",
                end_reason="expired",
            )
        return row

    def check_still_open(self, session_id: str) -> None:
        """P4 again, under the camera's steering lock just before a command is sent: its
        session was not ended since :meth:`for_command` (taken over, released, expired).
        Conflict (409) otherwise, as :meth:`for_command` says it."""
        with self.db.reader() as c:
            row = c.execute(
                select(PtzSession.ended_at, PtzSession.end_reason).where(
                    PtzSession.id == session_id
                )
            ).first()
        if row is not None and row.ended_at is None:
            return
        reason = row.end_reason if row is not None else None
        raise Conflict(
            f"PTZ session {session_id!r} has ended ({reason}); open a new one",
            end_reason=reason,
        )


def new_id() -> str:
    from vms import ids

    return ids.new_id()
