"""PTZ sessions and commands through the API against the simulator: every op, limits,
presets, arbitration and take-over between two users, idle release, rate limit, bad
input, a camera fault mid-session, and the audit entries with ``vms audit verify``
(INV-6, PSCS-2, PSCS-4)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from vms.db.models import AuditEntry
from web.contract import parse_model
from web.schemas.cameras import CalibrationIn
from web.schemas.ptz import OpenSessionIn, PtzCommandIn

pytestmark = pytest.mark.timeout(180)


def url(camera, suffix=""):
    return f"/api/v1/cameras/{camera.id}/ptz{suffix}"


def open_session(api, bearer, camera, user="dispatcher", **body):
    body.setdefault("purpose", "emergency")
    return api.post(url(camera, "/session"), json=body, headers=bearer[user])


def cmd(api, bearer, camera, session_id, user="dispatcher", **body):
    return api.post(url(camera), json={"session_id": session_id, **body}, headers=bearer[user])


def entries(svc, action_prefix="ptz."):
    with svc.db.session() as s:
        rows = s.execute(
            select(AuditEntry)
            .where(AuditEntry.action.startswith(action_prefix))
            .order_by(AuditEntry.seq)
        ).scalars()
        return [(e.action, e.outcome, e.actor, e.details) for e in rows]


def wait_idle(api, bearer, camera, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = api.get(url(camera, "/status"), headers=bearer["dispatcher"]).json
        if not status["moving"]:
            return status
        time.sleep(0.1)
    raise AssertionError("camera still moving")


def test_every_op_with_pose_before_and_after_INV_6(api, bearer, camera, svc, clock, sim):
    session = open_session(api, bearer, camera, incident_number="I-1", note="fire on 5th")
    assert session.status_code == 201, session.json
    sid = session.json["session_id"]
    assert session.json["expires_at"] == "2026-11-20T12:00:30Z"

    r = cmd(api, bearer, camera, sid, op="absolute", pan=0.1, tilt=0.5, zoom=0.2, speed=1.0)
    assert r.status_code == 200, r.json
    assert r.json["outcome"] == "ok" and set(r.json) >= {"pose_before", "pose_after"}
    cal = sim.state()["calibration"]
    expected_pan = cal["pan_min"] + 1.1 / 2 * (cal["pan_max"] - cal["pan_min"])
    assert r.json["target"]["pan"] == pytest.approx(expected_pan)
    status = wait_idle(api, bearer, camera)
    assert status["pose"]["x"] == pytest.approx(0.1, abs=1e-3)
    assert sim.state()["pose"]["pan"] == pytest.approx(expected_pan, abs=0.1)

    clock.advance(dt.timedelta(seconds=1))
    r = cmd(api, bearer, camera, sid, op="absolute", pan=10.0, tilt=-20.0, units="degrees")
    assert r.status_code == 200 and r.json["target"]["pan"] == pytest.approx(10.0)
    wait_idle(api, bearer, camera)
    assert sim.state()["pose"]["pan"] == pytest.approx(10.0, abs=0.1)

    clock.advance(dt.timedelta(seconds=1))
    r = cmd(api, bearer, camera, sid, op="relative", pan=5.0, tilt=0.0, units="degrees")
    assert r.status_code == 200 and r.json["target"]["pan"] == pytest.approx(15.0, abs=0.01)
    wait_idle(api, bearer, camera)
    assert sim.state()["pose"]["pan"] == pytest.approx(15.0, abs=0.1)

    r = cmd(api, bearer, camera, sid, op="continuous", pan=0.5, timeout=5)
    assert r.status_code == 200
    time.sleep(0.3)
    assert sim.state()["moving"]["pan_tilt"] is True
    r = cmd(api, bearer, camera, sid, op="stop")
    assert r.status_code == 200
    assert sim.state()["moving"]["pan_tilt"] is False

    r = cmd(api, bearer, camera, sid, op="set_preset", preset="door")
    assert r.status_code == 200, r.json
    token = r.json["preset_token"]
    assert [p["name"] for p in r.json["presets"]] == ["door"]
    stored = api.get(f"/api/v1/cameras/{camera.id}", headers=bearer["admin"]).json["presets"]
    assert [p["token"] for p in stored] == [token]
    cmd(api, bearer, camera, sid, op="absolute", pan=-0.2, tilt=0.0)
    wait_idle(api, bearer, camera)
    r = cmd(api, bearer, camera, sid, op="goto_preset", preset=token)
    assert r.status_code == 200 and r.json["target"] is not None
    wait_idle(api, bearer, camera)
    r = cmd(api, bearer, camera, sid, op="home")
    assert r.status_code == 200
    wait_idle(api, bearer, camera)
    home = sim.state()["home"]
    assert sim.state()["pose"]["pan"] == pytest.approx(home["pan"], abs=0.1)
    r = cmd(api, bearer, camera, sid, op="remove_preset", preset=token)
    assert r.status_code == 200 and r.json["presets"] == []
    r = cmd(api, bearer, camera, sid, op="goto_preset", preset=token)
    assert r.status_code == 400 and "NoToken" in r.json["error"]["message"]

    commands = [e for e in entries(svc) if e[0] == "ptz.command"]
    ok = [d for a, o, _, d in commands if o == "ok"]
    assert [d["op"] for d in ok] == [
        "absolute",
        "absolute",
        "relative",
        "continuous",
        "stop",
        "set_preset",
        "absolute",
        "goto_preset",
        "home",
        "remove_preset",
    ]
    for d in ok:
        assert d["user"] == "dispatcher" and d["purpose"] == "emergency"
        assert d["incident_number"] == "I-1" and d["session_id"] == sid
        assert {"pan", "tilt", "zoom"} <= set(d["pose_before"]) and d["pose_after"]
        assert "args" in d and "sent" in d
    refused = [d for a, o, _, d in commands if o != "ok"]
    assert refused[-1]["op"] == "goto_preset" and "NoToken" in refused[-1]["reason"]
    assert svc.audit.verify(svc.db) is None


def test_software_limits_clamp_or_refuse(api, bearer, camera, svc, clock):
    cal = {
        **camera.calibration.to_dict(),
        "limit_pan_min": -30.0,
        "limit_pan_max": 30.0,
        "limit_zoom_max": 0.5,
    }
    assert (
        api.put(
            f"/api/v1/cameras/{camera.id}/calibration", json=cal, headers=bearer["admin"]
        ).status_code
        == 200
    )
    sid = open_session(api, bearer, camera).json["session_id"]
    r = cmd(
        api, bearer, camera, sid, op="absolute", pan=90.0, tilt=-10.0, zoom=0.9, units="degrees"
    )
    assert r.status_code == 200 and r.json["clamped"] is True
    assert r.json["target"]["pan"] == pytest.approx(30.0) and r.json["target"]["zoom"] == 0.5
    wait_idle(api, bearer, camera)
    r = cmd(api, bearer, camera, sid, op="relative", pan=20.0, units="degrees")
    assert r.status_code == 200 and r.json["target"]["pan"] == pytest.approx(30.0)
    # At the limit, a continuous move outwards is blocked on that axis.
    r = cmd(api, bearer, camera, sid, op="continuous", pan=0.5, timeout=1)
    assert r.json["sent"]["pan"] == 0.0 and r.json["clamped"] is True


def test_limit_mode_refuse(svc, control, camera, people):
    from onvif_control.cameras import calibration_from_simulator  # noqa: F401

    control.cameras.set_calibration(
        people["admin"],
        camera.id,
        parse_model(
            CalibrationIn, {**camera.calibration.to_dict(), "limit_pan_max": 0.0}
        ).command(),
    )
    control.ptz.commands.config = type(control.ptz.commands.config)(limit_mode="refuse")
    sid = control.ptz.open_session(
        people["dispatcher"],
        camera.id,
        parse_model(OpenSessionIn, {"purpose": "event"}).command(),
    ).session_id
    from vms.errors import FailedPrecondition

    with pytest.raises(FailedPrecondition, match="outside the software limits"):
        control.ptz.command(
            people["dispatcher"],
            camera.id,
            parse_model(
                PtzCommandIn, {"session_id": sid, "op": "absolute", "pan": 45.0, "units": "degrees"}
            ).command(),
        )
    refused = [e for e in entries(svc) if e[0] == "ptz.command"][-1]
    assert refused[1] == "refused" and "pose_before" in refused[3]


def test_take_over_by_priority_and_409_naming_the_holder(api, bearer, camera, svc, sim):
    first = open_session(api, bearer, camera, "dispatcher", incident_number="A")
    assert first.status_code == 201
    events = []
    svc.events.subscribe(lambda topic, payload: events.append((topic, payload)))
    # Equal priority (another dispatcher would be the same role): the admin is higher,
    # so test equality with the supervisor holding and another supervisor-level claim.
    sup = open_session(api, bearer, camera, "sergeant", purpose="investigation")
    assert sup.status_code == 201, sup.json  # supervisor 80 > dispatcher 50
    displaced = [p for t, p in events if t == "ptz.displaced"]
    assert displaced and displaced[0]["username"] == "dispatcher"
    assert displaced[0]["by"] == "sergeant"
    # The displaced dispatcher's session is gone; their commands get 409.
    r = cmd(api, bearer, camera, first.json["session_id"], op="stop")
    assert r.status_code == 409 and "taken_over" in r.json["error"]["message"]
    # Lower priority cannot take back: 409 naming the holder.
    again = open_session(api, bearer, camera, "dispatcher")
    assert again.status_code == 409
    assert again.json["error"]["details"]["holder"] == "sergeant"
    assert "sergeant" in again.json["error"]["message"]
    actions = [(a, o) for a, o, _, _ in entries(svc, "ptz.session")]
    assert actions == [
        ("ptz.session.open", "ok"),
        ("ptz.session.takeover", "ok"),
        ("ptz.session.open", "ok"),
        ("ptz.session.open", "refused"),
    ]


def test_equal_priority_cannot_take_over(svc, control, camera, people):
    from vms.errors import Conflict

    control.ptz.priorities["records_commander"] = 50  # a second role at dispatcher level
    control.ptz.priorities["dispatcher"] = 50
    control.ptz.open_session(
        people["dispatcher"],
        camera.id,
        parse_model(OpenSessionIn, {"purpose": "event"}).command(),
    )
    # Another dispatcher-level user: the admin acts with priority 50 here.
    control.ptz.priorities["admin"] = 50
    with pytest.raises(Conflict, match=r"controlled by dispatcher .*priority 50 cannot"):
        control.ptz.open_session(
            people["admin"],
            camera.id,
            parse_model(OpenSessionIn, {"purpose": "event"}).command(),
        )


def test_admin_reserves_for_maintenance_and_releases_anyone(api, bearer, camera, svc):
    sid = open_session(api, bearer, camera, "sergeant").json["session_id"]
    assert open_session(api, bearer, camera, "sergeant", reserve=True).status_code == 403
    res = open_session(api, bearer, camera, "admin", reserve=True, purpose="maintenance")
    assert res.status_code == 201 and res.json["reservation"] is True
    assert res.json["expires_at"] is None
    assert open_session(api, bearer, camera, "sergeant").status_code == 409
    # The admin releases the reservation; then a supervisor session, released by the admin.
    assert api.delete(url(camera, "/session"), headers=bearer["admin"]).status_code == 200
    sid = open_session(api, bearer, camera, "sergeant").json["session_id"]
    assert api.delete(url(camera, "/session"), headers=bearer["dispatcher"]).status_code == 403
    released = api.delete(url(camera, f"/session?session_id={sid}"), headers=bearer["admin"])
    assert released.status_code == 200 and released.json["end_reason"] == "released_by_admin"
    assert api.get(url(camera, "/session"), headers=bearer["admin"]).json["controller"] is None


def test_idle_session_is_released_after_30_s(api, bearer, camera, svc, clock, control):
    sid = open_session(api, bearer, camera).json["session_id"]
    clock.advance(dt.timedelta(seconds=29))
    assert cmd(api, bearer, camera, sid, op="stop").status_code == 200  # activity renews
    clock.advance(dt.timedelta(seconds=29))
    assert control.ptz.expire_idle() == 0
    clock.advance(dt.timedelta(seconds=2))
    assert control.ptz.expire_idle() == 1
    r = cmd(api, bearer, camera, sid, op="stop")
    assert r.status_code == 409 and "expired" in r.json["error"]["message"]
    expiry = [e for e in entries(svc) if e[0] == "ptz.session.expire"]
    assert expiry and expiry[0][2] == "ptz-arbiter" and expiry[0][3]["user"] == "dispatcher"


def test_expired_session_found_at_command_time(api, bearer, camera, svc, clock):
    sid = open_session(api, bearer, camera).json["session_id"]
    clock.advance(dt.timedelta(seconds=31))
    r = cmd(api, bearer, camera, sid, op="stop")
    assert r.status_code == 409 and "expired" in r.json["error"]["message"]
    # Someone else may now take the camera without priority.
    assert open_session(api, bearer, camera, "sergeant").status_code == 201


def test_commands_are_rate_limited_per_session(api, bearer, camera, svc, clock):
    sid = open_session(api, bearer, camera).json["session_id"]
    codes = [cmd(api, bearer, camera, sid, op="stop").status_code for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429  # burst of 2 x 10/s
    clock.advance(dt.timedelta(seconds=1))
    assert cmd(api, bearer, camera, sid, op="stop").status_code == 200
    limited = [e for e in entries(svc) if e[0] == "ptz.command" and e[1] == "refused"]
    assert len(limited) == 1 and "per second" in limited[0][3]["reason"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"op": "spin"}, 400, "op: 'spin' must be one of"),
        ({"op": "absolute", "pan": 1.5}, 400, "pan 1.5 is outside -1..1"),
        ({"op": "absolute", "pan": "left"}, 400, "pan: 'left' must be a number"),
        # float(10**400) raised OverflowError: a 500 (#10.10); JSON NaN parses
        ({"op": "absolute", "pan": 10**400}, 400, "pan: 1000"),
        ({"op": "absolute", "tilt": float("nan")}, 400, "tilt: nan must be a finite number"),
        ({"op": "absolute", "zoom": -0.1}, 400, "zoom -0.1 is outside 0..1"),
        ({"op": "absolute", "pan": 200, "units": "degrees"}, 400, "outside -180..180 degrees"),
        ({"op": "continuous", "pan": 2}, 400, "outside -1..1"),
        ({"op": "continuous", "timeout": 600}, 400, "timeout 600"),
        ({"op": "stop", "pan": 1}, 400, "does not take pan"),
        ({"op": "goto_preset"}, 400, "needs preset"),
        ({"op": "absolute", "units": "radians"}, 400, "units: 'radians' must be one of"),
        # Not a known field, not text: refused by the model, audited all the same (INV-6).
        ({"op": "absolute", "pan": 0.1, "roll": 1}, 400, "roll is not a field"),
        ({"op": 7}, 400, "op: 7 must be one of"),
    ],
)
def test_invalid_ops_and_values_are_refused_and_audited(
    api, bearer, camera, svc, body, status, message
):
    sid = open_session(api, bearer, camera).json["session_id"]
    r = cmd(api, bearer, camera, sid, **body)
    assert r.status_code == status and message in r.json["error"]["message"], r.json
    last = entries(svc)[-1]
    assert last[0] == "ptz.command" and last[1] == "refused" and last[3]["op"] == str(body["op"])
    assert last[3]["session_id"] == sid and last[3]["user"] == "dispatcher"


def test_session_of_another_user_and_unknown_sessions(api, bearer, camera, svc):
    sid = open_session(api, bearer, camera, "sergeant").json["session_id"]
    r = cmd(api, bearer, camera, sid, user="admin", op="stop")
    assert r.status_code == 403 and "belongs to sergeant" in r.json["error"]["message"]
    assert cmd(api, bearer, camera, "nope", op="stop").status_code == 404
    assert api.post(url(camera), json={"op": "stop"}, headers=bearer["sergeant"]).status_code == 400
    # Roles without PTZ control are refused, and audited (ACC-1).
    assert open_session(api, bearer, camera, "officer").status_code == 403
    assert open_session(api, bearer, camera, "auditor").status_code == 403
    assert open_session(api, bearer, camera, "dispatcher", purpose="curiosity").status_code == 400
    refused = entries(svc)
    assert ("ptz.control", "denied", "officer") in [(a, o, u) for a, o, u, _ in refused]
    purpose = [d for a, o, u, d in refused if a == "ptz.session.open" and o == "refused"]
    assert "PSCS-4" in purpose[0]["reason"]


def test_a_malformed_session_request_is_refused_and_audited(api, bearer, camera, svc):
    """The request model refuses it (400 naming the field and value); the PTZ service
    still authorises it first and audits the refusal (PSCS-2)."""
    r = open_session(api, bearer, camera, reserve="yes")
    assert r.status_code == 400 and "reserve: 'yes'" in r.json["error"]["message"]
    last = entries(svc)[-1]
    assert last[:3] == ("ptz.session.open", "refused", "dispatcher")
    assert last[3]["reserve"] == "yes" and "reserve: 'yes'" in last[3]["reason"]
    # Without PTZ control the refusal is the permission's, audited as denied.
    assert open_session(api, bearer, camera, "officer", reserve="yes").status_code == 403
    assert entries(svc, "ptz.control")[-1][:3] == ("ptz.control", "denied", "officer")


def test_camera_fault_mid_session_is_reported_and_audited(api, bearer, camera, svc, sim):
    sid = open_session(api, bearer, camera).json["session_id"]
    # The camera itself faults on an unknown preset token (a Sender fault).
    r = cmd(api, bearer, camera, sid, op="goto_preset", preset="no-such-token")
    assert r.status_code == 400 and "camera sim-1" in r.json["error"]["message"]
    # The camera goes away mid-session: 503 naming the camera, audited as failed.
    original = camera.onvif_url
    port = sim.onvif_port
    from onvif_control.plugin import get

    control = get(svc)
    control.connections.drop(camera.id)
    with svc.db.transaction() as s:
        from vms.db.models import Camera

        s.get(Camera, camera.id).onvif_url = original.replace(f":{port}/", ":9/")
    control.connections.forget(camera.id)
    r = cmd(api, bearer, camera, sid, op="stop")
    assert r.status_code == 503 and "sim-1" in r.json["error"]["message"]
    last = entries(svc)[-1]
    assert last[0] == "ptz.command" and last[1] == "failed"


def test_status_endpoint(api, bearer, camera):
    r = api.get(url(camera, "/status"), headers=bearer["dispatcher"])
    assert r.status_code == 200 and {"pan", "tilt", "zoom", "x", "y"} <= set(r.json["pose"])
    assert r.json["controller"] is None and r.json["source"] == "camera"
    assert api.get(url(camera, "/status"), headers=bearer["officer"]).status_code == 403


@pytest.mark.parametrize("how", ["close", "takeover", "claim_after_expiry"])
def test_ending_a_session_stops_its_move_INV_6(api, bearer, camera, svc, sim, clock, how):
    """A continuous move must not run on with nobody in control (P5). ``claim_after_expiry``:
    the holder's session is past its idle expiry (A2) but the ``ptz-expire`` job has not
    run yet (it runs every 5 s) when another operator claims the camera; the claim ends
    the expired session. Before the fix that end sent no Stop: the previous holder's
    move (up to 60 s) ran on under the new operator's session."""
    sid = open_session(api, bearer, camera).json["session_id"]
    r = cmd(api, bearer, camera, sid, op="continuous", pan=0.2, timeout=30)
    assert r.status_code == 200, r.json

    def moving() -> bool:
        return any(sim.state()["moving"].values())

    time.sleep(0.3)
    assert moving()
    if how == "close":
        r = api.delete(url(camera, "/session"), headers=bearer["dispatcher"])
        assert r.status_code == 200, r.json
    elif how == "takeover":
        r = open_session(api, bearer, camera, user="admin")
        assert r.status_code == 201, r.json
    else:
        clock.advance(dt.timedelta(seconds=31))  # expired by the clock; no job has run
        r = open_session(api, bearer, camera, user="sergeant", purpose="investigation")
        assert r.status_code == 201 and r.json["username"] == "sergeant", r.json
    deadline = time.monotonic() + 3
    while moving() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not moving()
    stops = [e for e in entries(svc) if e[0] == "ptz.command" and e[2] == "ptz-arbiter"]
    assert stops and stops[-1][1] == "ok" and stops[-1][3]["op"] == "stop"
    # INV-6, PSCS-5: whose move it stopped (the ended session) and where it left the
    # camera; before, the entry named only the camera.
    stop = stops[-1][3]
    assert (stop["session_id"], stop["user"], stop["purpose"]) == (sid, "dispatcher", "emergency")
    assert {"pan", "tilt", "zoom"} <= set(stop["pose_after"])
    assert stop["pose_after"]["moving"] is False


