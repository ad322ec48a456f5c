"""Race: cameras onboarded, renamed or deleted twice at once (two admins, a client
retrying after a timeout) against the simulator, on SQLite and PostgreSQL. A name is
one camera's: the other caller gets a 409, never a 500; a camera is deleted once and
audited once (ACC-6, INV-4)."""

from __future__ import annotations

from typing import Any

import pytest

from onvif_control.plugin import CameraControl
from onvif_control.simulator import SimulatedCamera
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER
from tests.races import audited, together
from vms.auth.permissions import Actor
from vms.errors import Conflict, NotFound, VMSError
from vms.services import Services
from web.contract import parse_model
from web.schemas.cameras import CameraPatchIn, NewCameraIn

pytestmark = pytest.mark.timeout(180)

ITERATIONS = 5


def _new(sim: SimulatedCamera, name: str) -> Any:
    body = {
        "name": name,
        "onvif_url": sim.onvif_url,
        "username": SIM_USER,
        "password": SIM_PASSWORD,
    }
    return parse_model(NewCameraIn, body).command()


def test_the_same_name_onboarded_twice_at_once_is_one_camera_and_a_409(
    control: CameraControl, sim: SimulatedCamera, people: dict[str, Actor]
) -> None:
    admin = people["admin"]
    for i in range(ITERATIONS):
        name = f"corner-{i}"
        got = together(
            lambda: control.cameras.add(admin, _new(sim, name)),
            lambda: control.cameras.add(admin, _new(sim, name)),
        )
        assert not [g for g in got if isinstance(g, Exception) and not isinstance(g, VMSError)], (
            f"iteration {i}: {got}"
        )
        assert sum(isinstance(g, Conflict) for g in got) == 1, f"iteration {i}: {got}"
    names = [c.name for c in control.cameras.list_cameras(admin)]
    assert sorted(names) == sorted(set(names))


def test_two_cameras_renamed_to_one_name_at_once_one_is_a_409(
    control: CameraControl, sim: SimulatedCamera, people: dict[str, Actor]
) -> None:
    admin = people["admin"]
    for i in range(ITERATIONS):
        a = control.cameras.add(admin, _new(sim, f"a-{i}"))
        b = control.cameras.add(admin, _new(sim, f"b-{i}"))
        rename = parse_model(CameraPatchIn, {"name": f"taken-{i}"}).command()
        got = together(
            lambda: control.cameras.update(admin, a.id, rename),
            lambda: control.cameras.update(admin, b.id, rename),
        )
        assert not [g for g in got if isinstance(g, Exception) and not isinstance(g, VMSError)], (
            f"iteration {i}: {got}"
        )
        assert sum(isinstance(g, Conflict) for g in got) == 1, f"iteration {i}: {got}"


def test_a_camera_deleted_twice_at_once_is_deleted_and_audited_once(
    svc: Services, control: CameraControl, sim: SimulatedCamera, people: dict[str, Actor]
) -> None:
    admin = people["admin"]
    for i in range(ITERATIONS):
        cam = control.cameras.add(admin, _new(sim, f"gone-{i}"))
        got = together(
            lambda: control.cameras.delete(admin, cam.id),
            lambda: control.cameras.delete(admin, cam.id),
        )
        assert not [g for g in got if isinstance(g, Exception) and not isinstance(g, NotFound)], (
            f"iteration {i}: {got}"
        )
        assert sum(isinstance(g, NotFound) for g in got) == 1, f"iteration {i}: {got}"
        assert audited(svc, "camera.delete", f"camera:{cam.id}") == 1


def test_a_camera_renamed_while_it_is_deleted_is_a_404_not_a_500(
    control: CameraControl, sim: SimulatedCamera, people: dict[str, Actor]
) -> None:
    """An admin renames (or recalibrates) a camera another deletes at that instant: the
    change lands first, or it finds no camera (404); never an internal error from an
    UPDATE of a row deleted in between."""
    admin = people["admin"]
    for i in range(ITERATIONS * 2):
        cam = control.cameras.add(admin, _new(sim, f"doomed-{i}"))
        rename = parse_model(CameraPatchIn, {"name": f"renamed-{i}"}).command()
        got = together(
            lambda: control.cameras.update(admin, cam.id, rename),
            lambda: control.cameras.delete(admin, cam.id),
        )
        assert not [g for g in got if isinstance(g, Exception) and not isinstance(g, NotFound)], (
            f"iteration {i}: {got}"
        )
