"""Masks in the database: versioned, admin-only, audited in the same transaction (ACC-6).

Each change closes the old :class:`~vms.db.models.PrivacyMask` row and/or adds a new one
and bumps the camera's :class:`~vms.db.models.MaskVersion` in one transaction with its
audit entry. The media pipeline reads :meth:`MaskService.current` (cheap: the version row
and the running lifts, two indexed lookups; the masks reloaded only when the version
moved), so every process agrees.

A mask drawn on the live image (``image_polygon``, 0..1) is unprojected through the
camera's current pose, which a *view provider* supplies (the recorder registers one:
pose from the pose source, calibration and picture size of the camera).

Lifts (PSCS-1 exceptions, issue 14 item 6): an admin lifts *one* mask of *one* camera
from now for at most ``max_lift_minutes``, stating the reason (a warrant number, ...).
Granting, ending early and expiry each bump the mask version (footage recorded while a
lift runs carries a version no other footage has) and are audited (``mask.lift.*``, read
by the PTZ-use report). :meth:`MaskService.current` gives the pipeline the windows;
expiry needs nobody: the stage compares every frame's capture time and the clock with
the window, and the next :meth:`current` records the expiry (version bump, audit entry).
Fail closed: if the lifts cannot be read, :meth:`current` returns the masks without
lifts (every mask painted).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy_masks.geometry import SpherePolygon, unproject_polygon, validate_sphere_polygon
from privacy_masks.lifts import CLOCK_SKEW, MaskLifts
from privacy_masks.lifts import EXPIRY as EXPIRY
from privacy_masks.lifts import MAX_REASON as MAX_REASON
from privacy_masks.lifts import MIN_REASON as MIN_REASON
from privacy_masks.model import (
    MAX_NAME,
    LiftWindow,
    MaskChange,
    MaskDeleted,
    MaskListing,
    MaskRecord,
    MaskSet,
    NewMask,
    Vertex,
    check_image_polygon,
)
from vms import ids
from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.bounded import shown
from vms.camera_model import Calibration, Pose
from vms.clock import Clock
from vms.db.engine import Database, poll_in, poll_keys
from vms.db.models import MaskLiftRow, MaskVersion, PrivacyMask
from vms.errors import FailedPrecondition, InvalidArgument, Unavailable
from vms.outage_log import OutageLog

log = logging.getLogger(__name__)

# The pipeline's every-second reads (:meth:`MaskService.current`), built once: building
# a statement costs about as much as running it.
# A hundred cameras a statement (``poll_in``), not one statement per camera.
_VERSION_ROWS = select(MaskVersion.camera_id, MaskVersion.version, MaskVersion.changed_at).where(
    poll_in(MaskVersion.camera_id)
)
_RUNNING_LIFTS = select(
    MaskLiftRow.camera_id,
    MaskLiftRow.id,
    MaskLiftRow.mask_id,
    MaskLiftRow.starts_at,
    MaskLiftRow.ends_at,
).where(poll_in(MaskLiftRow.camera_id), MaskLiftRow.ended_at.is_(None))
#: Cameras whose masks one statement reads when their versions moved (a start reads all).
READ_BATCH = 500

#: (pose, calibration, (width, height)) of a camera's current view, or None if unknown.
ViewProvider = Callable[[str], tuple[Pose, Calibration, tuple[int, int]] | None]


class MaskService(MaskLifts):
    """CRUD for a camera's privacy masks (PSCS-1), gated by ``cameras.manage``; their
    lifts: :class:`~privacy_masks.lifts.MaskLifts`."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        max_lift_minutes: float = 1440.0,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.max_lift_minutes = max_lift_minutes
        self.view_provider: ViewProvider | None = None
        # The masks in force of each camera as last read, by version row (current()).
        self._in_force: dict[str, _MasksInForce] = {}
        self._unreadable = OutageLog(log)  # cameras current_all() left out (logged once)

    # -- reads -------------------------------------------------------------------------

    def forget(self, camera_id: str) -> None:
        """Drop what is kept of ``camera_id`` for :meth:`current` (its pipeline stopped:
        the camera was removed or handed over). Only a cache: asked again, the camera is
        read again, so a read in flight that keeps it once more costs a few bytes, never
        a wrong mask (PSCS-1)."""
        self._in_force.pop(camera_id, None)
        self._unreadable.forget(camera_id)

    def version(self, camera_id: str) -> int:
        with self.db.session() as s:
            row = s.get(MaskVersion, camera_id)
            return row.version if row is not None else 0

    def current(self, camera_id: str) -> MaskSet:
        """The masks in force now and the windows of their running lifts (for the
        pipeline; not audited, no actor). Records the expiry of lifts that ran out.
        PSCS-1, fail closed: when the lifts cannot be read, no mask is lifted.

        The recorder asks every second (:meth:`current_all`, for all its cameras at
        once), so this is cheap while nothing changed: the camera's version row and its
        running lifts are read every time (two indexed lookups on the process's poll
        connection, ``Database.poll``, a hundred cameras a statement), the masks
        themselves (one transaction for all the cameras that moved) only when the version row
        moved since the last read. Every change of a camera's masks or lifts bumps its
        version in the same transaction, so the same version row (number and time of the
        bump) means the same masks."""
        stamps, lifts = self._poll_rows([camera_id])
        return self._mask_set(camera_id, stamps[camera_id], lifts.get(camera_id, []))

    def current_all(self, camera_ids: Iterable[str]) -> dict[str, MaskSet]:
        """:meth:`current` of each of ``camera_ids``, their version rows and running
        lifts read in one transaction (``recorder.polls``: one read a second for all the
        cameras of a media engine, not one per camera). A camera whose masks cannot be
        made (its rows fail to read or to parse) is left out of the answer, logged once
        until it reads again: it costs no other camera its reading. A failed read of
        the rows themselves raises, as :meth:`current` does."""
        cameras = list(dict.fromkeys(camera_ids))
        stamps, lifts = self._poll_rows(cameras)
        moved = [
            c for c in cameras if (kept := self._in_force.get(c)) is None or kept.stamp != stamps[c]
        ]
        self._read_in_force_all(moved)
        out = {}
        for camera_id in cameras:
            try:
                out[camera_id] = self._mask_set(
                    camera_id, stamps[camera_id], lifts.get(camera_id, [])
                )
            except Exception:
                self._unreadable.failed("camera %s: masks unreadable", camera_id, key=camera_id)
                continue
            self._unreadable.works("camera %s: masks readable again", camera_id, key=camera_id)
        return out

    def _poll_rows(
        self, cameras: list[str]
    ) -> tuple[
        dict[str, tuple[int, dt.datetime] | None],
        dict[str, list[tuple[str, str, dt.datetime, dt.datetime]]],
    ]:
        """The version row stamp and running lifts of each camera, in one transaction on
        the poll connection. The lifts are read after every version row, so a failed
        lifts read (which aborts a PostgreSQL transaction) costs no camera its stamp:
        from the first that fails, no camera's mask is lifted (PSCS-1)."""
        stamps: dict[str, tuple[int, dt.datetime] | None] = dict.fromkeys(cameras)
        lifts: dict[str, list[tuple[str, str, dt.datetime, dt.datetime]]] = {}
        with self.db.poll() as c:
            for params in poll_keys(cameras):
                for camera_id, version, changed_at in c.all(_VERSION_ROWS, params):
                    stamps[str(camera_id)] = (int(version), changed_at)
            try:
                for params in poll_keys(cameras):
                    for r in c.all(_RUNNING_LIFTS, params):
                        lifts.setdefault(str(r[0]), []).append((str(r[1]), str(r[2]), r[3], r[4]))
            except Exception:
                log.exception(
                    "mask lifts unreadable (cameras %s); every mask applies (PSCS-1)",
                    ", ".join(cameras),
                )
                lifts.clear()
        return stamps, lifts

    def _mask_set(
        self,
        camera_id: str,
        stamp: tuple[int, dt.datetime] | None,
        lifts: list[tuple[str, str, dt.datetime, dt.datetime]],
    ) -> MaskSet:
        kept = self._in_force.get(camera_id)
        now = self.clock.now()
        if any(ends <= now or starts > now + CLOCK_SKEW for _, _, starts, ends in lifts):
            kept = None  # recording the expiry bumps the version: the masks are read again
            try:
                self._expire(camera_id)
            except Exception:
                log.exception(
                    "camera %s: mask lift expiry not recorded; every mask applies (PSCS-1)",
                    camera_id,
                )
                lifts = []
        if kept is None or kept.stamp != stamp:
            kept = self._read_in_force(camera_id)
        index = {mask_id: i for i, mask_id in enumerate(kept.mask_ids)}
        return MaskSet(
            camera_id,
            kept.version,
            kept.polygons,
            tuple(
                LiftWindow(index[mask_id], lift_id, starts, ends)
                for lift_id, mask_id, starts, ends in lifts
                if ends > now and starts <= now + CLOCK_SKEW and mask_id in index
            ),
        )

    def _read_in_force_all(self, cameras: list[str]) -> None:
        """:meth:`_read_in_force` of ``cameras`` in one transaction, READ_BATCH cameras a
        statement (a media engine's start read every camera's masks in a transaction of
        its own). A camera whose rows do not make masks is not kept: :meth:`_mask_set`
        reads it again alone, and fails for it alone."""
        if not cameras:
            return
        versions: dict[str, MaskVersion] = {}
        rows: dict[str, list[PrivacyMask]] = {}
        with self.db.session() as s:
            for at in range(0, len(cameras), READ_BATCH):
                batch = cameras[at : at + READ_BATCH]
                for version_row in s.execute(
                    select(MaskVersion).where(MaskVersion.camera_id.in_(batch))
                ).scalars():
                    versions[version_row.camera_id] = version_row
                for row in s.execute(
                    select(PrivacyMask)
                    .where(PrivacyMask.camera_id.in_(batch), PrivacyMask.to_version.is_(None))
                    .order_by(PrivacyMask.row_id)
                ).scalars():
                    rows.setdefault(row.camera_id, []).append(row)
            for camera_id in cameras:
                try:
                    self._in_force[camera_id] = _in_force(
                        versions.get(camera_id), rows.get(camera_id, [])
                    )
                except Exception:
                    self._in_force.pop(camera_id, None)

    def _read_in_force(self, camera_id: str) -> _MasksInForce:
        """Read the camera's version row and open mask rows (one transaction), and keep
        them for :meth:`current`."""
        with self.db.session() as s:
            read = _in_force(s.get(MaskVersion, camera_id), self._open_rows(s, camera_id))
        self._in_force[camera_id] = read
        return read

    def zones(self, camera_id: str) -> list[tuple[tuple[float, float], ...]]:
        """The (pan, tilt) polygons of the masks in force on ``camera_id``: what the PTZ-use
        report counts commands into (PSCS-1, PSCS-5; the :class:`~vms.ports.MaskZones` port)."""
        return [polygon.vertices for polygon in self.current(camera_id).polygons]

    def zones_of(
        self, camera_ids: Sequence[str]
    ) -> dict[str, list[tuple[tuple[float, float], ...]]]:
        """:meth:`zones` of each of ``camera_ids``, read at once (:meth:`current_all`).
        PSCS-1: a camera whose masks cannot be read fails the whole answer, as
        :meth:`zones` does, never an answer without its masks.

        Keeps no camera that was not kept before: the PTZ-use report asks for every
        camera in its period's audit, the deleted ones too, and a web process running
        for months kept each of them for good. A report is rare; its read is one
        transaction for all the cameras."""
        cameras = list(dict.fromkeys(camera_ids))
        kept = set(self._in_force)
        try:
            sets = self.current_all(cameras)
        finally:
            for camera_id in cameras:
                if camera_id not in kept:
                    # The masks read only; the outage log is the pipeline's (a camera it
                    # logged as unreadable still gets its line when it reads again).
                    self._in_force.pop(camera_id, None)
        missing = [c for c in cameras if c not in sets]
        if missing:
            raise Unavailable(f"the masks of cameras {', '.join(missing)} are unreadable")
        return {c: [polygon.vertices for polygon in sets[c].polygons] for c in cameras}

    def list_masks(self, actor: Actor, camera_id: str) -> MaskListing:
        """The masks in force on ``camera_id`` and its mask version (admins)."""
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        with self.db.session() as s:
            version_row = s.get(MaskVersion, camera_id)
            rows = self._open_rows(s, camera_id)
            return MaskListing(
                camera_id,
                version_row.version if version_row is not None else 0,
                tuple(self._record(r) for r in rows),
            )

    # -- changes -----------------------------------------------------------------------

    def create(self, actor: Actor, camera_id: str, command: NewMask) -> MaskRecord:
        """Add a mask (admins; audited, bumps the camera's mask version). A polygon drawn
        on the image is placed through the camera's current pose (FailedPrecondition when
        it is unknown)."""
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        name = _name(command.name)
        polygon = self._sphere(camera_id, command.polygon, command.image_polygon)
        if polygon is None:
            raise InvalidArgument(
                "polygon (degrees) or image_polygon (0..1 of the view) is required"
            )
        mask_id = ids.new_id()
        with self.db.transaction() as s:
            version = self._bump(s, camera_id)
            row = self._add(s, mask_id, camera_id, name, polygon, version, actor)
            self.audit.append(
                s,
                who(actor),
                "mask.create",
                f"camera:{camera_id}",
                details={
                    "mask_id": mask_id,
                    "name": name,
                    "polygon": [list(v) for v in polygon],
                    "drawn_on_image": command.image_polygon is not None,
                    "version": version,
                },
            )
            out = self._record(row)
        log.info(
            "camera %s: mask %s %r created, mask version -> %d",
            camera_id,
            mask_id,
            name,
            version,
        )
        return out

    def update(self, actor: Actor, camera_id: str, mask_id: str, command: MaskChange) -> MaskRecord:
        """Change a mask's name and/or polygon (admins; audited, bumps the version): the
        old row is closed and a new one opened under the same id."""
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        name = _name(command.name) if command.name is not None else None
        polygon = self._sphere(camera_id, command.polygon, command.image_polygon)
        with self.db.transaction() as s:
            # Version first: its lock orders this change after any other of the camera's
            # masks, so the row read next is the one in force now (two edits at once
            # each closed the same row and left two open rows for one mask id).
            version = self._bump(s, camera_id)
            old = self._open_row(s, camera_id, mask_id)
            old.to_version = version
            new_polygon = polygon or tuple((float(p), float(t)) for p, t in old.polygon)
            row = self._add(s, mask_id, camera_id, name or old.name, new_polygon, version, actor)
            self.audit.append(
                s,
                who(actor),
                "mask.update",
                f"camera:{camera_id}",
                details={
                    "mask_id": mask_id,
                    "old": {"name": old.name, "polygon": old.polygon},
                    "new": {"name": row.name, "polygon": row.polygon},
                    "version": version,
                },
            )
            out = self._record(row)
        log.info("camera %s: mask %s updated, mask version -> %d", camera_id, mask_id, version)
        return out

    def delete(self, actor: Actor, camera_id: str, mask_id: str) -> MaskDeleted:
        """Take a mask out of force (admins; audited, bumps the version)."""
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        with self.db.transaction() as s:
            # Version first (see update): a second delete at once finds no mask (404),
            # where it re-closed the row at its own version and was audited again.
            version = self._bump(s, camera_id)
            old = self._open_row(s, camera_id, mask_id)
            old.to_version = version
            self.audit.append(
                s,
                who(actor),
                "mask.delete",
                f"camera:{camera_id}",
                details={
                    "mask_id": mask_id,
                    "name": old.name,
                    "polygon": old.polygon,
                    "version": version,
                },
            )
        log.info("camera %s: mask %s deleted, mask version -> %d", camera_id, mask_id, version)
        return MaskDeleted(mask_id, version)

    def replace_all(self, camera_id: str, polygons: list[SpherePolygon], by: Who) -> int:
        """Set a camera's masks to exactly ``polygons`` (demo/setup; audited). Returns the
        new version, or the current one when nothing changed."""
        current = self.current(camera_id)
        if current.polygons == tuple(polygons):
            return current.version
        with self.db.transaction() as s:
            version = self._bump(s, camera_id)
            for row in self._open_rows(s, camera_id):
                row.to_version = version
            for polygon in polygons:
                row = PrivacyMask(
                    mask_id=ids.new_id(),
                    camera_id=camera_id,
                    name=polygon.name,
                    polygon=[list(v) for v in polygon.vertices],
                    from_version=version,
                    to_version=None,
                    created_at=self.clock.now(),
                    created_by=by.name,
                )
                s.add(row)
            self.audit.append(
                s,
                by,
                "mask.replace",
                f"camera:{camera_id}",
                details={"names": [p.name for p in polygons], "version": version},
            )
        log.info(
            "camera %s: masks replaced (%d), mask version -> %d", camera_id, len(polygons), version
        )
        return version

    # -- helpers -----------------------------------------------------------------------

    def _sphere(
        self,
        camera_id: str,
        polygon: tuple[Vertex, ...] | None,
        image_polygon: tuple[Vertex, ...] | None,
    ) -> tuple[Vertex, ...] | None:
        """The mask's (pan, tilt) polygon from a command's ``polygon`` or
        ``image_polygon`` (placed through the current view), validated; None for neither."""
        if polygon is not None and image_polygon is not None:
            raise InvalidArgument("give either polygon (degrees) or image_polygon (0..1), not both")
        if polygon is not None:
            try:
                validate_sphere_polygon(polygon)
            except ValueError as exc:
                raise InvalidArgument(f"polygon: {exc}", field="polygon") from None
            return polygon
        if image_polygon is None:
            return None
        try:
            check_image_polygon(image_polygon)
        except ValueError as exc:
            raise InvalidArgument(f"image_polygon {exc}", field="image_polygon") from None
        view = self.view_provider(camera_id) if self.view_provider is not None else None
        if view is None:
            raise FailedPrecondition(
                f"camera {camera_id}: the current pose is unknown, so an image_polygon "
                "cannot be placed; send polygon in degrees instead"
            )
        pose, calibration, size = view
        placed = unproject_polygon(image_polygon, pose, calibration, size)
        try:
            validate_sphere_polygon(placed)
        except ValueError as exc:
            raise InvalidArgument(f"image_polygon does not make a valid mask: {exc}") from None
        return placed

    def _add(
        self,
        s: Session,
        mask_id: str,
        camera_id: str,
        name: str,
        polygon: tuple[tuple[float, float], ...],
        version: int,
        actor: Actor,
    ) -> PrivacyMask:
        row = PrivacyMask(
            mask_id=mask_id,
            camera_id=camera_id,
            name=name,
            polygon=[[p, t] for p, t in polygon],
            from_version=version,
            to_version=None,
            created_at=self.clock.now(),
            created_by=actor.username,
        )
        s.add(row)
        s.flush()
        return row

    @staticmethod
    def _open_rows(s: Session, camera_id: str) -> list[PrivacyMask]:
        return list(
            s.execute(
                select(PrivacyMask)
                .where(PrivacyMask.camera_id == camera_id, PrivacyMask.to_version.is_(None))
                .order_by(PrivacyMask.row_id)
            ).scalars()
        )

    @staticmethod
    def _record(row: PrivacyMask) -> MaskRecord:
        return MaskRecord(
            row.mask_id,
            row.name,
            tuple((float(p), float(t)) for p, t in row.polygon),
            row.from_version,
            row.created_at,
            row.created_by,
        )


@dataclass(frozen=True)
class _MasksInForce:
    """A camera's masks in force as read at version row ``stamp`` ((version, time of
    the bump); None: the camera has no version row, so no masks)."""

    stamp: tuple[int, dt.datetime] | None
    version: int
    polygons: tuple[SpherePolygon, ...]
    mask_ids: tuple[str, ...]


def _in_force(version_row: MaskVersion | None, rows: list[PrivacyMask]) -> _MasksInForce:
    """The masks in force of a camera from its version row and open mask rows."""
    return _MasksInForce(
        None if version_row is None else (version_row.version, version_row.changed_at),
        version_row.version if version_row is not None else 0,
        tuple(
            SpherePolygon(r.name, tuple((float(p), float(t)) for p, t in r.polygon)) for r in rows
        ),
        tuple(r.mask_id for r in rows),
    )


def _name(name: str) -> str:
    """A mask's name, stripped: 1..MAX_NAME printable characters."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidArgument(
            f"name: {shown(name)} must be 1-{MAX_NAME} printable characters", field="name"
        )
    return name
