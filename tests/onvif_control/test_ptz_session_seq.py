"""The camera's PTZ session sequence (docs/design/ptz-arbitration.md P6): every change
of a camera's sessions (take, the holder's own replacement, take-over, release, an
admin's release, idle expiry) advances it by one, under the camera's row lock; a refused
claim and a command do not. ``ptz.session`` events, the PTZ status (REST and Socket.IO),
``GET .../ptz/session`` and the answers of a take and a release carry it, so a page can
tell a stale event from a newer status. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from onvif_control.plugin import get
from vms.clock import ManualClock
from vms.services import Services

pytestmark = pytest.mark.timeout(120)


def url(camera: Any, leaf: str) -> str:
    return f"/api/v1/cameras/{camera.id}/ptz{leaf}"


def take(api: Any, bearer: Any, camera: Any, user: str, **body: Any) -> Any:
    body.setdefault("purpose", "emergency")
    return api.post(url(camera, "/session"), json=body, headers=bearer[user])


def seen(api: Any, bearer: Any, camera: Any, user: str = "dispatcher") -> tuple[int, int]:
    """The sequence in the status and in ``GET .../ptz/session``."""
    status = api.get(url(camera, "/status"), headers=bearer[user])
    controller = api.get(url(camera, "/session"), headers=bearer[user])
    assert status.status_code == 200 and controller.status_code == 200, status.json
    return status.json["session_seq"], controller.json["session_seq"]


def test_each_session_change_advances_the_cameras_sequence_in_events_and_status(
    api: Any, bearer: Any, camera: Any, svc: Services, clock: ManualClock
) -> None:
    events: list[dict[str, Any]] = []
    svc.events.subscribe(
        lambda topic, payload: events.append(payload) if topic == "ptz.session" else None
    )
    assert seen(api, bearer, camera) == (0, 0)  # a camera nobody took yet

    steps: list[tuple[str, Any]] = []
    first = take(api, bearer, camera, "dispatcher")
    steps.append(("take", first))
    steps.append(("replace own (A3)", take(api, bearer, camera, "dispatcher")))
    steps.append(("take-over (A5)", take(api, bearer, camera, "sergeant", purpose="investigation")))
    refused = take(api, bearer, camera, "dispatcher")  # lower priority: refused, no change
    assert refused.status_code == 409
    sid = steps[-1][1].json["session_id"]
    released = api.delete(url(camera, f"/session?session_id={sid}"), headers=bearer["sergeant"])
    steps.append(("release", released))
    steps.append(("take again", take(api, bearer, camera, "dispatcher")))
    sid = steps[-1][1].json["session_id"]
    admin = api.delete(url(camera, f"/session?session_id={sid}"), headers=bearer["admin"])
    steps.append(("admin release (A6)", admin))
    steps.append(
        (
            "reservation (A4)",
            take(api, bearer, camera, "admin", purpose="maintenance", reserve=True),
        )
    )
    sid = steps[-1][1].json["session_id"]
    steps.append(
        ("released", api.delete(url(camera, f"/session?session_id={sid}"), headers=bearer["admin"]))
    )

    for n, (what, answer) in enumerate(steps, start=1):
        assert answer.status_code in (200, 201), (what, answer.json)
        assert answer.json["session_seq"] == n, what
    assert [e["session_seq"] for e in events] == list(range(1, len(steps) + 1))
    assert [e["controller"] is None for e in events] == [
        False,
        False,
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    assert all(
        e["controller"]["session_seq"] == e["session_seq"] for e in events if e["controller"]
    )
    assert seen(api, bearer, camera) == (len(steps), len(steps))

    # A command is not a change of control; expiry (the ptz-expire job, A2) is.
    held = take(api, bearer, camera, "dispatcher").json
    assert held["session_seq"] == len(steps) + 1
    moved = api.post(
        url(camera, ""),
        json={"session_id": held["session_id"], "op": "stop"},
        headers=bearer["dispatcher"],
    )
    assert moved.status_code == 200, moved.json
    assert seen(api, bearer, camera) == (len(steps) + 1, len(steps) + 1)
    clock.advance(dt.timedelta(seconds=svc.config.ptz.idle_release_seconds + 1))
    # Expired by the clock: shown as nobody, at the same number until the job ends it.
    status = api.get(url(camera, "/status"), headers=bearer["dispatcher"]).json
    assert status["controller"] is None and status["session_seq"] == len(steps) + 1
    assert get(svc).ptz.expire_idle() == 1
    assert events[-1] == {"camera_id": camera.id, "session_seq": len(steps) + 2, "controller": None}
    assert seen(api, bearer, camera) == (len(steps) + 2, len(steps) + 2)


def test_the_socket_status_carries_the_sequence(
    api: Any, bearer: Any, camera: Any, svc: Services
) -> None:
    """``ptz.status`` over Socket.IO is ``GET .../ptz/status``: the sequence with it."""
    from web.app import create_app

    taken = take(api, bearer, camera, "dispatcher")
    assert taken.status_code == 201
    flask_app, socketio = create_app(svc, testing=True)
    token = bearer["dispatcher"]["Authorization"]
    client = socketio.test_client(flask_app, headers={"Authorization": token})
    try:
        reply = client.emit("ptz.status", {"camera_id": camera.id}, callback=True)
    finally:
        client.disconnect()
    assert reply["session_seq"] == 1, reply
    assert reply["controller"]["session_id"] == taken.json["session_id"]


def test_deleting_a_camera_tells_its_viewers_nobody_controls_it_with_the_next_number(
    api: Any, bearer: Any, camera: Any, svc: Services
) -> None:
    """A deletion ends the camera's open sessions (``camera_deleted``, P5). Before, it
    published no ``ptz.session``: the live wall and the camera page kept showing the
    holder ("Controlled by dispatcher") of a camera that no longer existed, and the
    holder's page kept its controls. Now the end is published like any other, numbered
    after every number the camera had (P6), so a page applies it."""
    events: list[dict[str, Any]] = []
    svc.events.subscribe(
        lambda topic, payload: events.append(payload) if topic == "ptz.session" else None
    )
    assert take(api, bearer, camera, "dispatcher").status_code == 201
    assert take(api, bearer, camera, "sergeant", purpose="investigation").status_code == 201
    assert [e["session_seq"] for e in events] == [1, 2]
    deleted = api.delete(f"/api/v1/cameras/{camera.id}", headers=bearer["admin"])
    assert deleted.status_code == 204, deleted.json
    assert events[2:] == [{"camera_id": camera.id, "session_seq": 3, "controller": None}]


def test_deleting_a_camera_nobody_controls_publishes_no_session_change(
    api: Any, bearer: Any, camera: Any, svc: Services
) -> None:
    """No open session, nothing ended: the pages already show nobody (the release was
    published), so the deletion adds no ``ptz.session``."""
    events: list[dict[str, Any]] = []
    svc.events.subscribe(
        lambda topic, payload: events.append(payload) if topic == "ptz.session" else None
    )
    sid = take(api, bearer, camera, "dispatcher").json["session_id"]
    released = api.delete(url(camera, f"/session?session_id={sid}"), headers=bearer["dispatcher"])
    assert released.status_code == 200, released.json
    deleted = api.delete(f"/api/v1/cameras/{camera.id}", headers=bearer["admin"])
    assert deleted.status_code == 204, deleted.json
    assert [e["session_seq"] for e in events] == [1, 2]
