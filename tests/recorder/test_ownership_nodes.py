"""Two media nodes sharing cameras through leases (issue 13, item 1), with real
recorders in one process on one database, two simulator cameras, real time: the cameras
spread one per node; a node that stalls (its reconcile stops, its pipeline goes on
writing) loses its camera to the other within 15 s, and the segments it writes after
the takeover are refused by the fencing token and quarantined (footage kept, never
catalogued twice): the catalog shows no overlapping segments of that camera.

(The issue's cluster test with separate processes killed by SIGKILL, gunicorn web
workers and PTZ through another node is not built yet; see the closing note.)"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from tests.conftest import make_config, s3_overrides
from tests.recorder.conftest import PASSWORD, USERNAME, onboard, wait_for
from tests.recorder.test_reliability import gaps, items
from tests.recorder.test_salvage import assert_no_overlaps
from vms.clock import Clock, SystemClock
from vms.config import Config
from vms.leases import cluster_status
from vms.services import Services

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

LEASE_SECONDS = 3


def node_settings(node: str) -> dict[str, str]:
    return {
        "VMS_RECORDER_SEGMENT_SECONDS": "2",
        "VMS_RECORDER_RECONCILE_SECONDS": "1",
        "VMS_CLUSTER_CAMERA_OWNERSHIP": "true",
        "VMS_CLUSTER_CAMERA_LEASE_SECONDS": str(LEASE_SECONDS),
        "VMS_CLUSTER_NODE_ID": node,
    }


@pytest.fixture
def shared_store(request: pytest.FixtureRequest) -> dict[str, str]:
    """The media store both nodes share (a new bucket of the SeaweedFS peer): nodes share
    the database and the media store (ARCHITECTURE 1); separate local media folders are
    separate stores, which the store marker refuses (vms/store_guard.py)."""
    return s3_overrides(request.getfixturevalue("seaweedfs"))


@pytest.fixture
def config(database: tuple[str, Path], shared_store: dict[str, str]) -> Config:
    url, data_dir = database
    return make_config(data_dir, url, **node_settings("node-a"), **shared_store)


@pytest.fixture
def clock() -> Clock:
    return SystemClock()  # real packets, real leases


@pytest.fixture
def node_b(config: Config, tmp_path: Path, shared_store: dict[str, str]) -> Iterator[Services]:
    """A second media node: the same database and media store, its own data folder
    (spool, temp files, quarantine)."""
    data = tmp_path / "node-b"
    data.mkdir()
    shutil.copytree(config.data_dir / "secrets", data / "secrets")  # camera credentials
    services = Services.open(
        make_config(data, config.effective_database_url, **node_settings("node-b"), **shared_store),
        clock=SystemClock(),
    )
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def cams() -> Iterator[list[SimulatedCamera]]:
    made = []
    try:
        for name in ("cam1", "cam2"):
            cam = SimulatedCamera(
                name, size=(320, 180), fps=10, username=USERNAME, password=PASSWORD
            )
            cam.start()
            made.append(cam)
        yield made
    finally:
        for cam in made:
            cam.stop()


def quarantined(services: Services) -> list[Path]:
    return list(services.store.iter_quarantined())


def test_cameras_spread_over_two_nodes_and_a_stalled_node_is_fenced_off(
    services: Services, node_b: Services, cams: list[SimulatedCamera]
) -> None:
    ids = [onboard(services, cam, name=cam.name) for cam in cams]
    a, b = get_recorder(services), get_recorder(node_b)
    started = []
    try:
        for recorder in (a, b):
            recorder.follow_registry()
            recorder.start()
            started.append(recorder)

        def spread() -> bool:
            return len(a.camera_ids()) == 1 and len(b.camera_ids()) == 1

        def settled() -> bool:
            """One camera per node, as the leases say: on a loaded machine a node
            starved past its lease while starting loses its camera to the other (a CI
            run saw both nodes 6 s without a heartbeat, recorder/ownership.py's
            warning), and the spread settles again a round later."""
            mine, theirs = a.camera_ids(), b.camera_ids()
            if len(mine) != 1 or len(theirs) != 1:
                return False
            nodes = {n.node_id: n for n in cluster_status(services.db, services.clock, _lease())}
            return (
                nodes["node-a"].cameras == tuple(mine)
                and nodes["node-b"].cameras == tuple(theirs)
                and nodes["node-b"].alive
                and a.writer(mine[0]).status.segments >= 1  # node-a records it
            )

        wait_for(spread, 15, "one camera per node")
        assert sorted(a.camera_ids() + b.camera_ids()) == sorted(ids)
        wait_for(lambda: all(items(services, c) for c in ids), 30, "segments of both cameras")
        wait_for(settled, 20, "the spread settled, as the leases say")
        [stalled] = a.camera_ids()

        # node-a stalls: no more lease rounds, but its pipeline goes on writing segments.
        fenced_before = len(quarantined(services))  # a takeover while starting has some
        _stall(a)
        stalled_at = time.monotonic()
        wait_for(lambda: stalled in b.camera_ids(), 15, "node-b takes the stalled camera over")
        took = time.monotonic() - stalled_at
        assert took <= 15, took
        # node-a's next segment of it is refused by the fence and kept in quarantine.
        wait_for(
            lambda: len(quarantined(services)) > fenced_before,
            20,
            "node-a's fenced segment quarantined",
        )
        assert a.writer(stalled).status.segments >= 1  # it did record before
        wait_for(lambda: len(items(services, stalled)) >= 3, 30, "node-b records it")
        assert_no_overlaps(services, stalled)  # never two nodes' segments for one time
        # node-a stops (woken, or shut down): the camera's recording goes on at node-b,
        # so node-a writes no gap for it: its gap would start at its own last packet,
        # inside node-b's segments (OPS-4; seen in the cluster test, session 22).
        a.stop()
        started.remove(a)
        wait_for(lambda: len(items(services, stalled)) >= 4, 30, "node-b records on")
        assert_no_overlaps(services, stalled)
        assert not [g for g in gaps(services, stalled) if g.cause == "stopped"]
    finally:
        for recorder in started:
            recorder.stop()
        get_control(services).close()
        get_control(node_b).close()


def _lease() -> dt.timedelta:
    import datetime as dt

    return dt.timedelta(seconds=LEASE_SECONDS)


def _stall(recorder: Recorder) -> None:
    """What a node whose reconcile thread hangs looks like: it stops renewing."""
    follower = recorder._follower
    assert follower is not None
    follower.stop()
