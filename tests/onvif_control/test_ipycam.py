"""Against a camera not written here: ipycam 1.3.0 (PyPI), on loopback only (see
``ipycam_peer``). Onboarding, stream URI, continuous/stop/absolute/relative/status and
presets through our adapter and the PTZ service, and wrong credentials."""

from __future__ import annotations

import time

import pytest

from onvif_control.adapter.device import OnvifDevice
from tests.onvif_control.ipycam_peer import ipycam_camera
from vms.errors import FailedPrecondition
from web.contract import parse_model
from web.schemas.cameras import NewCameraIn
from web.schemas.ptz import OpenSessionIn, PtzCommandIn

pytestmark = pytest.mark.timeout(120)

USER, PASSWORD = "onvif", "ipycam-pw"


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    import os

    folder = tmp_path_factory.mktemp("ipycam")
    here = os.getcwd()
    os.chdir(folder)  # ipycam writes ptz_presets.json to the working directory
    try:
        with ipycam_camera(USER, PASSWORD, lifetime=150.0) as camera:
            yield camera
    finally:
        os.chdir(here)


def test_peer_listens_on_loopback_only(peer):
    host, _port = peer._http_server.server_address
    assert host == "127.0.0.1" and peer.config.onvif_url.startswith("http://127.0.0.1:")
    if peer.rtsp_server is not None:
        assert peer.rtsp_server.host == "127.0.0.1"


def test_onboarding_and_stream_uri(control, people, peer):
    camera = control.cameras.add(
        people["admin"],
        parse_model(
            NewCameraIn,
            {
                "name": "ipycam",
                "onvif_url": peer.config.onvif_url,
                "username": USER,
                "password": PASSWORD,
            },
        ).command(),
    )
    assert camera.manufacturer == "PythonCam" and camera.ptz_supported is True
    assert camera.main_stream_uri == peer.config.main_stream_rtsp
    assert camera.main_stream_uri.startswith("rtsp://127.0.0.1:")
    assert camera.sub_profile_token == "Profile_Sub"
    assert camera.sub_stream_uri == peer.config.sub_stream_rtsp
    assert camera.capabilities["ptz_node"]["HomeSupported"] is True


def test_wrong_password(control, people, peer):
    with pytest.raises(FailedPrecondition, match="refused the username or password"):
        control.cameras.add(
            people["admin"],
            parse_model(
                NewCameraIn,
                {
                    "name": "bad",
                    "onvif_url": peer.config.onvif_url,
                    "username": USER,
                    "password": "nope",
                },
            ).command(),
        )


def test_ptz_ops_through_the_service(control, people, peer, clock):
    import datetime as dt

    camera = control.cameras.add(
        people["admin"],
        parse_model(
            NewCameraIn,
            {
                "name": "ipycam2",
                "onvif_url": peer.config.onvif_url,
                "username": USER,
                "password": PASSWORD,
            },
        ).command(),
    )
    dispatcher, cid = people["dispatcher"], camera.id
    sid = control.ptz.open_session(
        dispatcher, cid, parse_model(OpenSessionIn, {"purpose": "training"}).command()
    ).session_id

    def run(**body):
        clock.advance(dt.timedelta(seconds=0.2))
        return control.ptz.command(
            dispatcher, cid, parse_model(PtzCommandIn, {"session_id": sid, **body}).command()
        )

    r = run(op="absolute", pan=0.5, tilt=-0.25, zoom=0.3)
    assert (r.pose_after.x, r.pose_after.y, r.pose_after.zoom) == pytest.approx(
        (0.5, -0.25, 0.3), abs=1e-6
    )
    assert peer.ptz.get_status()["pan"] == pytest.approx(0.5)
    r = run(op="relative", pan=-0.25, tilt=0.25, zoom=0.1)
    assert r.pose_after.x == pytest.approx(0.25) and r.pose_after.y == pytest.approx(0.0)
    r = run(op="continuous", pan=0.5)
    time.sleep(0.3)
    status = control.ptz.status(dispatcher, cid)
    assert status.moving is True and status.pose.x > 0.25
    r = run(op="stop")
    assert control.ptz.status(dispatcher, cid).moving is False
    r = run(op="set_preset", preset="gate")
    token = r.preset_token
    assert "gate" in [p["name"] for p in r.presets or []]
    here = r.pose_after.x
    run(op="absolute", pan=-0.5, tilt=0.0, zoom=0.0)
    r = run(op="goto_preset", preset=token)
    assert r.pose_after.x == pytest.approx(here, abs=1e-6)
    r = run(op="home")
    assert r.pose_after.x == pytest.approx(0.0)


def test_adapter_reads_status_with_camera_time(peer):
    import asyncio

    async def go():
        device = OnvifDevice(peer.config.onvif_url, USER, PASSWORD, label="ipycam")
        try:
            return await device.status("Profile_Main")
        finally:
            await device.close()

    status = asyncio.run(go())
    assert status.utc is not None and status.moving is False
