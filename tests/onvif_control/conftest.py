"""Fixtures for camera control: a simulated camera per module, services with a manual
clock and the camera-control plugin closed after each test, the app and bearer tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from onvif_control.plugin import CameraControl, get
from onvif_control.simulator import SimulatedCamera
from tests.conftest import make_config
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.config import Config
from vms.services import Services
from web.contract import parse_model
from web.schemas.cameras import NewCameraIn

SIM_USER = "admin"
SIM_PASSWORD = "pw-ptz-test"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedCamera]:
    """One simulated PTZ camera (320x180, 5 fps) per module, on 127.0.0.1; stopped after."""
    cam = SimulatedCamera(
        "ptz-sim", size=(320, 180), fps=5, username=SIM_USER, password=SIM_PASSWORD
    )
    cam.start()
    try:
        yield cam
    finally:
        cam.stop()


@pytest.fixture
def settings() -> dict[str, object]:
    """Extra settings (environment names) a test module may override."""
    return {}


@pytest.fixture
def svc(database: Any, clock: ManualClock, settings: dict[str, object]) -> Iterator[Services]:
    """Services on a fresh database (both backends) with the manual clock."""
    url, data_dir = database
    config: Config = make_config(data_dir, url, **settings)
    services = Services.open(config, clock=clock)
    services.migrate()
    try:
        yield services
    finally:
        get(services).close()
        services.close()


@pytest.fixture
def control(svc: Services) -> CameraControl:
    return get(svc)


@pytest.fixture
def people(svc: Services) -> dict[str, Actor]:
    from sqlalchemy import select

    from vms.db.models import User

    with svc.db.session() as s:
        return {u.username: svc.users.actor_for(s, u) for u in s.execute(select(User)).scalars()}


@pytest.fixture
def bearer(svc: Services, people: dict[str, Actor]) -> dict[str, dict[str, str]]:
    """Authorization headers per user."""
    return {
        name: {"Authorization": f"Bearer {svc.users.issue_token(actor).token}"}
        for name, actor in people.items()
    }


@pytest.fixture
def api(svc: Services):  # type: ignore[no-untyped-def]
    from web.app import create_app

    flask_app, _ = create_app(svc, testing=True)
    return flask_app.test_client()


@pytest.fixture
def camera(
    control: CameraControl, sim: SimulatedCamera, people: dict[str, Actor]
) -> dict[str, Any]:
    """The simulated camera onboarded (with its calibration) by the admin."""
    from onvif_control.cameras import calibration_from_simulator

    cal = calibration_from_simulator(sim.state()["calibration"])
    body = {
        "name": "sim-1",
        "onvif_url": sim.onvif_url,
        "username": SIM_USER,
        "password": SIM_PASSWORD,
        "calibration": cal.to_dict(),
    }
    return control.cameras.add(people["admin"], parse_model(NewCameraIn, body).command())