def test_deleting_a_camera_stops_its_move_INV_6(api, bearer, camera, control, svc, sim):
    """P5 when an admin deletes a camera under a continuous move. Before the fix the
    deletion ended the camera's sessions (``camera_deleted``) and dropped its connection
    with no Stop: the move ran on to its ONVIF timeout (up to 60 s) on a camera the
    system no longer knew, under no session at all, and the session's rate-limit bucket
    stayed behind."""

    def moving() -> bool:
        return any(sim.state()["moving"].values())

    sid = open_session(api, bearer, camera).json["session_id"]
    try:
        r = cmd(api, bearer, camera, sid, op="continuous", pan=0.2, timeout=30)
        assert r.status_code == 200, r.json
        time.sleep(0.3)
        assert moving() and sid in control.ptz.commands.buckets
        r = api.delete(f"/api/v1/cameras/{camera.id}", headers=bearer["admin"])
        assert r.status_code == 204, r.json
        deadline = time.monotonic() + 3
        while moving() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not moving()
    finally:
        sim.ptz.stop()  # the module's other tests share the simulator
    assert sid not in control.ptz.commands.buckets
    ptz = entries(svc)
    stops = [e for e in ptz if e[0] == "ptz.command" and e[2] == "ptz-arbiter"]
    assert len(stops) == 1 and stops[0][1] == "ok", stops
    stop = stops[0][3]
    assert (stop["op"], stop["reason"]) == ("stop", "camera deleted")
    assert (stop["session_id"], stop["user"], stop["purpose"]) == (sid, "dispatcher", "emergency")
    assert stop["pose_after"]["moving"] is False
    closed = [e for e in ptz if e[0] == "ptz.session.close"]
    assert [(e[2], e[3]["session_id"], e[3]["reason"]) for e in closed] == [
        ("admin", sid, "camera_deleted")
    ]
    assert svc.audit.verify(svc.db) is None


