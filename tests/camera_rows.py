"""A camera row written straight into the database, as onboarding would have stored it,
for tests of what reads one (alarms, the certificate API) without a camera to onboard."""

from __future__ import annotations

from typing import Any

from vms.db.models import Camera, Device
from vms.services import Services


def add_camera_row(
    services: Services, camera_id: str = "cam-a", name: str = "Main St", **columns: Any
) -> str:
    """Insert camera ``camera_id`` (and its device) with ``columns`` over the defaults: an
    http camera on a closed loopback port, healthy, with no stream; returns its id."""
    now = services.clock.now()
    values: dict[str, Any] = {
        "onvif_url": "http://127.0.0.1:9/onvif/device_service",
        "username": "u",
        "password_enc": "x",
        "profile_token": "p",
        "capabilities": {},
        "presets": [],
        "calibration": {},
        "health": "online",
        "created_at": now,
        "updated_at": now,
    }
    with services.db.transaction() as s:
        s.add(Device(id=camera_id, kind="fixed", name=name, created_at=now))
        s.flush()
        s.add(Camera(id=camera_id, name=name, **(values | columns)))
    return camera_id
