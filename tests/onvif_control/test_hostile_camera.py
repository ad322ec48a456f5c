"""A hostile or broken camera answering onboarding: a camera on a pole may be
compromised and answer anything, and what it answers must not make the media engine read
local files or other hosts, nor hand the camera's credentials to another host (#10.11).

GetStreamUri is the one URL the recorder opens with FFmpeg, with the camera's own
credentials added: only ``rtsp``/``rtsps`` to the camera's own ONVIF host (or a host the
admin named in ``[cameras] stream_hosts``) is taken.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER
from vms.db.models import AuditEntry, Camera
from vms.errors import FailedPrecondition
from web.contract import parse_model
from web.schemas.cameras import NewCameraIn

pytestmark = pytest.mark.timeout(120)


def _body(sim, name: str = "pole-1") -> dict[str, str]:
    return {
        "name": name,
        "onvif_url": sim.onvif_url,
        "username": SIM_USER,
        "password": SIM_PASSWORD,
    }


@pytest.fixture
def answers(sim):
    """Set what the simulator's GetStreamUri answers; restored after the test."""
    yield sim.answer_stream_uri
    sim.answer_stream_uri(None)


@pytest.mark.parametrize(
    "uri",
    [
        "file:///var/lib/vms/secrets/credentials.key",
        "file:///etc/passwd",
        "concat:/etc/passwd|/etc/hostname",
        "subfile:,,start,0,end,0,,:/var/lib/vms/vms.db",
        "http://127.0.0.1:{port}/metrics",
        "rtsp://10.66.6.6:554/stream",
        "rtsp://attacker.example/stream",
        "/etc/passwd",
        # The camera's own host with a port no connection can have, or no host that
        # parses: refused here, not a ValueError later (the certificate API, the relay).
        "rtsps://127.0.0.1:99999/stream1",
        "rtsp://127.0.0.1:rtsp/stream1",
        "rtsps://[::1/stream1",
    ],
)
def test_stream_uri_elsewhere_is_refused_ACC_1(svc, control, sim, people, answers, uri):
    """The camera's answer names a local file, an FFmpeg pseudo-protocol, the media
    node's own HTTP services or another host: onboarding refuses it, naming the URI,
    and stores nothing."""
    answers(uri.format(port=sim.onvif_port))
    with pytest.raises(FailedPrecondition, match="GetStreamUri") as raised:
        control.cameras.add(people["admin"], parse_model(NewCameraIn, _body(sim)).command())
    assert uri.format(port=sim.onvif_port)[:12] in str(raised.value)
    with svc.db.session() as s:
        assert list(s.execute(select(Camera)).scalars()) == []


def test_stream_uri_on_the_camera_host_is_taken(control, sim, people, answers):
    """rtsp to the camera's own host, any port or path, with or without user info."""
    answers(sim.rtsp_url.replace("rtsp://", f"rtsp://{SIM_USER}:x@", 1) + "?track=1")
    made = control.cameras.add(people["admin"], parse_model(NewCameraIn, _body(sim)).command())
    assert (
        made.main_stream_uri
        == sim.rtsp_url.replace("rtsp://", f"rtsp://{SIM_USER}:***@", 1) + "?track=1"
    )


@pytest.mark.parametrize("settings", [{"VMS_CAMERAS_STREAM_HOSTS": "relay.example, 10.66.6.6"}])
def test_stream_hosts_the_admin_named_are_taken(control, sim, people, answers, settings):
    answers("rtsps://10.66.6.6:322/relay/pole-1")
    made = control.cameras.add(people["admin"], parse_model(NewCameraIn, _body(sim)).command())
    assert made.main_stream_uri == "rtsps://10.66.6.6:322/relay/pole-1"


@pytest.fixture
def position(sim):
    """Set what the simulator's GetStatus answers as x, y, zoom; restored after."""
    yield sim.answer_position
    sim.answer_position(None)


@pytest.mark.parametrize(
    "texts",
    [
        ("NaN", "0", "0"),
        ("0", "INF", "0"),
        ("0", "0", "-INF"),
        ("1e308", "0", "0"),
        ("0", "0", "-5"),
    ],
)
def test_impossible_pose_is_no_pose_INV_5_INV_6(api, bearer, camera, svc, position, texts):
    """A camera answers GetStatus with NaN, infinite or absurd numbers: that is no pose.
    The status read fails with a clear error naming the value (no 500, no NaN in the
    JSON), and a PTZ command is refused as at any camera fault and audited (INV-6)
    without such a value as its pose."""
    position(texts)
    status = api.get(f"/api/v1/cameras/{camera.id}/ptz/status", headers=bearer["dispatcher"])
    assert status.status_code in (502, 503), (status.status_code, status.get_data(as_text=True))
    assert "GetStatus" in status.json["error"]["message"], status.json
    session = api.post(
        f"/api/v1/cameras/{camera.id}/ptz/session",
        json={"purpose": "emergency"},
        headers=bearer["dispatcher"],
    )
    assert session.status_code == 201, session.json
    moved = api.post(
        f"/api/v1/cameras/{camera.id}/ptz",
        json={"session_id": session.json["session_id"], "op": "stop"},
        headers=bearer["dispatcher"],
    )
    # As any camera fault mid-session: 503 naming the camera and what it answered.
    assert moved.status_code == 503, moved.get_data(as_text=True)
    assert "impossible position" in moved.json["error"]["message"]
    with svc.db.session() as s:
        audited = [
            (e.outcome, e.details)
            for e in s.execute(
                select(AuditEntry).where(AuditEntry.action == "ptz.command")
            ).scalars()
        ]
    assert [outcome for outcome, _ in audited] == ["failed"]  # INV-6: audited all the same
    assert not [d for _, d in audited if "pose_before" in d or "pose_after" in d]