def test_deleting_an_unreachable_camera_under_a_session_succeeds_P5(
    api, bearer, camera, control, svc, sim
):
    """The Stop before a deletion cannot reach the camera: logged and audited as failed,
    and the camera is deleted all the same (no 500)."""
    from vms.db.models import Camera

    sid = open_session(api, bearer, camera).json["session_id"]
    control.connections.drop(camera.id)
    with svc.db.transaction() as s:  # nothing listens there
        s.get(Camera, camera.id).onvif_url = camera.onvif_url.replace(f":{sim.onvif_port}/", ":9/")
    control.connections.forget(camera.id)
    r = api.delete(f"/api/v1/cameras/{camera.id}", headers=bearer["admin"])
    assert r.status_code == 204, r.json
    assert api.get(f"/api/v1/cameras/{camera.id}", headers=bearer["admin"]).status_code == 404
    ptz = entries(svc)
    stops = [e for e in ptz if e[0] == "ptz.command" and e[2] == "ptz-arbiter"]
    assert len(stops) == 1 and stops[0][1] == "failed", stops
    assert stops[0][3]["session_id"] == sid and "sim-1" in stops[0][3]["error"]
    assert [e[3]["reason"] for e in ptz if e[0] == "ptz.session.close"] == ["camera_deleted"]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "body",
    [
        {"op": "continuous", "pan": 0.3, "timeout": 1},
        {"op": "absolute", "pan": 0.2, "tilt": 0.1, "zoom": 0.0},
        {"op": "stop"},
    ],
)
def test_commands_are_marked_for_the_masks_before_they_are_sent_INV_5(
    api, bearer, camera, control, monkeypatch, body
):
    """The mask plan must know of a move before the camera can start it: a poll reply in
    flight would otherwise call a moving camera idle (docs/design/mask-geometry.md)."""
    from onvif_control import engine

    seen: list[bool] = []
    op = engine.Op(body["op"])
    original = engine.HANDLERS[op]

    def spy(device, token, command):  # the real handler, observed at the moment of sending
        latest = control.tracker.latest(camera.id)
        seen.append(latest is not None and latest.commanded)
        return original(device, token, command)

    monkeypatch.setitem(engine.HANDLERS, op, spy)
    wait_idle(api, bearer, camera)  # a measured pose exists
    sid = open_session(api, bearer, camera).json["session_id"]
    r = cmd(api, bearer, camera, sid, **body)
    assert r.status_code == 200, r.json
    assert seen == [True]


