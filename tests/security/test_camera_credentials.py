# ruff: noqa: F811 (the camera-control fixtures are imported, then taken as arguments)
"""Camera credentials never leak (#10.11): not into the audit log (kept forever), the logs,
API answers or errors, and the stored password only goes to the camera it was given for.

Against real simulated cameras: ``sim`` (the module's camera) and ``other``, a second
camera on another port whose GetStreamUri carries ``user:password@`` as some cameras' do
and which counts the requests that carried a password digest.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import event, select

from onvif_control.simulator import SimulatedCamera
from recorder.registry import registered_cameras
from tests.onvif_control.conftest import (  # noqa: F401 (fixtures)
    SIM_PASSWORD,
    SIM_USER,
    api,
    bearer,
    camera,
    control,
    people,
    settings,
    sim,
    svc,
)
from vms.db.models import AuditEntry, Camera
from vms.errors import Unavailable, VMSError
from vms.media.stream import RtspInput
from web.contract import parse_model
from web.schemas.cameras import CameraPatchIn

pytestmark = pytest.mark.timeout(120)

URL_PASSWORD = "Url-Secret-4711"


@pytest.fixture(scope="module")
def other() -> Iterator[SimulatedCamera]:
    cam = SimulatedCamera(
        "other",
        size=(320, 180),
        fps=5,
        username=SIM_USER,
        password=SIM_PASSWORD,
        credentials_in_stream_uri=True,
    )
    cam.start()
    try:
        yield cam
    finally:
        cam.stop()


def audit_text(svc) -> str:
    with svc.db.session() as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        return json.dumps([[e.action, e.target, e.details] for e in rows])


def camera_body(name: str, onvif_url: str, password: str = SIM_PASSWORD) -> dict[str, str]:
    return {"name": name, "onvif_url": onvif_url, "username": SIM_USER, "password": password}


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


def test_camera_add_with_credentials_in_the_url_is_refused_and_keeps_no_password(
    api, bearer, svc, sim, caplog
):
    """The hostile-review case: a refused ``camera.add`` wrote the URL with its
    ``user:password@`` into the audit log. Now the URL is refused before anything is
    tried; the answer, the audit log and the logs never hold the password."""
    caplog.set_level(logging.DEBUG)
    host = sim.onvif_url.removeprefix("http://")
    body = camera_body("pasted", f"http://{SIM_USER}:{URL_PASSWORD}@{host}")
    before = sim.auth_attempts
    refused = api.post("/api/v1/cameras", json=body, headers=bearer["admin"])
    assert refused.status_code == 400
    message = refused.json["error"]["message"]
    assert "onvif_url" in message and f"{SIM_USER}:***@" in message
    for where in (refused.get_data(as_text=True), audit_text(svc), logged(caplog)):
        assert URL_PASSWORD not in where and SIM_PASSWORD not in where
    assert sim.auth_attempts == before  # nothing was tried with it
    with svc.db.session() as s:
        assert s.execute(select(Camera)).first() is None


def test_camera_edit_with_credentials_in_the_url_is_refused_and_keeps_no_password(
    api, bearer, svc, camera, sim, caplog
):
    caplog.set_level(logging.DEBUG)
    host = sim.onvif_url.removeprefix("http://")
    refused = api.patch(
        f"/api/v1/cameras/{camera.id}",
        json={"onvif_url": f"http://{SIM_USER}:{URL_PASSWORD}@{host}", "password": SIM_PASSWORD},
        headers=bearer["admin"],
    )
    assert refused.status_code == 400 and "onvif_url" in refused.json["error"]["message"]
    for where in (refused.get_data(as_text=True), audit_text(svc), logged(caplog)):
        assert URL_PASSWORD not in where and SIM_PASSWORD not in where
    with svc.db.session() as s:
        assert s.get(Camera, camera.id).onvif_url == sim.onvif_url


def test_refused_camera_add_with_a_wrong_password_keeps_no_password(api, bearer, svc, sim, caplog):
    caplog.set_level(logging.DEBUG)
    body = camera_body("wrong", sim.onvif_url, URL_PASSWORD)
    refused = api.post("/api/v1/cameras", json=body, headers=bearer["admin"])
    assert refused.status_code == 422
    audit = audit_text(svc)
    assert "camera.add" in audit  # the refusal is audited...
    for where in (refused.get_data(as_text=True), audit, logged(caplog)):
        assert URL_PASSWORD not in where  # ...without the password


def test_accepted_camera_whose_stream_uri_carries_credentials_keeps_no_password(
    api, bearer, svc, other, caplog
):
    """A camera that answers GetStreamUri with ``rtsp://user:password@...``: stored,
    shown, audited and logged without the password; the recorder still connects with
    the camera's credentials."""
    caplog.set_level(logging.DEBUG)
    body = camera_body("leaky", other.onvif_url)
    created = api.post("/api/v1/cameras", json=body, headers=bearer["admin"])
    assert created.status_code == 201, created.json
    assert created.json["main_stream_uri"] == other.rtsp_url.replace(
        "rtsp://", f"rtsp://{SIM_USER}:***@"
    )
    camera_id = created.json["id"]
    got = api.get(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"])
    listed = api.get("/api/v1/cameras", headers=bearer["admin"])
    with svc.db.session() as s:
        row = s.get(Camera, camera_id)
        stored = json.dumps([row.onvif_url, row.main_stream_uri, row.sub_stream_uri])
    for where in (
        created.get_data(as_text=True),
        got.get_data(as_text=True),
        listed.get_data(as_text=True),
        stored,
        audit_text(svc),
        logged(caplog),
    ):
        assert SIM_PASSWORD not in where
    # The recorder puts the camera's own credentials back when it connects.
    (spec,) = registered_cameras(svc)
    assert spec.url == other.rtsp_url.replace("rtsp://", f"rtsp://{SIM_USER}:{SIM_PASSWORD}@")


def test_moving_a_camera_to_another_host_needs_the_password_again(
    api, bearer, svc, camera, other, caplog
):
    """Without the password, a new scheme/host/port is refused (400 naming password) and
    the other camera never receives the stored password's digest; with it, the move
    works (which also shows the other camera does count digests)."""
    caplog.set_level(logging.DEBUG)
    url = f"/api/v1/cameras/{camera.id}"
    before = other.auth_attempts
    refused = api.patch(url, json={"onvif_url": other.onvif_url}, headers=bearer["admin"])
    assert refused.status_code == 400
    error = refused.json["error"]
    assert error["details"]["field"] == "password" and "password is required" in error["message"]
    assert other.auth_attempts == before
    with svc.db.session() as s:
        assert s.get(Camera, camera.id).onvif_url != other.onvif_url
        failed = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "camera.update", AuditEntry.outcome == "failed"
            )
        ).scalar_one()
    assert "password is required" in failed.details["error"]
    # Renaming alone, or a new username on the same address, keeps working without it.
    assert api.patch(url, json={"name": "renamed"}, headers=bearer["admin"]).status_code == 200
    moved = api.patch(
        url, json={"onvif_url": other.onvif_url, "password": SIM_PASSWORD}, headers=bearer["admin"]
    )
    assert moved.status_code == 200, moved.json
    assert other.auth_attempts > before
    for where in (moved.get_data(as_text=True), audit_text(svc), logged(caplog)):
        assert SIM_PASSWORD not in where


