"""The internal API between web processes and media nodes (issue 13.2; web/internal.py,
web/nodes.py), as an attacker and as a failure would meet it.

The node side: without the cluster's internal token nothing is served (403, marked so
the web process says the node is misconfigured instead of signing the user out); with
it, the user's credential is authenticated again on the node (unknown or revoked: 401);
only the camera live routes are there (anything else 404); a camera the node does not
hold is 503, never forwarded again.

The web side, with camera ownership on: the caller is authenticated before anything is
forwarded; a caller who may not watch cameras learns nothing (403, audited); a camera
with no live node, a node that refuses connections, one that never answers and one
that refuses the internal token each give 503 naming the camera and the node, within
``[cluster] internal_timeout_seconds``.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from tests.conftest import make_config
from tests.peers.sockets import closed_port, silent_server
from tests.recorder.conftest import onboard
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import AuditEntry, CameraLease, MediaNode
from vms.services import Services
from web.internal import NodeListener, create_internal_app
from web.nodes import CREDENTIAL_HEADER, NODE_HEADER, REFUSED_HEADER, TOKEN_FILE, internal_token

TIMEOUT = 1.0  # [cluster] internal_timeout_seconds of these tests


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(
        data_dir,
        url,
        VMS_CLUSTER_CAMERA_OWNERSHIP="true",
        VMS_CLUSTER_INTERNAL_TIMEOUT_SECONDS=str(TIMEOUT),
    )


@pytest.fixture
def node(services: Services) -> Any:
    return create_internal_app(services).test_client()


def credential_of(services: Services, token: str) -> str:
    found = services.users.authenticate_token(token)
    assert found is not None
    return f"{found.credential.kind}:{found.credential.digest}"


def internal(services: Services, token: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {internal_token(services)}"}
    if token is not None:
        headers[CREDENTIAL_HEADER] = credential_of(services, token)
    return headers


SNAPSHOT = "/api/v1/cameras/cam-1/snapshot.jpg"


# -- the node's side ---------------------------------------------------------------------


def test_the_token_file_is_readable_by_the_service_user_only(services: Services) -> None:
    internal_token(services)
    mode = (services.config.secrets_dir / TOKEN_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_health_needs_no_token_but_the_camera_routes_do(
    services: Services, node: Any, tokens: dict[str, str]
) -> None:
    assert node.get("/healthz").status_code == 200
    for headers in ({}, {"Authorization": "Bearer " + "0" * 64}, {"Authorization": "Basic x"}):
        r = node.get(SNAPSHOT, headers={**headers, CREDENTIAL_HEADER: "x"})
        assert r.status_code == 403
        assert r.headers[REFUSED_HEADER] == "token"
        assert "internal token" in r.get_json()["error"]["message"]


def test_the_users_credential_is_authenticated_again_on_the_node(
    services: Services, node: Any, tokens: dict[str, str], actors: dict[str, Actor]
) -> None:
    token = internal(services)
    for sent in ("", "token:", "token:" + "a" * 64, "session:nothing", "password:x"):
        r = node.get(SNAPSHOT, headers={**token, CREDENTIAL_HEADER: sent})
        assert r.status_code == 401, sent
        assert REFUSED_HEADER not in r.headers  # the user's, not the deployment's fault
    good = internal(services, tokens["dispatcher"])
    services.users.revoke_token(actors["dispatcher"], tokens["dispatcher"])
    assert node.get(SNAPSHOT, headers=good).status_code == 401


def test_only_the_camera_live_routes_are_served(
    services: Services, node: Any, tokens: dict[str, str]
) -> None:
    headers = internal(services, tokens["admin"])
    for path in (
        "/api/v1/media",
        "/api/v1/cameras/cam-1/timeline",
        "/api/v1/cameras/cam-1/recording/state",
        "/api/v1/audit/ptz",
        "/api/v1/me/wall-layout",
        "/login",
    ):
        r = node.get(path, headers=headers)
        assert r.status_code == 404, path


def test_a_camera_the_node_does_not_record_is_503_not_forwarded_again(
    services: Services, node: Any, tokens: dict[str, str]
) -> None:
    r = node.get(SNAPSHOT, headers=internal(services, tokens["dispatcher"]))
    assert r.status_code == 503
    assert "no media engine" in r.get_json()["error"]["message"]


# -- the web side --------------------------------------------------------------------------


def lease(services: Services, camera_id: str, node_id: str, url: str | None) -> None:
    now = services.clock.now()
    with services.db.transaction() as s:
        s.merge(
            MediaNode(
                node_id=node_id, internal_url=url, capacity=0, started_at=now, heartbeat_at=now
            )
        )
        s.merge(
            CameraLease(
                camera_id=camera_id,
                node_id=node_id,
                token=1,
                expires_at=now + services.config.cluster.camera_lease,
            )
        )


@pytest.fixture
def camera(services: Services, sim: SimulatedCamera) -> Iterator[str]:
    try:
        yield onboard(services, sim)
    finally:
        get_control(services).close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_nothing_leaves_for_a_caller_who_is_not_signed_in(client: Any, camera: str) -> None:
    r = client.get(f"/api/v1/cameras/{camera}/snapshot.jpg")
    assert r.status_code == 401


def test_a_caller_who_may_not_watch_learns_nothing_about_the_camera(
    services: Services, client: Any, camera: str, tokens: dict[str, str]
) -> None:
    for cam in (camera, "no-such-camera"):
        r = client.get(f"/api/v1/cameras/{cam}/snapshot.jpg", headers=bearer(tokens["officer"]))
        assert r.status_code == 403, cam
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(AuditEntry.actor == "officer", AuditEntry.outcome == "denied")
        ).scalars()
        assert {e.target for e in denied} >= {f"camera:{camera}", "camera:no-such-camera"}


def test_an_unknown_camera_is_404_and_one_between_nodes_503(
    client: Any, camera: str, tokens: dict[str, str]
) -> None:
    r = client.get("/api/v1/cameras/no-such/snapshot.jpg", headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 404
    r = client.get(f"/api/v1/cameras/{camera}/snapshot.jpg", headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 503
    assert "no live media node" in r.get_json()["error"]["message"]
    r = client.post(
        f"/api/v1/cameras/{camera}/ptz/session",
        json={"purpose": "incident"},
        headers=bearer(tokens["dispatcher"]),
    )
    assert r.status_code == 503


def test_a_node_that_has_not_announced_its_url_is_named(
    services: Services, client: Any, camera: str, tokens: dict[str, str]
) -> None:
    lease(services, camera, "node-x", None)
    r = client.get(f"/api/v1/cameras/{camera}/snapshot.jpg", headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 503
    assert "node-x" in r.get_json()["error"]["message"]


@pytest.fixture
def silent_node() -> Iterator[str]:
    with silent_server() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("down", ["refuses connections", "never answers"])
def test_a_node_that_is_down_gives_503_naming_it_within_the_timeout(
    services: Services,
    client: Any,
    camera: str,
    tokens: dict[str, str],
    down: str,
    request: pytest.FixtureRequest,
) -> None:
    if down == "never answers":
        url = request.getfixturevalue("silent_node")
    else:
        url = f"http://127.0.0.1:{closed_port()}"
    lease(services, camera, "node-down", url)
    for method, path, body in (
        ("GET", "snapshot.jpg", None),
        ("GET", "live.mjpeg", None),
        ("GET", "ptz/status", None),
        ("POST", "ptz/session", {"purpose": "incident"}),
    ):
        started = time.monotonic()
        r = client.open(
            f"/api/v1/cameras/{camera}/{path}",
            method=method,
            json=body,
            headers=bearer(tokens["dispatcher"]),
        )
        took = time.monotonic() - started
        assert r.status_code == 503, (path, r.data)
        message = r.get_json()["error"]["message"]
        assert "node-down" in message and camera in message
        assert took < TIMEOUT * 3 + 2, f"{path}: {took:.1f} s"


def test_a_node_that_refuses_the_internal_token_is_503_not_a_sign_out(
    services: Services, client: Any, camera: str, tokens: dict[str, str]
) -> None:
    # The node keeps the token it read; this web process then makes a new one: two
    # secrets folders that were not copied from one another.
    listener = NodeListener(services, "127.0.0.1", 0)
    (services.config.secrets_dir / TOKEN_FILE).unlink()
    listener.start()
    try:
        lease(services, camera, "node-other-key", listener.url)
        r = client.get(
            f"/api/v1/cameras/{camera}/snapshot.jpg", headers=bearer(tokens["dispatcher"])
        )
        assert r.status_code == 503
        assert "internal token" in r.get_json()["error"]["message"]
        assert NODE_HEADER not in r.headers
    finally:
        listener.stop()


def test_a_camera_of_this_very_node_is_served_here(
    services: Services, clock: ManualClock, client: Any, camera: str, tokens: dict[str, str]
) -> None:
    """A lease held by another node's id goes out; with no recorder running here, the
    local node id is None, so the camera is never mistaken for this process's."""
    router = client.application.media_router
    assert router is not None and router.local_node() is None
    lease(services, camera, "node-elsewhere", "http://127.0.0.1:9")
    target = router.target(
        services.users.authenticate_token(tokens["dispatcher"]).actor,  # type: ignore[union-attr]
        camera,
    )
    assert target is not None and target.node_id == "node-elsewhere"
    clock.advance(services.config.cluster.camera_lease * 2)  # the lease expires
    r = client.get(f"/api/v1/cameras/{camera}/snapshot.jpg", headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 503 and "no live media node" in r.get_json()["error"]["message"]