def test_current_session_is_for_live_view_roles_and_its_id_for_the_holder(api, bearer, camera, svc):
    """Issue 10, item 13: an officer or investigator does not see who steers a camera
    (refusal audited); a supervisor sees the controller but not the session id, which
    only the holder and admins get."""
    opened = open_session(api, bearer, camera, "dispatcher", incident_number="I-7")
    assert opened.status_code == 201
    for user in ("officer", "investigator"):
        assert api.get(url(camera, "/session"), headers=bearer[user]).status_code == 403
    seen = {
        user: api.get(url(camera, "/session"), headers=bearer[user]).json["controller"]
        for user in ("dispatcher", "sergeant", "admin")
    }
    assert seen["dispatcher"]["session_id"] == opened.json["session_id"]
    assert seen["admin"]["session_id"] == opened.json["session_id"]
    assert "session_id" not in seen["sergeant"]
    assert seen["sergeant"]["username"] == "dispatcher"
    assert seen["sergeant"]["incident_number"] == "I-7"


def travel(sim, pan, tilt=0.0, timeout=10.0):
    """Move the simulated camera itself (as its own web page or an installer would), not
    through the VMS, and wait until it arrives."""
    from onvif_control.simulator.calibration import Pose

    sim.ptz.absolute(Pose(pan, tilt, 0.0), None)
    end = time.monotonic() + timeout
    while sim.state()["moving"]["pan_tilt"] and time.monotonic() < end:
        time.sleep(0.05)
    assert sim.state()["pose"]["pan"] == pytest.approx(pan, abs=0.1)