@pytest.fixture
def identity(sim):
    """Set what the simulator's GetDeviceInformation answers; restored after."""
    yield sim.answer_identity
    sim.answer_identity("VMS project", "Simulated PTZ camera", "0.1.0")


def test_huge_names_from_the_camera_are_cut_not_a_500(api, bearer, svc, sim, identity):
    """GetDeviceInformation answers a 100 KB model name (the columns hold 200
    characters): PostgreSQL refused the row (a 500 for the admin, on one backend
    only). The camera's own words are shown cut to what is kept, marked as cut."""
    identity("M" * 100_000, "X" * 100_000, "1." * 50_000)
    created = api.post("/api/v1/cameras", json=_body(sim, "long-names"), headers=bearer["admin"])
    assert created.status_code == 201, created.get_data(as_text=True)[:500]
    got = created.json
    assert len(got["manufacturer"]) <= 200 and got["manufacturer"].startswith("MMM")
    assert len(got["model"]) <= 200 and got["model"].endswith("…")
    assert len(got["firmware"]) <= 200
    with svc.db.session() as s:
        row = s.execute(select(Camera)).scalar_one()
        assert len(row.model or "") <= 200


def test_an_overlong_stream_uri_is_refused_not_a_500(api, bearer, svc, sim, answers):
    """A 5000-character stream URI on the camera's own host (the column holds 1000): a
    URI cannot be cut, so onboarding refuses it (422 naming GetStreamUri)."""
    answers(sim.rtsp_url + "?pad=" + "a" * 5000)
    created = api.post("/api/v1/cameras", json=_body(sim, "long-uri"), headers=bearer["admin"])
    assert created.status_code == 422, created.get_data(as_text=True)[:500]
    assert "GetStreamUri" in created.json["error"]["message"]
    assert len(created.json["error"]["message"]) < 1000


@pytest.fixture
def faults(sim):
    """Make an operation of the simulator answer a fault; cleared after."""
    made: list[str] = []

    def fault(operation: str, reason: str) -> None:
        made.append(operation)
        sim.answer_fault(operation, reason)

    yield fault
    for operation in made:
        sim.answer_fault(operation, None)


def test_a_huge_fault_reason_does_not_break_the_health_check_OPS_1(svc, control, camera, faults):
    """The camera answers the health probe with a SOAP fault whose reason is 100 KB.
    Its words went whole into the error message and the camera's health_detail (500
    characters): PostgreSQL refused the transaction, so the health job failed for every
    camera (OPS-1), and error replies carried the 100 KB. The camera's words are cut."""
    faults("GetDeviceInformation", "R" * 100_000)
    (change,) = control.health.check_all()
    assert change.new == "offline"
    assert change.detail is not None and "camera fault: RRR" in change.detail
    assert len(change.detail) <= 500
    with svc.db.session() as s:
        assert s.get(Camera, camera.id).health == "offline"


@pytest.fixture
def profile_token(sim):
    """Set the simulator's media profile token; restored after."""
    yield sim.answer_profile_token
    sim.answer_profile_token(None)


def test_an_overlong_profile_token_is_refused_not_a_500(api, bearer, svc, sim, profile_token):
    """GetProfiles names a profile token of 5000 characters (ONVIF's ReferenceToken
    holds 64; the registry's column 200), which the camera then accepts in every call:
    PostgreSQL refused the row (a 500 for the admin, on one backend only). A token
    cannot be cut (it addresses the profile), so onboarding refuses it: 422 naming
    GetProfiles and the length, nothing stored."""
    profile_token("p" * 5000)
    created = api.post("/api/v1/cameras", json=_body(sim, "long-token"), headers=bearer["admin"])
    assert created.status_code == 422, created.get_data(as_text=True)[:500]
    message = created.json["error"]["message"]
    assert "GetProfiles" in message and "5000" in message, message
    assert len(message) < 1000
    with svc.db.session() as s:
        assert list(s.execute(select(Camera)).scalars()) == []


@pytest.fixture
def camera_time(sim):
    """Set what the simulator's GetStatus answers as its UtcTime; restored after."""
    yield sim.answer_utc
    sim.answer_utc(None)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_camera_time_out_of_range_does_not_lose_the_pose_INV_5(
    api, bearer, camera, camera_time, text
):
    """GetStatus answers a UtcTime that is valid ISO 8601 but out of Python's range once
    moved to UTC. Reading it raised OverflowError (not 'no time', as for any other bad
    text): every status read failed and dropped the connection, never falling back, so
    the pose was never known (every frame blanked, INV-5) and the camera was reconnected
    at each poll. The camera's time is optional: the pose is read without it."""
    camera_time(text)
    status = api.get(f"/api/v1/cameras/{camera.id}/ptz/status", headers=bearer["dispatcher"])
    assert status.status_code == 200, status.get_data(as_text=True)[:500]
