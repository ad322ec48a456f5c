"""Real processes (issue 13, items 3, 4 and 7): ``vms serve --role web`` under gunicorn
(sign in, the API, Socket.IO over WebSocket), the health listener of the media and jobs
roles, and one event bus across processes through Redis: an event raised by another
process reaches the Socket.IO clients of two web processes, each exactly once.

Every process is started on an ephemeral port (``--port 0``; it prints the port it got)
and stopped by its pid. Redis is the machine's (scripts/services.sh); each test names
its channels with a prefix of its own so parallel runs do not hear each other.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.conftest import PASSWORD
from tests.media import make_video
from tests.peers import processes
from vms.config import Config
from vms.events import RedisEventBus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

REDIS = "redis://127.0.0.1:6379/0"
# What a role prints once it listens: the web role's app, or a media or jobs role's health.
LISTENING = re.compile(r"(?:listening|health on).*http://127\.0\.0\.1:(\d+)/")


def _env(config: Config, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(config.data_dir),
        VMS_DATABASE_URL=config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
        VMS_INGEST_UPLOAD_MIN_FREE_BYTES="0",
        **extra,
    )
    return env


@contextmanager
def serving(config: Config, log: Path, *args: str, **env: str) -> Iterator[str]:
    """``vms serve ARGS --port 0`` until the block ends; yields its base URL."""
    with processes.started(
        [sys.executable, "-m", "vms.cli", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        env=_env(config, **env),
        ready=LISTENING,
        log=log,
    ) as server:
        yield f"http://127.0.0.1:{server.ready.group(1)}"


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any, Any]:
    """(status, headers, parsed JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, headers, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    kind = headers.get("Content-Type", "")
    return status, headers, json.loads(raw) if "json" in kind else raw.decode()


def sign_in(base: str, username: str = "admin") -> str:
    status, _, body = http(
        "POST", f"{base}/api/v1/auth/token", {"username": username, "password": PASSWORD}
    )
    assert status == 201, body
    return str(body["token"])


def wait_ready(base: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = http("GET", f"{base}/readyz")
        if status == 200 or time.monotonic() > deadline:
            assert status == 200, body
            return dict(body)
        time.sleep(0.2)


class Listener:
    """A Socket.IO client over WebSocket only (no sticky sessions needed) that records
    the events it hears."""

    def __init__(self, base: str, token: str, topics: tuple[str, ...]) -> None:
        self.heard: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        for topic in topics:
            self.client.on(topic, lambda data, t=topic: self.heard.put((t, data)))
        self.client.connect(
            base,
            headers={"Authorization": f"Bearer {token}"},
            transports=["websocket"],
            wait_timeout=20,
        )

    def events(self, wait: float) -> list[tuple[str, dict[str, Any]]]:
        out = []
        deadline = time.monotonic() + wait
        while True:
            try:
                out.append(self.heard.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                return out

    def first(self, topic: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                heard, data = self.heard.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if heard == topic:
                return data
        raise AssertionError(f"no {topic} within {timeout} s")


def test_the_web_role_runs_under_gunicorn_with_two_workers(config: Config, tmp_path: Path) -> None:
    """``vms serve --role web --workers 2``: gunicorn's gthread workers answer (no
    version in the Server header), a user signs in and calls the API, a Socket.IO client
    connects over WebSocket, and ``/readyz`` checks Redis."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with serving(
        config,
        tmp_path / "web.log",
        "--role",
        "web",
        "--workers",
        "2",
        VMS_REDIS_URL=REDIS,
        VMS_REDIS_PREFIX=prefix,
    ) as base:
        ready = wait_ready(base)
        assert ready["checks"] == {"database": "ok", "media_store": "ok", "redis": "ok"}
        status, headers, body = http("GET", f"{base}/healthz")
        assert status == 200 and body == {"status": "ok"}
        assert headers["Server"] == "VMS"
        token = sign_in(base)
        for _ in range(6):  # several requests: both workers serve the API
            status, _, body = http("GET", f"{base}/api/v1/media", token=token)
            assert status == 200, body
        assert http("GET", f"{base}/api/v1/media")[0] == 401
        listener = Listener(base, token, ("media.new",))
        try:
            assert listener.client.connected
            assert listener.client.transport() == "websocket"
        finally:
            listener.client.disconnect()
        status, _, text = http("GET", f"{base}/metrics")
        assert status == 200 and "vms_socketio_connections" in text
    log = (tmp_path / "web.log").read_text()
    assert "Using worker: gthread" in log
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", log))) >= 2


@pytest.mark.parametrize("role", ["media", "jobs"])
def test_the_media_and_jobs_roles_serve_health_and_metrics(
    config: Config, tmp_path: Path, role: str
) -> None:
    with serving(config, tmp_path / f"{role}.log", "--role", role) as base:
        status, headers, body = http("GET", f"{base}/healthz")
        assert status == 200 and body == {"status": "ok"} and headers["Server"] == "VMS"
        assert wait_ready(base)["checks"] == {"database": "ok", "media_store": "ok"}
        status, headers, text = http("GET", f"{base}/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert "vms_database_up 1.0" in text and "vms_job_queue" in text
        status, _, body = http("GET", f"{base}/api/v1/media")
        assert status == 404 and "/healthz" in body["error"]["message"]


def test_an_event_of_another_process_reaches_every_web_process_once(
    config: Config, tmp_path: Path
) -> None:
    """Two web processes (gunicorn), one Redis: a file ingested by a third process
    (``vms ingest``) is announced (``media.new``) to a Socket.IO client of each, exactly
    once; an event published with the bus API from this test process reaches only the
    user it is for (``export.progress`` to its creator's room)."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    redis = {"VMS_REDIS_URL": REDIS, "VMS_REDIS_PREFIX": prefix}
    with (
        serving(config, tmp_path / "a.log", "--role", "web", **redis) as web_a,
        serving(config, tmp_path / "b.log", "--role", "web", **redis) as web_b,
    ):
        assert web_a != web_b
        for base in (web_a, web_b):
            wait_ready(base)  # includes: the bus listener is subscribed
        topics = ("media.new", "export.progress")
        on_a = Listener(web_a, sign_in(web_a, "admin"), topics)
        on_b = Listener(web_b, sign_in(web_b, "investigator"), topics)
        try:
            video = tmp_path / "clip.mp4"
            video.write_bytes(make_video())
            ingest = ["ingest", str(video), "--source", "bwc", "--device", "BWC-7"]
            done = subprocess.run(
                [sys.executable, "-m", "vms.cli", *ingest, "--officer", "B1", "--json"],
                env=_env(config, **redis),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr[-2000:]
            media_id = json.loads(done.stdout)["id"]
            for listener in (on_a, on_b):
                heard = listener.first("media.new", timeout=20)
                assert heard["id"] == media_id and heard["officer_badge"] == "B1"
            # Exactly once each: no second copy through Socket.IO's queue.
            for listener in (on_a, on_b):
                assert [t for t, _ in listener.events(1.5) if t == "media.new"] == []

            bus = RedisEventBus(REDIS, channel=f"{prefix}:events")
            try:
                bus.publish(
                    "export.progress",
                    {"id": "x1", "state": "running", "progress": 0.5, "created_by": "admin"},
                )
            finally:
                bus.close()
            heard = on_a.first("export.progress", timeout=20)
            assert heard["id"] == "x1" and heard["progress"] == 0.5
            assert on_b.events(1.5) == []  # not the investigator's export (ACC-1)
        finally:
            on_a.client.disconnect()
            on_b.client.disconnect()
