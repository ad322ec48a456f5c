"""Lifts of privacy masks (PSCS-1 exceptions, issue 14 item 6): an admin lifts *one*
mask of *one* camera from now for at most ``max_lift_minutes``, stating the reason (a
warrant number, ...). Granting, ending early and expiry each bump the mask version
(footage recorded while a lift runs carries a version no other footage has) and are
audited (``mask.lift.*``, read by the PTZ-use report).

:class:`MaskLifts` is the lifts half of :class:`privacy_masks.service.MaskService`, with
the mask version lock every change of a camera's masks or lifts takes (``_bump``).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from privacy_masks.model import MaskLift, NewLift
from vms import ids
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.bounded import shown
from vms.clock import Clock
from vms.db.engine import Database, insert_missing
from vms.db.models import MaskLiftRow, MaskVersion, PrivacyMask
from vms.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)

#: Who records a lift's expiry (PSCS-1).
EXPIRY = Who("mask-lift-expiry", SYSTEM_ROLE)
#: How far ahead of this node's clock the granting node's may be. A lift starting later
#: than that was granted by a clock that ran ahead and has been set back since: its
#: window lies in the future, where it would lift the mask again unasked (INV-7).
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_REASON = 500
MIN_REASON = 4


class MaskLifts:
    """Grant, list, end and expire mask lifts (PSCS-1); the attributes are set by
    :class:`~privacy_masks.service.MaskService`."""

    db: Database
    audit: AuditLog
    clock: Clock
    authoriser: Authoriser
    max_lift_minutes: float

    def lift(self, actor: Actor, camera_id: str, command: NewLift) -> MaskLift:
        """Lift one mask of ``camera_id`` from now for ``command.minutes`` (at most
        ``max_lift_minutes``) for the stated reason (admins; audited ``mask.lift.create``,
        bumps the mask version). One running lift per mask."""
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        reason = _reason(command.reason)
        minutes = command.minutes
        if not (0 < minutes <= self.max_lift_minutes):
            raise InvalidArgument(
                f"minutes: {shown(minutes)} must be more than 0 and at most "
                f"{self.max_lift_minutes:g} (PSCS-1: a lift is time-boxed)",
                field="minutes",
            )
        self._expire(camera_id)
        lift_id = ids.new_id()
        with self.db.transaction() as s:
            # Version first (see update): two lifts of one mask at once each found none
            # running and both ran; the second now waits and is refused.
            version = self._bump(s, camera_id)
            mask = self._open_row(s, camera_id, command.mask_id)
            running = s.execute(
                select(MaskLiftRow).where(
                    MaskLiftRow.camera_id == camera_id,
                    MaskLiftRow.mask_id == command.mask_id,
                    MaskLiftRow.ended_at.is_(None),
                )
            ).scalar_one_or_none()
            if running is not None:
                raise FailedPrecondition(
                    f"mask {command.mask_id!r} of camera {camera_id} is already lifted "
                    f"(lift {running.id}, until {running.ends_at.isoformat()})"
                )
            now = self.clock.now()
            row = MaskLiftRow(
                id=lift_id,
                camera_id=camera_id,
                mask_id=mask.mask_id,
                mask_name=mask.name,
                reason=reason,
                granted_by=actor.username,
                starts_at=now,
                ends_at=now + dt.timedelta(minutes=minutes),
                from_version=version,
                to_version=None,
                ended_at=None,
                ended_by=None,
            )
            s.add(row)
            s.flush()
            self.audit.append(
                s, who(actor), "mask.lift.create", f"camera:{camera_id}", details=_lift_details(row)
            )
            out = _lift(row)
        log.warning(
            "camera %s: mask %s %r LIFTED by %s until %s (%s), mask version -> %d (PSCS-1)",
            camera_id,
            out.mask_id,
            out.mask_name,
            actor.username,
            out.ends_at.isoformat(),
            reason,
            version,
        )
        return out

    def lifts(self, actor: Actor, camera_id: str, *, running_only: bool = False) -> list[MaskLift]:
        """The lifts of ``camera_id``, newest first (whoever may watch it live: the live
        view shows a banner while one runs)."""
        self.authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
        self._expire(camera_id)
        stmt = select(MaskLiftRow).where(MaskLiftRow.camera_id == camera_id)
        if running_only:
            stmt = stmt.where(MaskLiftRow.ended_at.is_(None))
        with self.db.session() as s:
            rows = s.execute(stmt.order_by(MaskLiftRow.starts_at.desc()).limit(200)).scalars()
            return [_lift(r) for r in rows]

    def end_lift(self, actor: Actor, camera_id: str, lift_id: str) -> MaskLift:
        """End a running lift now (admins; audited ``mask.lift.end``, bumps the version)."""
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        self._expire(camera_id)
        with self.db.transaction() as s:
            row = s.get(MaskLiftRow, lift_id, with_for_update=True)
            if row is None or row.camera_id != camera_id:
                raise NotFound(f"camera {camera_id} has no mask lift {lift_id!r}")
            if row.ended_at is not None:
                raise FailedPrecondition(
                    f"mask lift {lift_id} already ended at {row.ended_at.isoformat()} "
                    f"({row.ended_by})"
                )
            self._close(s, row, self.clock.now(), actor.username)
            self.audit.append(
                s, who(actor), "mask.lift.end", f"camera:{camera_id}", details=_lift_details(row)
            )
            out = _lift(row)
        log.warning(
            "camera %s: mask lift %s ended by %s (PSCS-1)", camera_id, lift_id, actor.username
        )
        return out

    def _expire(self, camera_id: str) -> None:
        """Record the expiry of ``camera_id``'s lifts that ran out: version bump and an
        audit entry each (the stage stopped lifting at ``ends_at`` already). A lift that
        starts more than ``CLOCK_SKEW`` from now (the clock was set back since the grant)
        ends now the same way."""
        now = self.clock.now()
        with self.db.session() as s:
            due = list(
                s.execute(
                    select(MaskLiftRow.id).where(
                        MaskLiftRow.camera_id == camera_id,
                        MaskLiftRow.ended_at.is_(None),
                        or_(MaskLiftRow.ends_at <= now, MaskLiftRow.starts_at > now + CLOCK_SKEW),
                    )
                ).scalars()
            )
        for lift_id in due:
            with self.db.transaction() as s:
                row = s.get(MaskLiftRow, lift_id, with_for_update=True)
                if row is None or row.ended_at is not None:
                    continue  # another process recorded it first
                self._close(s, row, min(row.ends_at, now), EXPIRY.name)
                self.audit.append(
                    s, EXPIRY, "mask.lift.expire", f"camera:{camera_id}", details=_lift_details(row)
                )
            log.info("camera %s: mask lift %s expired; mask restored (PSCS-1)", camera_id, lift_id)

    def _close(self, s: Session, row: MaskLiftRow, at: dt.datetime, by: str) -> None:
        row.to_version = self._bump(s, row.camera_id)
        row.ended_at = at
        row.ended_by = by
        s.flush()

    # -- the mask version and rows ----------------------------------------------------

    def _bump(self, s: Session, camera_id: str) -> int:
        """The camera's next mask version, its row locked for the rest of the
        transaction: the lock that orders every change of the camera's masks, so it is
        taken before they are read. A new camera's row is inserted unless present (two
        first masks at once failed the second on its primary key, a 500); version 0
        never commits."""
        now = self.clock.now()
        insert_missing(s, MaskVersion, camera_id=camera_id, version=0, changed_at=now)
        row = s.get_one(MaskVersion, camera_id, with_for_update=True, populate_existing=True)
        row.version += 1
        row.changed_at = now
        s.flush()
        return row.version

    @staticmethod
    def _open_row(s: Session, camera_id: str, mask_id: str) -> PrivacyMask:
        row = s.execute(
            select(PrivacyMask).where(
                PrivacyMask.camera_id == camera_id,
                PrivacyMask.mask_id == mask_id,
                PrivacyMask.to_version.is_(None),
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"camera {camera_id} has no mask {mask_id!r}")
        return row


def _lift(row: MaskLiftRow) -> MaskLift:
    return MaskLift(
        row.id,
        row.camera_id,
        row.mask_id,
        row.mask_name,
        row.reason,
        row.starts_at,
        row.ends_at,
        row.granted_by,
        row.from_version,
        row.to_version,
        row.ended_at,
        row.ended_by,
    )


def _lift_details(row: MaskLiftRow) -> dict[str, object]:
    """A lift as its audit entries hold it (read by the PTZ-use report)."""
    return {
        "lift_id": row.id,
        "camera_id": row.camera_id,
        "mask_id": row.mask_id,
        "mask_name": row.mask_name,
        "reason": row.reason,
        "granted_by": row.granted_by,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "from_version": row.from_version,
        "to_version": row.to_version,
        "ended_at": row.ended_at.isoformat() if row.ended_at is not None else None,
        "ended_by": row.ended_by,
    }


def _reason(reason: str) -> str:
    """A lift's stated reason (PSCS-1): MIN_REASON..MAX_REASON printable characters with
    at least one letter or digit, e.g. a warrant number."""
    reason = reason.strip()
    if (
        not (MIN_REASON <= len(reason) <= MAX_REASON)
        or not reason.isprintable()
        or not any(c.isalnum() for c in reason)
    ):
        raise InvalidArgument(
            f"reason: {shown(reason)} must state the investigative reason (e.g. a warrant "
            f"number) in {MIN_REASON}-{MAX_REASON} printable characters",
            field="reason",
        )
    return reason
