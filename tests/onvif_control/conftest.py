"""Fixtures for camera control: a simulated camera per module, services with a manual
clock and the camera-control plugin closed after each test, the app and bearer tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from tests.onvif_control.tls_peers import SelfSigned

SIM_USER = "admin"
SIM_PASSWORD = "pw-ptz-test"


def cli_env(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment a ``vms`` command needs to use ``svc``'s data and database."""
    for key, value in {
        "VMS_DATA_DIR": str(svc.config.data_dir),
        "VMS_DATABASE_URL": svc.config.database_url,
        "VMS_INGEST_MIN_FREE_BYTES": "0",
    }.items():
        monkeypatch.setenv(key, value)


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


@pytest.fixture(scope="module")
def certs() -> tuple[SelfSigned, SelfSigned]:
    """Two self-signed camera certificates: the genuine one and another (an impostor's,
    or the camera's renewed one)."""
    from tests.onvif_control.tls_peers import self_signed

    return self_signed("camera-genuine"), self_signed("camera-other")


@pytest.fixture
def tls_sim(tmp_path: Path, certs: tuple[SelfSigned, SelfSigned]) -> Iterator[SimulatedCamera]:
    """The simulator serving ONVIF over TLS with the genuine certificate; stopped after."""
    from tests.onvif_control.tls_peers import tls_camera

    cam = tls_camera(certs[0], tmp_path)
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
