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
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy_masks.geometry import SpherePolygon, unproject_polygon, validate_sphere_polygon
from privacy_masks.model import MaskInput, MaskSet, mask_json, parse_mask_body
from vms import ids
from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
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

    def list_masks(self, actor: Actor, camera_id: str) -> dict[str, Any]:
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        with self.db.session() as s:
            version_row = s.get(MaskVersion, camera_id)
            rows = self._open_rows(s, camera_id)
            return {
                "camera_id": camera_id,
                "version": version_row.version if version_row is not None else 0,
                "masks": [self._json(r) for r in rows],
            }

    # -- changes -----------------------------------------------------------------------

    def create(self, actor: Actor, camera_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        parsed = self._parse(body, partial=False)
        polygon = self._sphere(camera_id, parsed)
        mask_id = ids.new_id()
        with self.db.transaction() as s:
            version = self._bump(s, camera_id)
            row = self._add(s, mask_id, camera_id, parsed.name, polygon, version, actor)
            self.audit.append(
                s,
                who(actor),
                "mask.create",
                f"camera:{camera_id}",
                details={
                    "mask_id": mask_id,
                    "name": parsed.name,
                    "polygon": [list(v) for v in polygon],
                    "drawn_on_image": parsed.image_polygon is not None,
                    "version": version,
                },
            )
            out = self._json(row)
        log.info(
            "camera %s: mask %s %r created, mask version -> %d",
            camera_id,
            mask_id,
            parsed.name,
            version,
        )
        return out

    def update(
        self, actor: Actor, camera_id: str, mask_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
        parsed = self._parse(body, partial=True)
        polygon = (
            self._sphere(camera_id, parsed)
            if parsed.polygon is not None or parsed.image_polygon is not None
            else None
        )
        with self.db.transaction() as s:
            old = self._open_row(s, camera_id, mask_id)
            version = self._bump(s, camera_id)
            old.to_version = version
            new_polygon = polygon or tuple((float(p), float(t)) for p, t in old.polygon)
            row = self._add(
                s, mask_id, camera_id, parsed.name or old.name, new_polygon, version, actor
            )
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
            out = self._json(row)
        log.info("camera %s: mask %s updated, mask version -> %d", camera_id, mask_id, version)
        return out

    def delete(self, actor: Actor, camera_id: str, mask_id: str) -> dict[str, Any]:
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
        return {"id": mask_id, "deleted": True, "version": version}

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

    @staticmethod
    def _parse(body: dict[str, Any], *, partial: bool) -> MaskInput:
        try:
            return parse_mask_body(body, partial=partial)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None

    def _sphere(self, camera_id: str, parsed: MaskInput) -> tuple[tuple[float, float], ...]:
        if parsed.polygon is not None:
            return parsed.polygon
        assert parsed.image_polygon is not None
        view = self.view_provider(camera_id) if self.view_provider is not None else None
        if view is None:
            raise FailedPrecondition(
                f"camera {camera_id}: the current pose is unknown, so an image_polygon "
                "cannot be placed; send polygon in degrees instead"
            )
        pose, calibration, size = view
        polygon = unproject_polygon(parsed.image_polygon, pose, calibration, size)
        try:
            validate_sphere_polygon(polygon)
        except ValueError as exc:
            raise InvalidArgument(f"image_polygon does not make a valid mask: {exc}") from None
        return polygon

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
    def _json(row: PrivacyMask) -> dict[str, Any]:
        return mask_json(
            row.mask_id, row.name, row.polygon, row.from_version, row.created_at, row.created_by
        )
