"""Camera onboarding against the simulator: what is read and stored, credentials at rest,
wrong password and unreachable addresses store nothing, the CLI and the API (issue 4
item 2)."""

from __future__ import annotations

import io
import socket

import pytest
from sqlalchemy import select

from onvif_control.cameras import calibration_from_simulator
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER, cli_env
from vms.db.models import AuditEntry, Camera, Device
from vms.errors import Conflict, FailedPrecondition, InvalidArgument, PermissionDenied, Unavailable
from web.contract import parse_model
from web.schemas.cameras import NewCameraIn

pytestmark = pytest.mark.timeout(120)


def test_onboarding_reads_and_stores_the_camera(svc, camera, sim):
    assert camera.manufacturer and camera.model == "Simulated PTZ camera"
    assert camera.ptz_supported is True
    assert camera.main_stream_uri == sim.rtsp_url
    assert camera.profile_token == "profile_1"
    caps = camera.capabilities
    assert caps["profiles"][0]["width"] == 320
    spaces = caps["ptz_node"]["SupportedPTZSpaces"]
    assert spaces["AbsolutePanTiltPositionSpace"][0]["URI"].endswith("PositionGenericSpace")
    assert caps["ptz_configuration"]["PanTiltLimits"]["Range"]["XRange"]["Max"] == 1.0
    assert camera.calibration == calibration_from_simulator(sim.state()["calibration"])
    assert camera.health == "online"
    assert "password" not in vars(camera) and "password_enc" not in vars(camera)
    with svc.db.session() as s:
        # The camera id is its catalog device id.
        device = s.get(Device, camera.id)
        assert device is not None and device.kind == "fixed" and device.name == "sim-1"
        row = s.get(Camera, camera.id)
        # Encrypted at rest: neither the password nor a trivial encoding of it is stored.
        assert SIM_PASSWORD not in row.password_enc and row.password_enc.startswith("v1:")
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "camera.add")).scalar_one()
        assert SIM_PASSWORD not in str(entry.details)
    assert (svc.config.secrets_dir / "credentials.key").is_file()


def test_stored_password_is_bound_to_the_camera_row(svc, control, camera):
    from onvif_control.credentials import CredentialBox
    from vms.secrets import load_or_create_key

    box = CredentialBox(load_or_create_key(svc.config.secrets_dir, "credentials.key"))
    with svc.db.session() as s:
        stored = s.get(Camera, camera.id).password_enc
    assert box.decrypt(camera.id, stored) == SIM_PASSWORD
    from vms.errors import DataLoss

    with pytest.raises(DataLoss, match="does not decrypt"):
        box.decrypt("another-camera", stored)


def _count(svc, model) -> int:
    with svc.db.session() as s:
        return len(list(s.execute(select(model)).scalars()))


def test_wrong_password_stores_nothing(svc, control, sim, people):
    body = {"name": "bad", "onvif_url": sim.onvif_url, "username": SIM_USER, "password": "nope"}
    with pytest.raises(FailedPrecondition, match="refused the username or password"):
        control.cameras.add(people["admin"], parse_model(NewCameraIn, body).command())
    assert _count(svc, Camera) == 0
    with svc.db.session() as s:
        failed = s.execute(select(AuditEntry).where(AuditEntry.action == "camera.add")).scalar_one()
    assert failed.outcome == "failed" and "nope" not in str(failed.details)


def test_unreachable_camera_stores_nothing(svc, control, people):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = {
        "name": "gone",
        "onvif_url": f"http://127.0.0.1:{port}/onvif/device_service",
        "username": "u",
        "password": "p",
    }
    with pytest.raises(Unavailable, match=r"unreachable|no answer"):
        control.cameras.add(people["admin"], parse_model(NewCameraIn, body).command())
    assert _count(svc, Camera) == 0 and _count(svc, Device) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "", "onvif_url": "http://127.0.0.1:1/", "username": "u", "password": "p"},
            "name",
        ),
        ({"name": "x", "onvif_url": "ftp://h/", "username": "u", "password": "p"}, "http"),
        ({"name": "x", "onvif_url": "http://u:p@h/", "username": "u", "password": "p"}, "URL"),
        ({"name": "x", "onvif_url": "http://h/", "username": "u"}, "password"),
        ({"name": "x", "onvif_url": "http://h/", "username": "u", "password": "p", "z": 1}, "z"),
    ],
)
def test_bad_onboarding_input_is_refused(control, people, body, message):
    with pytest.raises(InvalidArgument, match=message):
        control.cameras.add(people["admin"], parse_model(NewCameraIn, body).command())


def test_only_admins_manage_cameras_ACC_1(svc, control, sim, people):
    body = {"name": "x", "onvif_url": sim.onvif_url, "username": SIM_USER, "password": SIM_PASSWORD}
    with pytest.raises(PermissionDenied):
        control.cameras.add(people["dispatcher"], parse_model(NewCameraIn, body).command())
    with svc.db.session() as s:
        denied = s.execute(select(AuditEntry).where(AuditEntry.outcome == "denied")).scalar_one()
    assert denied.actor == "dispatcher"


