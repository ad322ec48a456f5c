"""Privacy masks API (``/api/v1/cameras/<id>/masks``): admin only, audited (PSCS-1);
mask lifts (``/api/v1/cameras/<id>/mask-lifts``, PSCS-1 exceptions): admins grant and
end them, whoever may watch the camera live lists them (the live view's banner)."""

from __future__ import annotations

from typing import Any

from privacy_masks.model import MaskDeleted, MaskLift, MaskListing, MaskRecord
from privacy_masks.service import MaskService
from vms.errors import Unavailable
from vms.services import Services
from web.contract import ApiBlueprint
from web.schemas.masks import (
    LiftQuery,
    MaskChangeIn,
    MaskDeletedOut,
    MaskLiftListOut,
    MaskLiftOut,
    MaskListOut,
    MaskOut,
    NewLiftIn,
    NewMaskIn,
)
from web.security import require_actor, services

bp = ApiBlueprint("masks_api", __name__, tag="masks")


def masks() -> MaskService:
    service = services().ports.find(MaskService)
    if service is None:
        raise Unavailable("privacy masks are not installed")
    return service


def forget_deleted_cameras(services: Services) -> None:
    """Drop a deleted camera from what this process's mask service keeps of it (read
    for the PTZ-use report's ``zones_of`` and by ``current``). The media engine drops a
    camera when its pipeline stops; without this, a web process running for months kept
    every camera deleted since it started. Not local: a camera deleted through another
    web process goes too."""
    service = services.ports.find(MaskService)
    if service is None:
        return

    def forget(topic: str, payload: dict[str, Any]) -> None:
        camera_id = payload.get("camera_id")
        if topic == "camera.deleted" and isinstance(camera_id, str):
            service.forget(camera_id)

    services.events.subscribe(forget)


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


@bp.operation(
    "POST", "/cameras/<camera_id>/mask-lifts", body=NewLiftIn, response=MaskLiftOut, status=201
)
def create_lift(camera_id: str, body: NewLiftIn) -> MaskLift:
    """Lift one privacy mask for a bounded time (PSCS-1 exception).

    Starts now and ends after ``minutes`` (at most ``[privacy_masks] max_lift_minutes``);
    ``reason`` states the investigative reason (a warrant number, ...). Admins only; bumps
    the camera's mask version (recorded on the footage captured meanwhile); audited. The
    mask comes back by itself at the end."""
    return masks().lift(require_actor(), camera_id, body.command())


@bp.operation("GET", "/cameras/<camera_id>/mask-lifts", query=LiftQuery, response=MaskLiftListOut)
def list_lifts(camera_id: str, query: LiftQuery) -> Any:
    """The camera's mask lifts, newest first (``running=true``: those not yet ended).

    Whoever may watch the camera live (the live view shows a banner while one runs)."""
    lifts = masks().lifts(require_actor(), camera_id, running_only=query.running)
    return {"camera_id": camera_id, "lifts": lifts}


@bp.operation("DELETE", "/cameras/<camera_id>/mask-lifts/<lift_id>", response=MaskLiftOut)
def end_lift(camera_id: str, lift_id: str) -> MaskLift:
    """End a mask lift now (the mask applies again). Admins only; audited."""
    return masks().end_lift(require_actor(), camera_id, lift_id)
