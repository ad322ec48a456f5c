"""Capture devices, and which officers they are issued to (issue #10.1).

Fixed cameras are registered by onboarding (a ``cameras`` row, device kind ``fixed``):
only their recorder adds to their timelines. Body-worn, dash and handheld devices are
issued to officers (:class:`~vms.db.models.DeviceAssignment`, BWC-to-officer). What a
person brings in (an upload, a dock-folder file, a CLI import) claims a source, a device
and an officer; :func:`resolve_claim` decides whether to believe it:

1. never a registered camera's device id (it would join that camera's timeline);
2. never source ``fixed``: only the recorder creates fixed-camera items;
3. with ``[ingest] device_assignment`` on, only a device assigned to the named officer
   (a device assigned to exactly one officer names that officer when none is given).

Assigning and unassigning are admin actions (``devices.manage``), audited (ACC-6).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.auth.users import ensure_officer
from vms.clock import Clock
from vms.db.engine import Database, insert_missing
from vms.db.models import CAPTURE_SOURCES, Camera, Device, DeviceAssignment, SourceKind
from vms.errors import Conflict, InvalidArgument, NotFound, PermissionDenied


@dataclass(frozen=True)
class Claim:
    """What a person says about a file: its source, device and officer."""

    source: SourceKind
    device_id: str
    officer_badge: str | None


def is_registered_camera(session: Session, device_id: str) -> bool:
    """True for an onboarded camera's id (or a device catalogued as a fixed camera)."""
    if session.get(Camera, device_id) is not None:
        return True
    device = session.get(Device, device_id)
    return device is not None and device.kind == SourceKind.FIXED.value


def assigned_badges(session: Session, device_id: str) -> list[str]:
    return list(
        session.execute(
            select(DeviceAssignment.officer_badge)
            .where(DeviceAssignment.device_id == device_id)
            .order_by(DeviceAssignment.officer_badge)
        ).scalars()
    )


def resolve_claim(session: Session, claim: Claim, *, enforce_assignment: bool) -> str | None:
    """The officer badge to record for a person's ``claim``, or :class:`PermissionDenied`
    saying why it is refused (the numbered rules of the module doc)."""
    if is_registered_camera(session, claim.device_id):
        raise PermissionDenied(
            f"device_id {claim.device_id!r} is a registered fixed camera: only its "
            "recorder adds to its timeline"
        )
    if claim.source is SourceKind.FIXED:
        raise PermissionDenied(
            "only the recorder creates fixed-camera items (source 'fixed'); "
            "bring this file in as bwc, dash or handheld"
        )
    if not enforce_assignment:
        return claim.officer_badge
    badges = assigned_badges(session, claim.device_id)
    if not badges:
        raise PermissionDenied(
            f"device {claim.device_id!r} is assigned to no officer "
            "(device assignment is enforced: an admin assigns it first)"
        )
    if claim.officer_badge is None:
        if len(badges) == 1:
            return badges[0]
        raise PermissionDenied(
            f"device {claim.device_id!r} is assigned to several officers: name the officer"
        )
    if claim.officer_badge not in badges:
        raise PermissionDenied(
            f"device {claim.device_id!r} is not assigned to officer {claim.officer_badge!r}"
        )
    return claim.officer_badge


@dataclass(frozen=True)
class DeviceRecord:
    """A capture device and the officers it is issued to."""

    id: str
    kind: str
    name: str
    created_at: dt.datetime
    officers: tuple[str, ...]

    @classmethod
    def of(cls, device: Device, badges: list[str]) -> DeviceRecord:
        return cls(device.id, device.kind, device.name, device.created_at, tuple(badges))


@dataclass(frozen=True)
class DeviceListing:
    assignment_enforced: bool
    devices: tuple[DeviceRecord, ...]