@pytest.mark.parametrize("case", ["camera_preset", "overwritten_preset", "home"])
def test_presets_and_home_set_on_the_camera_keep_to_the_software_limits_PSCS_1(
    api, bearer, camera, svc, sim, clock, case
):
    """The software limits (docs/design/ptz-arbitration.md, Commands step 4) keep the
    camera to the views the agency allows (PSCS-1, with the masks); every command that
    moves it is checked against them (INV-6: authorised by the guard). A preset or home
    position set on the camera directly (its web page, an installer) is not the system's
    copy: before the fix a preset token the system did not know, a known token the
    camera had since re-aimed, and ``home`` all went to pan 90 past a 30 degree limit
    (200, the camera turned). Now the camera's own preset list is checked (422 naming
    the preset and its pose) and ``home``, whose pose ONVIF does not give, is refused
    while limits are set (422), audited as refused; the camera does not move."""
    cal = {**camera.calibration.to_dict(), "limit_pan_min": -30.0, "limit_pan_max": 30.0}
    r = api.put(f"/api/v1/cameras/{camera.id}/calibration", json=cal, headers=bearer["admin"])
    assert r.status_code == 200, r.json
    original_home = sim.state()["home"]
    token = None
    sid = open_session(api, bearer, camera).json["session_id"]
    try:
        if case == "camera_preset":
            travel(sim, 90.0)
            token = sim.ptz.set_preset("roof", None).token
        elif case == "overwritten_preset":
            travel(sim, 10.0)
            r = cmd(api, bearer, camera, sid, op="set_preset", preset="door")
            assert r.status_code == 200, r.json
            token = r.json["preset_token"]
            travel(sim, 90.0)
            sim.ptz.set_preset(None, token)  # re-aimed on the camera
        else:
            travel(sim, 90.0)
            sim.ptz.set_home()
        travel(sim, 0.0)
        clock.advance(dt.timedelta(seconds=1))
        if case == "home":
            r = cmd(api, bearer, camera, sid, op="home")
            assert r.status_code == 422, r.json
            assert "home position" in r.json["error"]["message"]
        else:
            r = cmd(api, bearer, camera, sid, op="goto_preset", preset=token)
            assert r.status_code == 422, r.json
            message = r.json["error"]["message"]
            assert f"preset {token!r} at pan 90.0" in message and "software limits" in message
        time.sleep(0.3)
        assert sim.state()["pose"]["pan"] == pytest.approx(0.0, abs=0.1)
        last = entries(svc)[-1]
        assert last[:3] == ("ptz.command", "refused", "dispatcher") and last[3]["pose_before"]
    finally:
        if token is not None:
            sim.ptz.remove_preset(token)
        travel(sim, original_home["pan"], original_home["tilt"])
        sim.ptz.set_home()
