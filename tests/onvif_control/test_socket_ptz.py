"""Socket.IO for PTZ: the joystick event goes through the same guard and audit as the
REST API, and the displaced operator alone is told of a take-over."""

from __future__ import annotations

import pytest

from web.contract import parse_model
from web.schemas.ptz import OpenSessionIn

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sockets(svc, bearer):
    from web.app import create_app

    app, socketio = create_app(svc, testing=True)

    def connect(user):
        return socketio.test_client(app, headers=bearer[user]), None

    return connect


def test_joystick_and_take_over_notice_INV_6(sockets, camera, svc, control, people):
    dispatcher, _ = sockets("dispatcher")
    sergeant, _ = sockets("sergeant")
    officer, _ = sockets("officer")
    assert dispatcher.is_connected() and officer.is_connected()
    sid = control.ptz.open_session(
        people["dispatcher"],
        camera.id,
        parse_model(OpenSessionIn, {"purpose": "event"}).command(),
    )
    ack = dispatcher.emit(
        "ptz.command",
        {
            "camera_id": camera.id,
            "session_id": sid.session_id,
            "op": "continuous",
            "pan": 0.2,
            "timeout": 0.5,
        },
        callback=True,
    )
    assert ack["outcome"] == "ok" and ack["pose_before"] and ack["pose_after"]
    bad = officer.emit("ptz.command", {"camera_id": camera.id, "op": "stop"}, callback=True)
    assert bad["error"]["kind"] == "permission_denied"
    status = dispatcher.emit("ptz.status", {"camera_id": camera.id}, callback=True)
    assert status["controller"]["username"] == "dispatcher"
    for client in (dispatcher, sergeant, officer):
        client.get_received()
    control.ptz.open_session(
        people["sergeant"],
        camera.id,
        parse_model(OpenSessionIn, {"purpose": "emergency"}).command(),
    )
    told = [m for m in dispatcher.get_received() if m["name"] == "ptz.displaced"]
    assert told and told[0]["args"][0]["by"] == "sergeant"
    assert not [m for m in sergeant.get_received() if m["name"] == "ptz.displaced"]
    assert not [m for m in officer.get_received() if m["name"].startswith("ptz.")]
    for client in (dispatcher, sergeant, officer):
        client.disconnect()


def test_a_malformed_joystick_command_is_refused_by_the_model_and_audited_INV_6(
    sockets, camera, svc, control, people
):
    """The event is parsed by the REST API's request model; what it refuses is still
    authorised and audited as a refused command, with the session's context."""
    from sqlalchemy import select

    from vms.db.models import AuditEntry

    dispatcher, _ = sockets("dispatcher")
    sid = control.ptz.open_session(
        people["dispatcher"], camera.id, parse_model(OpenSessionIn, {"purpose": "event"}).command()
    ).session_id
    ack = dispatcher.emit(
        "ptz.command",
        {"camera_id": camera.id, "session_id": sid, "op": "spin", "pan": "left"},
        callback=True,
    )
    assert ack["error"]["kind"] == "invalid_argument"
    assert "op: 'spin' must be one of" in ack["error"]["message"]
    assert "pan: 'left' must be a number" in ack["error"]["message"]
    with svc.db.session() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().first()
    assert (last.action, last.outcome, last.actor) == ("ptz.command", "refused", "dispatcher")
    assert last.details["op"] == "spin" and last.details["session_id"] == sid
    assert last.details["purpose"] == "event" and last.details["args"] == {"pan": "left"}


def test_the_session_id_goes_only_to_its_holder_ACC_1(
    sockets, camera, svc, control, people, api, bearer
):
    """GET .../ptz/session shows a session's id only to its holder and admins (issue 10
    item 13), but the same id went to every viewer in GET .../ptz/status, the
    ``ptz.status`` event and the ``ptz.session`` event to the whole ``ptz`` room."""
    holder, _ = sockets("dispatcher")
    viewer, _ = sockets("sergeant")
    for client in (holder, viewer):
        client.get_received()
    sid = control.ptz.open_session(
        people["dispatcher"], camera.id, parse_model(OpenSessionIn, {"purpose": "event"}).command()
    ).session_id

    def sessions_told(client):
        return [
            m["args"][0]["controller"]
            for m in client.get_received()
            if m["name"] == "ptz.session" and m["args"][0]["controller"]
        ]

    assert any(c.get("session_id") == sid for c in sessions_told(holder))
    assert [c.get("session_id") for c in sessions_told(viewer)] == [None]
    seen = viewer.emit("ptz.status", {"camera_id": camera.id}, callback=True)
    assert seen["controller"]["username"] == "dispatcher" and "session_id" not in seen["controller"]
    own = holder.emit("ptz.status", {"camera_id": camera.id}, callback=True)
    assert own["controller"]["session_id"] == sid
    rest = api.get(f"/api/v1/cameras/{camera.id}/ptz/status", headers=bearer["sergeant"]).json
    assert rest["controller"]["username"] == "dispatcher" and "session_id" not in rest["controller"]
    admin = api.get(f"/api/v1/cameras/{camera.id}/ptz/status", headers=bearer["admin"]).json
    assert admin["controller"]["session_id"] == sid
    for client in (holder, viewer):
        client.disconnect()