class DeviceService:
    """Lists devices and assigns them to officers (admins; the CLI as a system actor)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        authoriser: Authoriser,
        clock: Clock,
        *,
        enforce_assignment: bool,
    ) -> None:
        self.db = db
        self.audit = audit
        self.authoriser = authoriser
        self.clock = clock
        self.enforce_assignment = enforce_assignment

    def _who(self, by: Actor | Who, target: str) -> Who:
        """The audited actor; a user must hold ``devices.manage`` (denial audited)."""
        if isinstance(by, Who):
            return by
        self.authoriser.require(by, Action.DEVICES_MANAGE, target)  # ACC-1, INV-4
        return who(by)

    def list_devices(self, by: Actor | Who) -> DeviceListing:
        self._who(by, "devices")
        with self.db.session() as s:
            rows = s.execute(
                select(Device, DeviceAssignment.officer_badge)
                .outerjoin(DeviceAssignment, DeviceAssignment.device_id == Device.id)
                .order_by(Device.id, DeviceAssignment.officer_badge)
            ).all()
        devices: dict[str, tuple[Device, list[str]]] = {}
        for device, badge in rows:
            entry = devices.setdefault(device.id, (device, []))
            if badge is not None:
                entry[1].append(badge)
        return DeviceListing(
            self.enforce_assignment, tuple(DeviceRecord.of(d, b) for d, b in devices.values())
        )

    def assign(
        self, by: Actor | Who, device_id: str, badge: str, *, kind: str | None = None
    ) -> DeviceRecord:
        """Issue ``device_id`` to officer ``badge`` (idempotent). A device never seen
        before is registered with ``kind`` (default ``bwc``); the officer too."""
        device_id, badge = _name(device_id, "device_id", 64), _name(badge, "officer_badge", 32)
        who = self._who(by, f"device:{device_id}")
        source = _kind(kind)
        now = self.clock.now()
        with self.db.transaction() as s:
            # Inserted unless present, not got-then-added: the same assignment twice at
            # once (a retried PUT, two admins) is one, audited once, and never a 500 on
            # the primary key of a new device or of the assignment.
            insert_missing(
                s, Device, id=device_id, kind=source.value, name=device_id, created_at=now
            )
            device = s.get_one(Device, device_id)
            if is_registered_camera(s, device_id):
                raise Conflict(
                    f"device {device_id!r} is a registered fixed camera: it is not issued "
                    "to officers"
                )
            if kind is not None and device.kind != source.value:
                raise Conflict(f"device {device_id!r} is a {device.kind} device, not {kind}")
            ensure_officer(s, badge, now)
            if insert_missing(
                s,
                DeviceAssignment,
                device_id=device_id,
                officer_badge=badge,
                assigned_at=now,
                assigned_by=who.name,
            ):
                self.audit.append(
                    s,
                    who,
                    "device.assign",
                    f"device:{device_id}",
                    details={"officer_badge": badge, "kind": device.kind},
                )
            s.flush()
            record = DeviceRecord.of(device, assigned_badges(s, device_id))
        return record

    def unassign(self, by: Actor | Who, device_id: str, badge: str) -> DeviceRecord:
        """Take ``device_id`` back from officer ``badge``; 404 when it was not assigned."""
        who = self._who(by, f"device:{device_id}")
        with self.db.transaction() as s:
            device = s.get(Device, device_id)
            # Deleted by a statement that says whether it deleted: of two unassignments
            # at once the second waits for the first and finds nothing (a 404), where a
            # got-then-deleted row was "deleted" twice and audited twice (ACC-6).
            gone = s.execute(
                delete(DeviceAssignment)
                .where(
                    DeviceAssignment.device_id == device_id,
                    DeviceAssignment.officer_badge == badge,
                )
                .returning(DeviceAssignment.officer_badge)
            ).first()
            if device is None or gone is None:
                raise NotFound(f"device {device_id!r} is not assigned to officer {badge!r}")
            self.audit.append(
                s, who, "device.unassign", f"device:{device_id}", details={"officer_badge": badge}
            )
            record = DeviceRecord.of(device, assigned_badges(s, device_id))
        return record


def _name(value: object, field: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > limit or not text.isprintable() or "/" in text:
        raise InvalidArgument(
            f"{field} {value!r} must be 1-{limit} printable characters without '/'"
        )
    return text


def _kind(kind: str | None) -> SourceKind:
    try:
        source = SourceKind(kind or SourceKind.BWC.value)
    except ValueError:
        source = None
    if source is None or source not in CAPTURE_SOURCES or source is SourceKind.FIXED:
        raise InvalidArgument(f"kind {kind!r} must be one of bwc, dash, handheld")
    return source
