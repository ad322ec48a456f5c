"""``vms serve --demo``: demo users and simulated cameras, onboarded with the simulator's
calibration, whose private zones become privacy masks when the media role runs.

:class:`Demo` is the :class:`~vms.ports.DemoSetup` port this package provides; the demo
password is printed only here, so only with ``--demo`` (#10.16).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from onvif_control.cameras import calibration_from_simulator
from onvif_control.plugin import CameraControl
from vms.audit.log import SYSTEM_ROLE, Who
from vms.db.models import Camera
from vms.ports import MaskSetup
from vms.services import Services

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-password"  # noqa: S105 (demo mode only)
DEMO_USERS = (
    ("admin", "admin", None, None),
    ("dispatcher", "dispatcher", None, None),
    ("commander", "records_commander", None, None),
    ("chief", "release_approver", None, None),  # approves releases (ACC-5, issue 16)
    ("investigator", "investigator", None, None),
    ("auditor", "auditor", None, None),
    ("sergeant", "supervisor", "S100", None),
    ("officer", "officer", "B4021", "sergeant"),
)
DEMO_CAMERAS = 3
DEMO_BY = Who("demo", SYSTEM_ROLE)


def add_demo_users(services: Services) -> None:
    for username, role, badge, supervisor in DEMO_USERS:
        services.users.add_user(
            username,
            role,
            DEMO_PASSWORD,
            badge=badge,
            supervisor=supervisor,
            by=DEMO_BY,
            exist_ok=True,
        )


def start_demo_cameras(count: int) -> Any:
    """Start simulated cameras when the simulator is installed (issue 3)."""
    if importlib.util.find_spec("onvif_control.simulator") is None:
        log.warning("the camera simulator is not available: demo runs without cameras")
        return None
    from onvif_control.simulator import SimulatorFleet

    fleet = SimulatorFleet(
        count=count,
        host="127.0.0.1",
        onvif_port=0,
        rtsp_port=0,
        username="admin",
        password=DEMO_PASSWORD,
    )
    fleet.start()
    for camera in fleet.cameras:
        log.info("demo camera: ONVIF %s RTSP %s", camera.onvif_url, camera.rtsp_url)
    return fleet


class Demo:
    """``vms serve --demo`` for this process (:class:`~vms.ports.DemoSetup`)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.fleet: Any = None

    def start(self, roles: Sequence[str]) -> None:
        add_demo_users(self.services)
        # Only a demo has a known password to show (#10.16): never on a real start.
        print(
            f"demo users (password {DEMO_PASSWORD!r}): "
            + ", ".join(f"{u} ({r})" for u, r, _, _ in DEMO_USERS),
            flush=True,
        )
        self.fleet = start_demo_cameras(DEMO_CAMERAS)
        if self.fleet is None:
            return
        ids = onboard_fleet(self.services, self.fleet, "admin", DEMO_PASSWORD)
        if "media" in roles:
            self.mask_private_zones(ids)

    def mask_private_zones(self, camera_ids: list[str]) -> None:
        """The simulators' private zones become the masks of their cameras (fleet order)."""
        masks = self.services.ports.find(MaskSetup)
        if masks is None:
            log.warning("privacy masks are not installed: demo cameras have no masks")
            return
        for camera, camera_id in zip(self.fleet.cameras, camera_ids, strict=True):
            zones = [(z.name, z.polygon) for z in camera.scene.private_zones]
            masks.replace_zones(camera_id, zones, DEMO_BY)

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
            self.fleet = None


def onboard_fleet(services: Services, fleet: Any, username: str, password: str) -> list[str]:
    """Onboard (or re-point, after a restart on new ports) every camera of a running
    ``SimulatorFleet``; returns the camera ids."""
    control = services.ports.get(CameraControl, reader="the demo set-up")
    by = DEMO_BY
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
        ids.append(body.id)
        log.info("demo camera %s onboarded as %s", name, body.id)
    return ids
