"""Health and metrics on the web app (issue 13, item 7): ``/healthz``, ``/readyz`` with
each check and its timeout, ``/metrics`` and who may read it."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import make_config
from tests.retention.conftest import ingest
from vms.config import Config
from vms.db.models import RecordingGap
from vms.services import Services
from web.app import create_app

ROLES = ["admin", "dispatcher", "auditor", "officer", "approver"]


def test_healthz_answers_anyone_without_touching_anything(client: Any) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_reports_each_check(client: Any) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "media_store": "ok"},
    }


def test_readyz_is_503_naming_the_missing_media_store(services: Services, client: Any) -> None:
    shutil.rmtree(services.store.root)
    r = client.get("/readyz")
    body = r.get_json()
    assert r.status_code == 503
    assert body["failed"] == ["media_store"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["media_store"] == "failed: FileNotFoundError"
    assert str(services.store.root) not in r.get_data(as_text=True)  # no paths to strangers


def test_readyz_is_503_when_the_media_store_volume_is_not_mounted_RET_1_INV_1(
    services: Services, client: Any, tmp_path: Any
) -> None:
    """The bare mount point is a writable folder: the old check passed, and the node took
    uploads it would refuse (vms/store_guard.py)."""
    ingest(services, recorded_at=services.clock.now())
    services.store.root.rename(tmp_path / "volume")
    services.store.root.mkdir()  # the mount point, the volume not mounted
    r = client.get("/readyz")
    body = r.get_json()
    assert r.status_code == 503, body
    assert body["failed"] == ["media_store"]
    assert body["checks"]["media_store"] == "failed: StoreNotThere"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


def _app_with(config: Config, **overrides: object) -> tuple[Services, Any]:
    values = {"VMS_OPS_READY_TIMEOUT_SECONDS": "0.5", **overrides}
    services = Services.open(make_config(config.data_dir, config.effective_database_url, **values))
    app, _ = create_app(services, testing=True)
    return services, app


def test_readyz_times_out_a_hung_redis_and_names_it(config: Config, silent_port: int) -> None:
    services, app = _app_with(config, VMS_WEB_MESSAGE_QUEUE=f"redis://127.0.0.1:{silent_port}/0")
    try:
        r = app.test_client().get("/readyz")
        body = r.get_json()
        assert r.status_code == 503
        assert body["failed"] == ["redis"]  # the bus uses the message queue's Redis
        assert body["checks"]["redis"] in {"timed out after 0.5 s", "failed: TimeoutError"}
        assert body["checks"]["database"] == "ok"
    finally:
        services.close()


def test_readyz_names_an_unreachable_redis(config: Config) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    services, app = _app_with(config, VMS_REDIS_URL=f"redis://:s3cret@127.0.0.1:{port}/0")
    try:
        r = app.test_client().get("/readyz")
        assert r.status_code == 503
        assert r.get_json()["failed"] == ["redis"]
        assert r.get_json()["checks"]["redis"] == "failed: ConnectionError"
        assert "s3cret" not in r.get_data(as_text=True)
    finally:
        services.close()


def test_readyz_with_redis_reachable_is_ready(config: Config) -> None:
    services, app = _app_with(config, VMS_REDIS_URL="redis://127.0.0.1:6379/0")
    try:
        # Ready once the bus listener has subscribed (a thread of its own): a readiness
        # probe is asked again until it says so, as a balancer does.
        deadline = time.monotonic() + 10
        while True:
            r = app.test_client().get("/readyz")
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            assert r.get_json()["failed"] == ["redis"], r.get_json()
            time.sleep(0.1)
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["checks"]["redis"] == "ok"
    finally:
        services.close()


def test_metrics_show_cameras_gaps_queues_and_process_figures_OPS_1_OPS_4(
    services: Services, client: Any
) -> None:
    now = services.clock.now()
    with services.db.transaction() as s:
        s.add(RecordingGap(camera_id="cam-1", start=now, end=None, cause="camera_down"))
        s.add(RecordingGap(camera_id="cam-1", start=now, end=now, cause="camera_down"))
        s.add(RecordingGap(camera_id="cam-2", start=now, end=now, cause="stalled"))
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.content_type.startswith("text/plain")
    text = r.get_data(as_text=True)
    assert 'vms_recording_gaps_open{cause="camera_down"} 1.0' in text
    assert 'vms_recording_gaps{cause="camera_down"} 2.0' in text
    assert 'vms_recording_gaps_open{cause="stalled"} 0.0' in text
    assert 'vms_job_queue{kind="export",state="queued"} 0.0' in text
    assert 'vms_job_queue{kind="redaction",state="running"} 0.0' in text
    assert "vms_database_up 1.0" in text
    for name in ("vms_media_node_alive", "vms_media_node_cameras"):
        assert f"# TYPE {name} gauge" in text, name
    for name in (
        "vms_ingest_seconds",
        "vms_ptz_command_seconds",
        "vms_live_viewers",
        "vms_socketio_connections",
        "process_resident_memory_bytes",
    ):
        assert f"# TYPE {name}" in text, name


def test_metrics_count_an_ingest_by_source(services: Services, client: Any) -> None:
    import io

    from tests.media import make_video
    from vms.audit.log import SYSTEM_ROLE, Who
    from vms.db.models import SourceKind
    from vms.ingest import IngestRequest

    def count() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        for line in text.splitlines():
            if line.startswith('vms_ingest_seconds_count{source="bwc"}'):
                return float(line.split()[-1])
        return 0.0

    before = count()
    services.ingestor.ingest(
        io.BytesIO(make_video()),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-9", officer_badge="B1"),
        Who("ops-test", SYSTEM_ROLE),
    )
    assert count() == before + 1


def test_metrics_are_refused_to_a_remote_client_without_the_token(
    services: Services, client: Any
) -> None:
    remote = {"REMOTE_ADDR": "198.51.100.7"}
    r = client.get("/metrics", environ_base=remote)
    assert r.status_code == 403
    assert "metrics.token" in r.get_json()["error"]["message"]
    token_file = services.config.secrets_dir / "metrics.token"
    token_file.write_text("scrape-me-9f2c\n")
    assert client.get("/metrics", environ_base=remote).status_code == 403
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/metrics", environ_base=remote, headers=wrong).status_code == 403
    right = {"Authorization": "Bearer scrape-me-9f2c"}
    r = client.get("/metrics", environ_base=remote, headers=right)
    assert r.status_code == 200 and b"vms_database_up" in r.data
    assert b"scrape-me" not in r.data  # the token is never shown


@pytest.mark.parametrize("role", ROLES)
def test_ops_endpoints_do_not_depend_on_the_role(
    client: Any, tokens: dict[str, str], role: str
) -> None:
    """Probes are not users: every role, and nobody, gets the same answers (ACC-1: the
    answers carry no evidence data)."""
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    for path in ("/healthz", "/readyz"):
        assert client.get(path, headers=headers).get_json() == client.get(path).get_json()


def test_two_workers_without_redis_are_refused(services: Services) -> None:
    from vms.errors import FailedPrecondition
    from web.server import gunicorn_options

    web = dataclasses.replace(services.config.web, workers=2)
    services.config = dataclasses.replace(services.config, web=web)
    with pytest.raises(FailedPrecondition, match="workers = 2 needs redis_url"):
        gunicorn_options(services)
    services.config = dataclasses.replace(services.config, redis_url="redis://127.0.0.1:6379/0")
    options = gunicorn_options(services)
    assert options["worker_class"] == "gthread" and options["workers"] == 2