def test_rtsp_errors_never_name_the_password(caplog):
    """FFmpeg names the URL it failed on, credentials included; the recorder's error (a
    gap's detail, the camera status, the log) does not."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = RtspInput(f"rtsp://{SIM_USER}:{URL_PASSWORD}@127.0.0.1:{port}/stream", timeout=2)
    with pytest.raises(Unavailable) as info:
        source.open()
    source.close()
    assert f"{SIM_USER}:***@127.0.0.1:{port}" in info.value.message
    assert URL_PASSWORD not in str(info.value) and URL_PASSWORD not in logged(caplog)


def test_an_edit_made_against_a_camera_moved_meanwhile_needs_the_password_again(
    svc, control, people, camera, sim, other
):
    """Two admins edit one camera at once: one moves it to another host with the
    password; the other, who read it at its old address, saves that old address without
    the password (a "same address, no password needed" edit when it was read). The
    second edit's check ran against the address it read, so it moved the camera back
    and the password given for the new host would go to the old one (#10.11), undoing
    the move unseen. It must be refused (the password asked for again, or a 409) and
    the camera stay where the first admin moved it."""
    admin = people["admin"]
    resave = parse_model(CameraPatchIn, {"onvif_url": sim.onvif_url}).command()
    move = parse_model(
        CameraPatchIn, {"onvif_url": other.onvif_url, "password": SIM_PASSWORD}
    ).command()
    armed = [True]

    def read(conn, cursor, statement, params, *args) -> None:
        # The second admin's edit has read the camera: the first one's move lands now.
        if armed[0] and statement.lstrip().upper().startswith("SELECT") and "cameras" in statement:
            armed[0] = False
            control.cameras.update(admin, camera.id, move)

    event.listen(svc.db.engine, "after_cursor_execute", read)
    try:
        with pytest.raises(VMSError) as refused:
            control.cameras.update(admin, camera.id, resave)
    finally:
        event.remove(svc.db.engine, "after_cursor_execute", read)
    assert not armed[0]
    assert refused.value.http_status in (400, 409), refused.value
    with svc.db.session() as s:
        assert s.get(Camera, camera.id).onvif_url == other.onvif_url
