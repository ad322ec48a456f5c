"""Masks in the database: versioned, admin-only, audited in the same transaction (ACC-6).

Each change closes the old :class:`~vms.db.models.PrivacyMask` row and/or adds a new one
and bumps the camera's :class:`~vms.db.models.MaskVersion` in one transaction with its
audit entry. The media pipeline reads :meth:`MaskService.current` (cheap: one version
lookup, masks reloaded only when the version moved), so every process agrees.

A mask drawn on the live image (``image_polygon``, 0..1) is unprojected through the
camera's current pose, which a *view provider* supplies (the recorder registers one:
pose from the pose source, calibration and picture size of the camera).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy_masks.geometry import SpherePolygon, unproject_polygon, validate_sphere_polygon
from privacy_masks.model import (
    MAX_NAME,
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
from vms.db.engine import Database
from vms.db.models import MaskVersion, PrivacyMask
from vms.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)

#: (pose, calibration, (width, height)) of a camera's current view, or None if unknown.
ViewProvider = Callable[[str], tuple[Pose, Calibration, tuple[int, int]] | None]


class MaskService:
    """CRUD for a camera's privacy masks (PSCS-1), gated by ``cameras.manage``."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock, authoriser: Authoriser) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.view_provider: ViewProvider | None = None

    # -- reads -------------------------------------------------------------------------

    def version(self, camera_id: str) -> int:
        with self.db.session() as s:
            row = s.get(MaskVersion, camera_id)
            return row.version if row is not None else 0

    def current(self, camera_id: str) -> MaskSet:
        """The masks in force now (for the pipeline; not audited, no actor)."""
        with self.db.session() as s:
            version_row = s.get(MaskVersion, camera_id)
            rows = self._open_rows(s, camera_id)
            return MaskSet(
                camera_id,
                version_row.version if version_row is not None else 0,
                tuple(
                    SpherePolygon(r.name, tuple((float(p), float(t)) for p, t in r.polygon))
                    for r in rows
                ),
            )

    def zones(self, camera_id: str) -> list[tuple[tuple[float, float], ...]]:
        """The (pan, tilt) polygons of the masks in force on ``camera_id``: what the PTZ-use
        report counts commands into (PSCS-1, PSCS-5; the :class:`~vms.ports.MaskZones` port)."""
        return [polygon.vertices for polygon in self.current(camera_id).polygons]

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
            old = self._open_row(s, camera_id, mask_id)
            version = self._bump(s, camera_id)
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
            old = self._open_row(s, camera_id, mask_id)
            version = self._bump(s, camera_id)
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

    def _bump(self, s: Session, camera_id: str) -> int:
        row = s.get(MaskVersion, camera_id, with_for_update=True)
        now = self.clock.now()
        if row is None:
            row = MaskVersion(camera_id=camera_id, version=1, changed_at=now)
            s.add(row)
        else:
            row.version += 1
            row.changed_at = now
        s.flush()
        return row.version

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


def _name(name: str) -> str:
    """A mask's name, stripped: 1..MAX_NAME printable characters."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidArgument(
            f"name: {shown(name)} must be 1-{MAX_NAME} printable characters", field="name"
        )
    return name
