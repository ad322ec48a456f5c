"""A media node's internal API after its camera lease passed to another node (issue 13.2,
docs/design/internal-api.md, node side, rule 4: a camera this node does not hold is 503;
a node never steers a camera it does not poll, INV-9).

The node learns that it lost a camera at its next reconcile round; until then its
memory still lists the camera (a node that stalled past its lease, then woke: a paused
VM, a long GC, a database out of reach). A web process forwards by the lease row, so a
request can still reach it: the node checks the lease row itself before it serves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from recorder.engine import get as get_recorder
from recorder.ownership import Ownership
from tests.conftest import make_config
from tests.recorder.conftest import onboard
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera
from vms.clock import ManualClock
from vms.config import Config
from vms.services import Services
from web.internal import create_internal_app
from web.nodes import CREDENTIAL_HEADER, internal_token


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(
        data_dir, url, VMS_CLUSTER_CAMERA_OWNERSHIP="true", VMS_CLUSTER_NODE_ID="node-a"
    )


@pytest.fixture
def camera(services: Services, sim: SimulatedCamera) -> Iterator[str]:
    recorder = get_recorder(services)
    try:
        yield onboard(services, sim)
    finally:
        recorder.stop()
        get_control(services).close()


def test_a_camera_taken_over_is_503_on_its_old_node_before_its_next_round_INV_9(
    services: Services, clock: ManualClock, camera: str, tokens: dict[str, str]
) -> None:
    recorder = get_recorder(services)
    recorder.start()  # no reconcile thread: this node's rounds happen only when called
    ownership = recorder.ownership
    assert ownership is not None and ownership.node_id == "node-a"
    assert ownership.round([camera]) == {camera: 1}
    found = services.users.authenticate_token(tokens["dispatcher"])
    assert found is not None
    headers = {
        "Authorization": f"Bearer {internal_token(services)}",
        CREDENTIAL_HEADER: f"{found.credential.kind}:{found.credential.digest}",
    }
    node: Any = create_internal_app(services).test_client()
    status = f"/api/v1/cameras/{camera}/ptz/status"
    assert node.get(status, headers=headers).status_code == 200  # its camera: served

    # node-a stalls past its lease; node-b takes the camera over.
    clock.advance(services.config.cluster.camera_lease * 2)
    other = Ownership(services.db, clock, "node-b", services.config.cluster.camera_lease)
    assert other.round([camera]) == {camera: 2}
    assert camera in ownership.tokens  # node-a has not noticed yet
    r = node.get(status, headers=headers)
    assert r.status_code == 503, r.get_json()
    assert "node-a" in r.get_json()["error"]["message"]