def test_duplicate_name_conflicts(control, camera, sim, people):
    body = {
        "name": "sim-1",
        "onvif_url": sim.onvif_url,
        "username": SIM_USER,
        "password": SIM_PASSWORD,
    }
    with pytest.raises(Conflict):
        control.cameras.add(people["admin"], parse_model(NewCameraIn, body).command())


def test_api_crud_and_calibration(api, bearer, sim, svc):
    body = {
        "name": "api-cam",
        "onvif_url": sim.onvif_url,
        "username": SIM_USER,
        "password": SIM_PASSWORD,
    }
    assert api.post("/api/v1/cameras", json=body, headers=bearer["dispatcher"]).status_code == 403
    created = api.post("/api/v1/cameras", json=body, headers=bearer["admin"])
    assert created.status_code == 201, created.json
    camera_id = created.json["id"]
    listed = api.get("/api/v1/cameras", headers=bearer["dispatcher"]).json["cameras"]
    assert [c["name"] for c in listed] == ["api-cam"]
    assert api.get("/api/v1/cameras", headers=bearer["officer"]).status_code == 403
    got = api.get(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"]).json
    assert got["calibration"]["pan_min"] == -180.0  # the default calibration
    # Wrong new password: refused, the stored one keeps working.
    bad = api.patch(
        f"/api/v1/cameras/{camera_id}", json={"password": "nope"}, headers=bearer["admin"]
    )
    assert bad.status_code == 422 and "refused" in bad.json["error"]["message"]
    renamed = api.patch(
        f"/api/v1/cameras/{camera_id}", json={"name": "renamed"}, headers=bearer["admin"]
    )
    assert renamed.status_code == 200 and renamed.json["name"] == "renamed"
    cal = {
        "pan_min": -170,
        "pan_max": 170,
        "tilt_min": -80,
        "tilt_max": 10,
        "hfov_wide": 58,
        "hfov_tele": 5,
        "limit_pan_min": -90,
        "limit_pan_max": 90,
    }
    put = api.put(f"/api/v1/cameras/{camera_id}/calibration", json=cal, headers=bearer["admin"])
    assert put.status_code == 200 and put.json["limit_pan_max"] == 90.0
    bad_cal = api.put(
        f"/api/v1/cameras/{camera_id}/calibration",
        json={"limit_pan_min": 10, "limit_pan_max": -10},
        headers=bearer["admin"],
    )
    assert bad_cal.status_code == 400 and "limits" in bad_cal.json["error"]["message"]
    assert (
        api.put(
            f"/api/v1/cameras/{camera_id}/calibration", json={"pan_mni": 1}, headers=bearer["admin"]
        ).status_code
        == 400
    )
    assert api.delete(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"]).status_code == 204
    assert api.get(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"]).status_code == 404
    with svc.db.session() as s:
        assert s.get(Device, camera_id) is not None  # recordings keep their device
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
    assert {"camera.add", "camera.update", "camera.calibration", "camera.delete"} <= set(actions)
    assert svc.audit.verify(svc.db) is None


def test_cli_camera_add_and_list(svc, sim, capsys, monkeypatch):
    from vms.cli import main

    cli_env(svc, monkeypatch)
    args = ["camera", "add", "cli-cam", "--onvif", sim.onvif_url, "--username", SIM_USER]
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{SIM_PASSWORD}\nwrong\n"))
    assert main([*args, "--password-stdin"]) == 0
    assert "camera cli-cam added" in capsys.readouterr().out
    assert main([*args[:2], "cli-bad", *args[3:], "--password-stdin"]) == 6
    assert "refused the username or password" in capsys.readouterr().err
    assert main(["camera", "list"]) == 0
    out = capsys.readouterr().out
    assert "cli-cam" in out and "online" in out and "cli-bad" not in out


def test_demo_onboards_the_fleet_with_its_calibration(svc, control):
    from onvif_control.demo import onboard_fleet
    from onvif_control.simulator import SimulatorFleet

    with SimulatorFleet(count=2, size=(160, 90), fps=2, password="demo-pw") as fleet:
        ids = onboard_fleet(svc, fleet, "admin", "demo-pw")
        again = onboard_fleet(svc, fleet, "admin", "demo-pw")  # a restart: same rows
        cameras = {c.name: c for c in control.cameras.list_cameras(None)}
        assert ids == again and set(cameras) == {"demo-cam1", "demo-cam2"}
        expected = calibration_from_simulator(fleet.cameras[0].state()["calibration"])
        assert cameras["demo-cam1"].calibration == expected
        assert control.engine.status(ids[0]).pose.pan == pytest.approx(
            fleet.cameras[0].state()["pose"]["pan"], abs=0.01
        )
