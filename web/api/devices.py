"""Devices API (``/api/v1/devices``): which officers a BWC/dash/handheld device is issued
to (issue #10.1). Admins only (``devices.manage``); every change audited."""

from __future__ import annotations

from vms.devices import DeviceListing, DeviceRecord
from web.contract import ApiBlueprint
from web.schemas.devices import AssignIn, DeviceListOut, DeviceOut
from web.security import require_actor, services

bp = ApiBlueprint("devices_api", __name__, tag="devices")


@bp.operation("GET", "/devices", response=DeviceListOut)
def list_devices() -> DeviceListing:
    """Every device with its officers, and whether assignment is enforced."""
    return services().devices.list_devices(require_actor())


@bp.operation(
    "PUT",
    "/devices/<device_id>/officers/<badge>",
    body=AssignIn,
    body_required=False,
    response=DeviceOut,
)
def assign(device_id: str, badge: str, body: AssignIn) -> DeviceRecord:
    """Issue the device to the officer.

    An optional body ``{"kind": "bwc|dash|handheld"}`` registers a device never seen
    before with that kind (default bwc)."""
    actor = require_actor()
    return services().devices.assign(actor, device_id, badge, kind=body.kind)


@bp.operation("DELETE", "/devices/<device_id>/officers/<badge>", response=DeviceOut)
def unassign(device_id: str, badge: str) -> DeviceRecord:
    """Take the device back from the officer."""
    return services().devices.unassign(require_actor(), device_id, badge)
