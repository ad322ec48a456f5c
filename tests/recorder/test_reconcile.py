"""The media role follows the camera registry while it runs (issue 10, item 14;
ARCHITECTURE.md section 1): a camera onboarded through the API starts recording, an
edit that changes what the pipeline runs with restarts it, a removed camera stops, each
within 10 s, with the gaps recorded (OPS-4). The plan itself is pure and tested alone.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from onvif_control.cameras import calibration_from_simulator
from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from recorder.engine import get as get_recorder
from recorder.pipeline import CameraSpec
from recorder.reconcile import plan
from recorder.registry import RegistrySnapshot
from tests.conftest import make_config
from tests.recorder.conftest import PASSWORD, USERNAME, wait_for
from tests.recorder.test_reliability import assert_complete, gaps, items
from tests.recorder.test_salvage import assert_no_overlaps
from vms.camera_model import Calibration
from vms.clock import Clock, ManualClock, SystemClock
from vms.config import Config
from vms.errors import InvalidArgument, NotFound
from vms.services import Services

WITHIN = 10.0  # seconds: the bound from a registry change to the recorder


def spec(camera_id: str, url: str = "rtsp://h/s", pan_max: float = 180.0) -> CameraSpec:
    return CameraSpec(camera_id, url, Calibration(pan_max=pan_max))


# -- the plan (pure) ----------------------------------------------------------------------


def test_plan_adds_restarts_and_removes_only_registry_cameras() -> None:
    followed = {"a": spec("a"), "b": spec("b"), "c": spec("c"), "d": spec("d")}
    snapshot = RegistrySnapshot(
        specs={
            "a": spec("a"),  # unchanged
            "b": spec("b", url="rtsp://admin:new@h/s"),  # credentials changed
            "c": spec("c", pan_max=170.0),  # calibration changed (places the masks)
            "e": spec("e"),  # onboarded
            "manual": spec("manual"),  # also added by hand: not ours to start
        },
        unreadable=frozenset({"d"}),  # credentials unreadable: left as it is
    )
    todo = plan(followed, {"manual", "x"}, snapshot)
    assert [s.camera_id for s in todo.add] == ["e"]
    assert [s.camera_id for s in todo.restart] == ["b", "c"]
    assert todo.remove == ()
    gone = plan(followed, set(), RegistrySnapshot({"a": spec("a")}, frozenset()))
    assert gone.remove == ("b", "c", "d") and not gone.add and not gone.restart
    assert plan({"a": spec("a")}, set(), RegistrySnapshot({"a": spec("a")}, frozenset())).empty


def test_reconcile_interval_must_be_positive() -> None:
    with pytest.raises(InvalidArgument, match=r"reconcile_seconds must be above 0, not 0\.0"):
        make_config(Path("/tmp/unused"), "sqlite://", VMS_RECORDER_RECONCILE_SECONDS="0")


# -- a running recorder and the cameras API -----------------------------------------------


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(
        data_dir,
        url,
        VMS_RECORDER_SEGMENT_SECONDS="2",
        VMS_RECORDER_RECONCILE_SECONDS="1",
    )


@pytest.fixture
def clock(request: pytest.FixtureRequest, clock: ManualClock) -> Clock:
    """A test recording the simulator (``sim``) runs in real time: packets arrive in
    real seconds and their capture times, hence the segments, follow the clock that
    reads the arrivals, so its services take the system clock explicitly
    (docs/design/time.md)."""
    return SystemClock() if "sim" in request.fixturenames else clock


def within(predicate: Any, what: str) -> float:
    """Wait for ``predicate`` at most WITHIN seconds; returns how long it took."""
    started = time.monotonic()
    wait_for(predicate, WITHIN, what)
    return time.monotonic() - started


@pytest.mark.timeout(180)
def test_cameras_added_edited_removed_through_the_api_are_followed_within_10_s_OPS_4(
    services: Services, client: Any, tokens: dict[str, str], sim: SimulatedCamera
) -> None:
    """Before: the recorder read the registry once at start; a camera onboarded later
    was never recorded, an edited one kept its old settings, a removed one went on."""
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    recorder = get_recorder(services)
    recorder.follow_registry()  # what `vms serve` does for the media role
    recorder.start()
    try:
        assert recorder.camera_ids() == []
        calibration = calibration_from_simulator(sim.state()["calibration"]).to_dict()
        created = client.post(
            "/api/v1/cameras",
            json={
                "name": "onboarded-while-running",
                "onvif_url": sim.onvif_url,
                "username": USERNAME,
                "password": PASSWORD,
                "calibration": calibration,
            },
            headers=admin,
        )
        assert created.status_code == 201, created.get_json()
        camera_id = created.get_json()["id"]

        # Added: recording (and viewable: the hub exists) within 10 s.
        within(lambda: camera_id in recorder.camera_ids(), "the new camera recorded")
        first = recorder.pipeline(camera_id)
        wait_for(lambda: first.status.packets > 0, WITHIN, "packets from the new camera")
        wait_for(lambda: len(items(services, camera_id)) >= 1, 30, "a first segment")

        # Edited (calibration places the masks): the pipeline restarts within 10 s.
        narrower = {**calibration, "limit_pan_max": 90.0}
        edited = client.put(
            f"/api/v1/cameras/{camera_id}/calibration", json=narrower, headers=admin
        )
        assert edited.status_code == 200, edited.get_json()
        within(lambda: recorder.pipeline(camera_id) is not first, "the camera restarted")
        assert first.status.state == "stopped"
        restarted = recorder.pipeline(camera_id)
        assert restarted.spec.calibration.limit_pan_max == 90.0
        wait_for(lambda: restarted.status.packets > 0, WITHIN, "packets after the restart")
        before = len(items(services, camera_id))
        wait_for(lambda: len(items(services, camera_id)) > before, 30, "a segment after")
        [reconfigured] = [g for g in gaps(services, camera_id) if g.cause == "reconfigured"]
        assert reconfigured.end is not None  # closed by the first packet after

        # Removed: stops within 10 s; the segment in progress is kept, the gap closed.
        deleted = client.delete(f"/api/v1/cameras/{camera_id}", headers=admin)
        assert deleted.status_code == 204
        removed_at = dt.datetime.now(dt.UTC)
        within(lambda: camera_id not in recorder.camera_ids(), "the camera stopped")
        assert restarted.status.state == "stopped"
        with pytest.raises(NotFound):
            recorder.hub(camera_id)
        [removed] = [g for g in gaps(services, camera_id) if g.cause == "removed"]
        last = assert_complete(services, camera_id)[-1]
        assert removed.start == last.recorded_end  # from the last packet written
        assert removed.end is not None and removed.end >= removed_at
        assert_no_overlaps(services, camera_id)
        count = len(items(services, camera_id))
        time.sleep(2.5)
        assert len(items(services, camera_id)) == count, "nothing recorded after removal"
    finally:
        recorder.stop()
        get_control(services).close()
