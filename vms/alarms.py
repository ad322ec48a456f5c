"""Alarms on screen (issue 12, item 3): what an operator must notice, as it happens.

Kinds, each raised and cleared from an event the system already publishes:

- ``camera_offline``: ``camera.health`` new ``offline`` (the ONVIF check, OPS-1);
  cleared by ``online``;
- ``video_lost``: ``recorder.video`` ``lost``, no packet for ``[recorder]
  video_lost_seconds`` (:mod:`recorder.watch`); cleared by ``ok``;
- ``recording_gap``: ``recorder.gap`` opened (OPS-4), deliberate causes excepted;
  cleared by its ``end``;
- ``disk_alarm``: ``retention.disk_alarm`` ``active`` (the purge job, INV-3); cleared
  when inactive;
- ``store_missing``: ``store.missing`` ``active``, the media folder is not the
  catalog's store (a volume not mounted; :mod:`vms.store_guard`, RET-1); cleared when
  it is back;
- ``purge_clock``: ``retention.purge_clock`` ``active``, the purge refuses a clock that
  jumped (RET-1, INV-3, ``retention.clock_guard``); cleared by the next run it accepts;
- ``backup_failed``: ``backup.status`` ``active``, the scheduled backup set (``[backup]
  folder``) failed or is incomplete (docs/design/backup.md); cleared by the next complete
  set;
- ``mask_blanking``: ``mask.blanking`` active, the mask stage blanks the whole picture
  (pose lost or stale, INV-5) for ``[recorder] blanking_alarm_seconds``; cleared when
  inactive;
- ``no_keyframes``: ``recorder.keyframes`` active, the camera sent no keyframe for
  ``SEGMENT_LIMIT_FACTOR`` x ``[recorder] segment_seconds`` (an endless GOP), so its
  segments are cut without one (:mod:`recorder.segments`, OPS-1), or its connection
  has had none to record from while video arrived that long (:mod:`recorder.watch`);
  cleared by its next keyframe;
- ``stream_certificate``: ``recorder.certificate`` active, the camera's ``rtsps`` stream
  was refused for its certificate (changed, moved from the place of its pin, or not
  trusted by its CA bundle), with the action and the fingerprint to accept
  (docs/design/security.md, "Camera certificates", 10); cleared when video flows again
  (inactive, or ``recorder.video`` ``ok``).

A camera deleted from the registry (``camera.deleted``) has its open alarms cleared.

``video_lost`` is the picture's own alarm: ONVIF may well answer (the camera is
``online``) while its stream is gone; the alarm's detail says which, from the camera's
last health check. Both alarms show when the whole camera is away.

Procedure (one process raises each alarm): the service listens to the events published
by **its own process** only (:meth:`EventBus.subscribe` ``local=True``), so across a
deployment each event is turned into a row once, by the process that saw the fact. One
open alarm per kind and camera: ``open_key`` is unique while open (null once cleared),
so a raise of an already-open alarm writes no second row, even from two processes at
once. Raised again with another detail (the camera now presents yet another
certificate; the disk's free bytes of this purge run), the open alarm keeps its id and
raise time and shows the current detail (``alarm.changed``); for the kinds of
``ACK_WITHDRAWN_ON_CHANGE`` (``stream_certificate``: the detail names the fingerprint
an administrator would accept, so a new one is a new decision) an acknowledgement is
withdrawn, audited as ``alarm.acknowledgement_withdrawn`` (ACC-6). The same detail
again changes nothing.

Acknowledging (``alarms.ack``) is audited in the same transaction (INV-4, ACC-6); an
alarm is acknowledged once (a second time: Conflict naming who did it). A cleared alarm
still waits for its acknowledgement. Every change is published (``alarm.raised``,
``alarm.changed``, ``alarm.cleared``, ``alarm.acknowledged``) for the pages
(``web.socket``).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.bounded import parse_time
from vms.clock import Clock, isoformat
from vms.db.engine import Database
from vms.db.models import AlarmRow, Camera
from vms.errors import Conflict, InvalidArgument, NotFound, VMSError
from vms.events import EventBus
from vms.repeats import made_under_key, with_form_key

log = logging.getLogger(__name__)

MAX_DETAIL = 500
# Who withdraws an acknowledgement when an alarm's reason changes (audited, ACC-6).
ALARMS_WHO = Who("alarms", SYSTEM_ROLE)
MAX_LIST = 500
# Gap causes an operator chose or that the system does on purpose: recorded (OPS-4),
# not alarms. ``added``: a new camera until its first keyframe, as ``reconfigured`` is
# an edited one's (the video-lost and no-keyframes alarms tell when it lasts).
QUIET_GAP_CAUSES = frozenset({"recording_off", "stopped", "removed", "reconfigured", "added"})


class AlarmKind(enum.StrEnum):
    CAMERA_OFFLINE = "camera_offline"
    VIDEO_LOST = "video_lost"
    RECORDING_GAP = "recording_gap"
    DISK_ALARM = "disk_alarm"
    MASK_BLANKING = "mask_blanking"
    STORE_MISSING = "store_missing"
    PURGE_CLOCK = "purge_clock"
    BACKUP_FAILED = "backup_failed"
    NO_KEYFRAMES = "no_keyframes"
    STREAM_CERTIFICATE = "stream_certificate"


# Site alarms raised and cleared by an event's ``active`` flag, with its ``detail``.
SITE_ALARM_TOPICS = {
    "store.missing": AlarmKind.STORE_MISSING,
    "retention.purge_clock": AlarmKind.PURGE_CLOCK,
    "backup.status": AlarmKind.BACKUP_FAILED,
}

# Camera alarms raised and cleared by an event's ``active`` flag, with its ``detail`` and
# ``at`` (the picture watch's and the segment writer's).
CAMERA_ALARM_TOPICS = {
    "recorder.keyframes": AlarmKind.NO_KEYFRAMES,
    "recorder.certificate": AlarmKind.STREAM_CERTIFICATE,
}


# Kinds whose detail names what to act on (the fingerprint an administrator would accept):
# a changed detail is a new decision, so an acknowledgement of the old one is withdrawn.
ACK_WITHDRAWN_ON_CHANGE = frozenset({AlarmKind.STREAM_CERTIFICATE})


LABELS = {
    AlarmKind.CAMERA_OFFLINE: "camera offline",
    AlarmKind.VIDEO_LOST: "video lost",
    AlarmKind.RECORDING_GAP: "recording gap",
    AlarmKind.DISK_ALARM: "disk alarm",
    AlarmKind.MASK_BLANKING: "picture blanked (pose lost)",
    AlarmKind.STORE_MISSING: "media store not there",
    AlarmKind.PURGE_CLOCK: "purge stopped: clock jumped",
    AlarmKind.BACKUP_FAILED: "backup failed",
    AlarmKind.NO_KEYFRAMES: "no keyframes from camera",
    AlarmKind.STREAM_CERTIFICATE: "stream certificate not accepted",
}


@dataclass(frozen=True)
class Alarm:
    """One alarm. ``camera_id`` None: the site's (the disk alarm); ``cleared_at`` None:
    still open; ``acknowledged_by`` None: nobody acknowledged it yet."""

    id: int
    kind: AlarmKind
    camera_id: str | None
    camera_name: str | None
    raised_at: dt.datetime
    cleared_at: dt.datetime | None
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    detail: str | None

    @property
    def open(self) -> bool:
        return self.cleared_at is None

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "label": self.label,
            "camera_id": self.camera_id,
            "camera_name": self.camera_name,
            "raised_at": isoformat(self.raised_at),
            "cleared_at": isoformat(self.cleared_at),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": isoformat(self.acknowledged_at),
            "detail": self.detail,
            "open": self.open,
        }


@dataclass(frozen=True)
class AlarmChange:
    """An alarm condition began (``active``) or ended, at ``at`` (None: now)."""

    kind: AlarmKind
    camera_id: str | None
    active: bool
    detail: str | None = None
    at: dt.datetime | None = None


@dataclass(frozen=True)
class AlarmQuery:
    """``open``: True only open alarms, False only cleared ones, None both;
    ``acknowledged`` likewise; ``camera_id``: one camera's; newest first, ``limit``;
    ``before``: only those after alarm ``before`` in that order (the next page: a
    flapping camera's older alarms stay reachable until acknowledged)."""

    open: bool | None = None
    acknowledged: bool | None = None
    camera_id: str | None = None
    limit: int = 100
    before: int | None = None


def _at(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, "at")
    except VMSError:  # a malformed time in an event: the service's clock instead
        return None


def change_from_event(topic: str, payload: Mapping[str, Any]) -> AlarmChange | None:
    """The alarm change an event means, or None (pure: the table of the module doc)."""
    camera = payload.get("camera_id")
    camera_id = camera if isinstance(camera, str) and camera else None
    if topic == "camera.health" and camera_id:
        health = payload.get("health")
        if health not in ("online", "offline"):
            return None
        detail = payload.get("detail")
        return AlarmChange(
            AlarmKind.CAMERA_OFFLINE,
            camera_id,
            health == "offline",
            str(detail) if detail else "ONVIF does not answer",
            _at(payload.get("at")),
        )
    if topic == "recorder.video" and camera_id:
        lost = payload.get("state") == "lost"
        seconds = payload.get("seconds")
        detail = f"no video packet for {seconds} s" if lost else None
        return AlarmChange(AlarmKind.VIDEO_LOST, camera_id, lost, detail, _at(payload.get("at")))
    if topic == "recorder.gap" and camera_id:
        cause = str(payload.get("cause") or "unknown")
        if payload.get("end"):
            return AlarmChange(
                AlarmKind.RECORDING_GAP, camera_id, False, None, _at(payload.get("end"))
            )
        if cause in QUIET_GAP_CAUSES:
            return None
        return AlarmChange(
            AlarmKind.RECORDING_GAP,
            camera_id,
            True,
            f"recording stopped: {cause}",
            _at(payload.get("start")),
        )
    if topic == "retention.disk_alarm":
        active = bool(payload.get("active"))
        detail = (
            f"media store: {payload.get('free_bytes')} bytes free, alarm below "
            f"{payload.get('threshold_bytes')}"
        )
        return AlarmChange(AlarmKind.DISK_ALARM, None, active, detail if active else None)
    if topic in SITE_ALARM_TOPICS:
        kind = SITE_ALARM_TOPICS[topic]
        active = bool(payload.get("active"))
        detail = payload.get("detail")
        return AlarmChange(kind, None, active, str(detail) if active and detail else None)
    if topic in CAMERA_ALARM_TOPICS and camera_id:
        active = bool(payload.get("active"))
        detail = payload.get("detail")
        return AlarmChange(
            CAMERA_ALARM_TOPICS[topic],
            camera_id,
            active,
            str(detail) if active and detail else None,
            _at(payload.get("at")),
        )
    if topic == "mask.blanking" and camera_id:
        active = bool(payload.get("active"))
        reason = payload.get("reason")
        detail = f"mask stage blanks the picture: {reason}" if active else None
        return AlarmChange(
            AlarmKind.MASK_BLANKING, camera_id, active, detail, _at(payload.get("at"))
        )
    return None


def _open_key(kind: AlarmKind, camera_id: str | None) -> str:
    return f"{kind.value}:{camera_id or '-'}"


class AlarmService:
    """Raises and clears alarms from events; lists and acknowledges them for operators."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        events: EventBus,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.events = events

    def listen(self) -> None:
        """Turn this process's own events into alarms (the module doc's procedure)."""
        self.events.subscribe(self.handle, local=True)

    def handle(self, topic: str, payload: dict[str, Any]) -> None:
        """A bus handler: cheap for the many events that are no alarm (``ptz.pose``)."""
        if topic == "camera.deleted" and isinstance(payload.get("camera_id"), str):
            self.clear_camera(payload["camera_id"])
            return
        change = change_from_event(topic, payload)
        if change is not None:
            self.apply(change)
        if change is not None and change.kind is AlarmKind.VIDEO_LOST and not change.active:
            # Video flows: the stream passed its certificate check. Clears a certificate
            # alarm left open by an earlier run (a restart), as "video ok" does its own.
            self.apply(replace(change, kind=AlarmKind.STREAM_CERTIFICATE))

    def clear_camera(self, camera_id: str) -> list[Alarm]:
        """Clear every open alarm of ``camera_id`` (a camera deleted from the registry:
        nothing would clear them any more); returns them."""
        with self.db.transaction() as s:
            rows = s.execute(
                select(AlarmRow).where(
                    AlarmRow.camera_id == camera_id, AlarmRow.cleared_at.is_(None)
                )
            ).scalars()
            now = self.clock.now()
            cleared = []
            for row in rows:
                row.cleared_at, row.open_key = max(now, row.raised_at), None
                cleared.append(_alarm(row, None))
        for alarm in cleared:
            log.warning("alarm %s %s: open -> cleared (camera deleted)", alarm.kind, camera_id)
            self.events.publish("alarm.cleared", alarm.as_json())
        return cleared

    # -- raise and clear ------------------------------------------------------------------

    def apply(self, change: AlarmChange) -> Alarm | None:
        """Raise or clear; returns the alarm raised, changed or cleared, None when nothing
        changed (already open with that detail, nothing open to clear)."""
        if not change.active:
            alarm = self._clear(change)
            if alarm is not None:
                self._announce("alarm.cleared", alarm, "open -> cleared")
            return alarm
        raised = self._raise(change)
        if raised is None:
            return None
        alarm, new, before = raised
        if new:
            self._announce("alarm.raised", alarm, "none -> raised")
        else:
            self._announce("alarm.changed", alarm, f"detail {before!r} ->")
        return alarm

    def _announce(self, topic: str, alarm: Alarm, what: str) -> None:
        log.warning(
            "alarm %s %s: %s %s",
            alarm.kind.value,
            alarm.camera_id or "site",
            what,
            alarm.detail or "",
        )
        self.events.publish(topic, alarm.as_json())

    def _raise(self, change: AlarmChange) -> tuple[Alarm, bool, str | None] | None:
        """(the alarm, whether it was raised now, its detail before), None when it is
        open already with this detail."""
        key = _open_key(change.kind, change.camera_id)
        try:
            with self.db.transaction() as s:
                detail = change.detail
                camera = s.get(Camera, change.camera_id) if change.camera_id else None
                if change.kind is AlarmKind.VIDEO_LOST and camera is not None:
                    # Whether ONVIF still answers, from the last health check.
                    onvif = {"online": "ONVIF answers", "offline": "ONVIF does not answer"}
                    detail = f"{detail}; {onvif.get(camera.health or '', 'ONVIF not checked')}"
                detail = detail[:MAX_DETAIL] if detail else None
                name = camera.name if camera is not None else None
                open_row = s.execute(
                    select(AlarmRow).where(AlarmRow.open_key == key).with_for_update()
                ).scalar_one_or_none()
                if open_row is not None:
                    if open_row.detail == detail:
                        return None
                    return self._changed(s, open_row, detail, name)
                row = AlarmRow(
                    kind=change.kind.value,
                    camera_id=change.camera_id,
                    open_key=key,
                    raised_at=change.at or self.clock.now(),
                    detail=detail,
                )
                s.add(row)
                s.flush()
                return _alarm(row, name), True, None
        except IntegrityError:  # another process raised it first: one open alarm
            return None

    def _changed(
        self, s: Session, row: AlarmRow, detail: str | None, name: str | None
    ) -> tuple[Alarm, bool, str | None]:
        """The open alarm ``row`` raised again for another reason: same alarm (id, raised
        at), the current detail; an acknowledgement of a kind whose detail names what to
        act on is withdrawn, audited (ACC-6). Returns as :meth:`_raise` does."""
        before = row.detail
        row.detail = detail
        if row.acknowledged_at is not None and AlarmKind(row.kind) in ACK_WITHDRAWN_ON_CHANGE:
            self.audit.append(
                s,
                ALARMS_WHO,
                "alarm.acknowledgement_withdrawn",
                f"alarm:{row.id}",
                details={
                    "kind": row.kind,
                    "camera_id": row.camera_id,
                    "acknowledged_by": row.acknowledged_by,
                    "acknowledged_at": isoformat(row.acknowledged_at),
                    "detail_before": before,
                    "detail": detail,
                },
            )
            row.acknowledged_by, row.acknowledged_at = None, None
        s.flush()
        return _alarm(row, name), False, before

    def _clear(self, change: AlarmChange) -> Alarm | None:
        key = _open_key(change.kind, change.camera_id)
        with self.db.transaction() as s:
            row = s.execute(select(AlarmRow).where(AlarmRow.open_key == key)).scalar_one_or_none()
            if row is None:
                return None
            now = change.at or self.clock.now()
            row.cleared_at = max(now, row.raised_at)
            row.open_key = None
            camera = s.get(Camera, row.camera_id) if row.camera_id else None
            return _alarm(row, camera.name if camera is not None else None)

    # -- operators ------------------------------------------------------------------------

    def list_alarms(self, actor: Actor, query: AlarmQuery) -> list[Alarm]:
        """Alarms newest first, filtered by ``query`` (``alarms.read``; refusal audited)."""
        self.authoriser.require(actor, Action.ALARMS_READ, "alarms")
        stmt = select(AlarmRow, Camera.name).outerjoin(Camera, Camera.id == AlarmRow.camera_id)
        if query.open is not None:
            stmt = stmt.where(
                AlarmRow.cleared_at.is_(None) if query.open else AlarmRow.cleared_at.is_not(None)
            )
        if query.acknowledged is not None:
            column = AlarmRow.acknowledged_at
            stmt = stmt.where(column.is_not(None) if query.acknowledged else column.is_(None))
        if query.camera_id is not None:
            stmt = stmt.where(AlarmRow.camera_id == query.camera_id)
        limit = max(1, min(MAX_LIST, query.limit))
        stmt = stmt.order_by(AlarmRow.raised_at.desc(), AlarmRow.id.desc()).limit(limit)
        with self.db.session() as s:
            if query.before is not None:
                after = s.get(AlarmRow, query.before)
                if after is None:
                    raise InvalidArgument(
                        f"before {query.before} is not an alarm: pass next_before of the "
                        "previous page",
                        field="before",
                    )
                stmt = stmt.where(
                    or_(
                        AlarmRow.raised_at < after.raised_at,
                        and_(AlarmRow.raised_at == after.raised_at, AlarmRow.id < after.id),
                    )
                )
            return [_alarm(row, name) for row, name in s.execute(stmt).all()]

    def acknowledge(self, actor: Actor, alarm_id: int, *, form_key: str | None = None) -> Alarm:
        """Acknowledge alarm ``alarm_id`` (``alarms.ack``), audited in the same
        transaction; NotFound for an unknown id, Conflict when already acknowledged, but
        to the same page form sent again (``form_key``, its one-time key: a double-click,
        a browser's retry), answered with the alarm it acknowledged (ACC-6)."""
        target = f"alarm:{alarm_id}"
        self.authoriser.require(actor, Action.ALARMS_ACK, target)
        with self.db.transaction() as s:
            row = s.get(AlarmRow, alarm_id, with_for_update=True)
            if row is None:
                raise NotFound(f"alarm {alarm_id} not found", alarm_id=alarm_id)
            if row.acknowledged_at is not None:
                if made_under_key(s, actor, Action.ALARMS_ACK.value, target, form_key):
                    # Acknowledged, audited and published once, by this very form.
                    return _alarm(row, self._camera_name(s, row))
                raise Conflict(
                    f"alarm {alarm_id} was already acknowledged by {row.acknowledged_by} "
                    f"at {isoformat(row.acknowledged_at)}",
                    alarm_id=alarm_id,
                )
            row.acknowledged_by = actor.username
            row.acknowledged_at = self.clock.now()
            self.audit.append(
                s,
                who(actor),
                Action.ALARMS_ACK.value,
                target,
                details=with_form_key(
                    {
                        "kind": row.kind,
                        "camera_id": row.camera_id,
                        "raised_at": isoformat(row.raised_at),
                        "open": row.cleared_at is None,
                    },
                    form_key,
                ),
            )
            alarm = _alarm(row, self._camera_name(s, row))
        self.events.publish("alarm.acknowledged", alarm.as_json())
        return alarm

    @staticmethod
    def _camera_name(s: Session, row: AlarmRow) -> str | None:
        camera = s.get(Camera, row.camera_id) if row.camera_id else None
        return camera.name if camera is not None else None


def _alarm(row: AlarmRow, camera_name: str | None) -> Alarm:
    return Alarm(
        id=row.id,
        kind=AlarmKind(row.kind),
        camera_id=row.camera_id,
        camera_name=camera_name,
        raised_at=row.raised_at,
        cleared_at=row.cleared_at,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        detail=row.detail,
    )
