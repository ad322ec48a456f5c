"""``vms serve --demo``: onboard the simulated cameras with the simulator's calibration."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from onvif_control.cameras import calibration_from_simulator
from onvif_control.plugin import get
from vms.audit.log import SYSTEM_ROLE, Who
from vms.db.models import Camera
from vms.services import Services

log = logging.getLogger(__name__)


def onboard_fleet(services: Services, fleet: Any, username: str, password: str) -> list[str]:
    """Onboard (or re-point, after a restart on new ports) every camera of a running
    ``SimulatorFleet``; returns the camera ids."""
    control = get(services)
    by = Who("demo", SYSTEM_ROLE)
    ids = []
    for cam in fleet.cameras:
        state = cam.state()
        calibration = calibration_from_simulator(state["calibration"])
        name = f"demo-{cam.name}"
        with services.db.session() as s:
            existing = s.execute(select(Camera).where(Camera.name == name)).scalar_one_or_none()
            existing_id = existing.id if existing is not None else None
        if existing_id is not None:
            # A demo restart gives the simulators new ports: point the row at them.
            with services.db.transaction() as s:
                row = s.get(Camera, existing_id)
                assert row is not None
                row.onvif_url = cam.onvif_url
                row.main_stream_uri = cam.rtsp_url
                row.password_enc = control.cameras.box.encrypt(existing_id, password)
            control.connections.forget(existing_id)
            ids.append(existing_id)
            continue
        body = control.cameras.onboard(by, name, cam.onvif_url, username, password, calibration)
        ids.append(body["id"])
        log.info("demo camera %s onboarded as %s", name, body["id"])
    return ids
