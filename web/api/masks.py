"""Privacy masks API (``/api/v1/cameras/<id>/masks``): admin only, audited (PSCS-1)."""

from __future__ import annotations

from privacy_masks.model import MaskDeleted, MaskListing, MaskRecord
from privacy_masks.service import MaskService
from vms.errors import Unavailable
from web.contract import ApiBlueprint
from web.schemas.masks import MaskChangeIn, MaskDeletedOut, MaskListOut, MaskOut, NewMaskIn
from web.security import require_actor, services

bp = ApiBlueprint("masks_api", __name__, tag="masks")


def masks() -> MaskService:
    service = services().ports.find(MaskService)
    if service is None:
        raise Unavailable("privacy masks are not installed")
    return service


@bp.operation("GET", "/cameras/<camera_id>/masks", response=MaskListOut)
def list_masks(camera_id: str) -> MaskListing:
    """The camera's masks in force and its mask version."""
    return masks().list_masks(require_actor(), camera_id)


@bp.operation("POST", "/cameras/<camera_id>/masks", body=NewMaskIn, response=MaskOut, status=201)
def create_mask(camera_id: str, body: NewMaskIn) -> MaskRecord:
    """Add a privacy mask.

    ``polygon`` is in (pan, tilt) degrees; ``image_polygon`` (0..1 of the live view) is
    placed through the camera's current pose (422 when the pose is unknown). Bumps the
    camera's mask version; audited."""
    return masks().create(require_actor(), camera_id, body.command())


@bp.operation("PUT", "/cameras/<camera_id>/masks/<mask_id>", body=MaskChangeIn, response=MaskOut)
def update_mask(camera_id: str, mask_id: str, body: MaskChangeIn) -> MaskRecord:
    """Change a mask's name and/or polygon.

    Fields left out stay as they are. Bumps the camera's mask version; audited."""
    return masks().update(require_actor(), camera_id, mask_id, body.command())


@bp.operation("DELETE", "/cameras/<camera_id>/masks/<mask_id>", response=MaskDeletedOut)
def delete_mask(camera_id: str, mask_id: str) -> MaskDeleted:
    """Take a mask out of force.

    Bumps the camera's mask version; audited."""
    return masks().delete(require_actor(), camera_id, mask_id)
