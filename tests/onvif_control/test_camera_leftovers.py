"""A deleted camera leaves nothing behind in the camera-control objects of a process that
runs for months: cameras are onboarded and deleted through the service as an admin does,
the pose tracker polling them meanwhile, and then no per-camera entry names them (the
steering locks, the connections' rows and ONVIF connections, the tracker's poses and
poll counts)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from onvif_control.guard import Command, Op
from onvif_control.plugin import CameraControl
from onvif_control.ptz_sessions import SteeringLocks
from onvif_control.simulator import SimulatedCamera
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER
from vms.auth.permissions import Actor
from vms.clock import SystemClock
from web.contract import parse_model
from web.schemas.cameras import NewCameraIn

pytestmark = pytest.mark.timeout(120)

CAMERAS = 4


def keys(entries: object) -> set[str]:
    """The camera ids a per-camera table holds (none for a value that is not a table)."""
    return set(entries) if isinstance(entries, Mapping) else set()


def wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def test_deleted_cameras_leave_no_per_camera_entries(
    control: CameraControl, sim: SimulatedCamera, people: dict[str, Actor]
) -> None:
    admin = people["admin"]
    tracker = control.tracker
    tracker.clock = SystemClock()  # sample times must advance
    control.engine.tracker.clock = SystemClock()
    tracker.start()
    try:
        made = []
        for i in range(CAMERAS):
            body = {
                "name": f"short-lived-{i}",
                "onvif_url": sim.onvif_url,
                "username": SIM_USER,
                "password": SIM_PASSWORD,
            }
            made.append(control.cameras.add(admin, parse_model(NewCameraIn, body).command()).id)
        # Used as cameras are: polled by the tracker, one steered (a Stop) meanwhile.
        wait_for(lambda: set(made) <= set(tracker.polls_by_camera), 20, "each camera polled")
        control.engine.execute(made[0], Command(Op.STOP))
        for camera_id in made:
            control.cameras.delete(admin, camera_id)

        def left() -> dict[str, set[str]]:
            return {
                "steering locks": keys(control.ptz.sessions.steering._locks) & set(made),
                "connection rows": keys(control.connections._records) & set(made),
                "connections": keys(control.connections._devices) & set(made),
                "tracked poses": keys(tracker._tracks) & set(made),
                "poll counts": keys(tracker.polls_by_camera) & set(made),
            }

        # The tracker reads the registry every CAMERA_LIST_SECONDS (3 s).
        wait_for(lambda: not any(left().values()), 10, "the deleted cameras forgotten")
    except AssertionError:
        raise AssertionError(f"left behind: {left()}") from None
    finally:
        tracker.stop()


def test_a_steering_lock_in_use_is_never_dropped_from_under_its_holder_P5() -> None:
    """The lock of a camera is dropped by the last one out: while a command holds it and
    others wait, all of them share it (one command at a time reaches the camera, P5),
    and nothing is kept once they are done."""
    locks = SteeringLocks()
    count = threading.Lock()
    inside, most = 0, 0

    def steer() -> None:
        nonlocal inside, most
        for _ in range(300):
            with locks("cam"):
                with count:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0)
                with count:
                    inside -= 1

    threads = [threading.Thread(target=steer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert most == 1
    assert locks._locks == {}


def test_a_row_read_just_before_the_camera_is_deleted_is_not_cached_nor_connected(
    control: CameraControl, camera: Any, people: dict[str, Actor], monkeypatch: Any
) -> None:
    """A poll that read the camera's row just before an admin deleted the camera stored
    that row and a new ONVIF connection after the deletion had dropped them: both kept
    for good, the connection never closed. Now a refresh that a drop overlapped stores
    nothing and reads the row again (here: gone, NotFound)."""
    import onvif_control.connections as connections_module
    from vms.errors import NotFound

    connections = control.connections
    connections.forget(camera.id)
    real = connections_module.record_of

    def deleted_meanwhile(row: Any) -> Any:
        record = real(row)  # the row, as read by the poll
        monkeypatch.setattr(connections_module, "record_of", real)
        control.cameras.delete(people["admin"], camera.id)  # commits, drops meanwhile
        return record

    monkeypatch.setattr(connections_module, "record_of", deleted_meanwhile)
    try:
        got: object = connections.device(camera.id)
    except NotFound as exc:
        got = exc
    left = {
        "row": connections._records.get(camera.id),
        "connection": connections._devices.get(camera.id),
    }
    assert left == {"row": None, "connection": None}
    assert isinstance(got, NotFound), got


def test_a_camera_dropped_just_after_its_connection_was_made_is_an_answer_not_a_crash(
    control: CameraControl, camera: Any, monkeypatch: Any
) -> None:
    """``device()`` refreshes, then takes the connection the refresh stored; a drop in
    between (the camera deleted, or handed to another node) left nothing to take: a
    ``KeyError``, a 500 from the PTZ API. Now the caller is told to try again."""
    from vms.errors import Unavailable

    connections = control.connections
    connections.drop(camera.id)
    real = connections._refresh

    def dropped_after(camera_id: str) -> Any:
        record = real(camera_id)
        connections.drop(camera_id)  # the deletion lands here
        return record

    monkeypatch.setattr(connections, "_refresh", dropped_after)
    with pytest.raises(Unavailable, match="try again"):
        connections.device(camera.id)


def test_the_web_process_masks_kept_of_a_deleted_camera_go_with_it(
    svc: Any, api: Any, bearer: dict[str, dict[str, str]], camera: Any
) -> None:
    """The web process reads masks (``current``; the PTZ-use report's ``zones_of`` too
    before it kept nothing new) and keeps them per camera; only the media engine dropped
    a camera from them (its pipeline stopped), so a web process running for months kept
    every camera deleted since it started."""
    from privacy_masks.service import MaskService

    masks = svc.ports.find(MaskService)
    assert masks.current(camera.id).polygons == ()  # kept, as a read of the web process
    assert camera.id in masks._in_force
    response = api.delete(f"/api/v1/cameras/{camera.id}", headers=bearer["admin"])
    assert response.status_code == 204, response.get_json()
    assert camera.id not in masks._in_force


def test_a_report_after_a_camera_was_deleted_does_not_keep_its_masks(
    svc: Any, control: CameraControl, camera: Any, people: dict[str, Actor]
) -> None:
    """The PTZ-use report asks for the masks of every camera in its period's audit, the
    deleted ones too (their commands are still counted into their masks, PSCS-5): each
    such report put a deleted camera back into what the web process keeps, for good.
    Now a report keeps no camera that was not kept before it."""
    from privacy_masks.service import MaskService

    masks = svc.ports.find(MaskService)
    control.cameras.delete(people["admin"], camera.id)
    assert masks.zones_of([camera.id]) == {camera.id: []}  # as the report reads them
    assert camera.id not in masks._in_force
