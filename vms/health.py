"""Liveness, readiness and the small HTTP listener of the roles without the web app
(issue 13, item 7; docs/design/operations.md).

- ``GET /healthz``: the process answers (no authentication, touches nothing else).
- ``GET /readyz``: the database answers ``SELECT 1``, the media store is a writable
  folder (and, with the S3 backend, its bucket answers a HEAD), and with Redis
  configured (``redis_url`` or ``[web] message_queue``) Redis answers PING and this
  process's event-bus listener is subscribed (``redis``; ``message_queue`` too when it
  names another Redis than the bus's). Each check runs in a thread of its own and gives
  up after ``[ops] ready_timeout_seconds``; 503 names the checks that failed (the kind
  of error only; the full message goes to the log, so no address or credential reaches
  an anonymous caller).
- ``GET /metrics``: :mod:`vms.metrics`, to local clients or the bearer of the metrics
  token (:func:`vms.metrics.metrics_allowed`).

The web role serves the three on its app (``web.ops``); the media and jobs roles, which
have no app, serve them on ``[web] host``/``port`` (``--host``/``--port``) with
:class:`HealthListener`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from vms import metrics

if TYPE_CHECKING:
    from vms.services import Services

log = logging.getLogger(__name__)

SERVER_NAME = "VMS"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = "ok"


def _database(services: Services) -> None:
    with services.db.session() as s:
        s.execute(text("SELECT 1"))


def _store(services: Services) -> None:
    root = services.store.root
    if not root.is_dir():
        raise FileNotFoundError("the media store folder is missing")
    if not os.access(root, os.W_OK | os.X_OK):
        raise PermissionError("the media store folder is not writable")
    services.store.free_bytes()
    if services.store_guard is not None:
        # A bare mount point is a writable folder too: the store must be the catalog's
        # (vms/store_guard.py; RET-1, INV-1): not ready when its volume is not mounted.
        services.store_guard.require("serve")
    if services.store.remote is not None:  # the originals live in the bucket
        services.store.remote.check(services.config.ops.ready_timeout_seconds)


def _redis(services: Services, url: str) -> None:
    import redis

    timeout = services.config.ops.ready_timeout_seconds
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
    if not services.events.listening():
        raise ConnectionError("the event bus is not subscribed yet")


def readiness(services: Services) -> list[Check]:
    """Run the checks in parallel, each bounded by ``[ops] ready_timeout_seconds``."""
    config = services.config
    probes: dict[str, Callable[[], None]] = {
        "database": lambda: _database(services),
        "media_store": lambda: _store(services),
    }
    if config.bus_url:
        probes["redis"] = functools.partial(_redis, services, config.bus_url)
    if config.socketio_queue and config.socketio_queue != config.bus_url:
        probes["message_queue"] = functools.partial(_redis, services, config.socketio_queue)
    errors: dict[str, BaseException] = {}

    def run(name: str, probe: Callable[[], None]) -> None:
        try:
            probe()
        except BaseException as exc:  # reported as a failed check, never raised
            errors[name] = exc

    threads = {
        name: threading.Thread(target=run, args=(name, probe), name=f"ready-{name}", daemon=True)
        for name, probe in probes.items()
    }
    for thread in threads.values():
        thread.start()
    timeout = config.ops.ready_timeout_seconds
    checks = []
    for name, thread in threads.items():
        thread.join(timeout)  # the checks run together: the total is one timeout or so
        if thread.is_alive():
            checks.append(Check(name, False, f"timed out after {timeout:g} s"))
            log.warning("readiness: %s timed out after %g s", name, timeout)
        elif name in errors:
            exc = errors[name]
            checks.append(Check(name, False, f"failed: {type(exc).__name__}"))
            log.warning("readiness: %s failed: %s", name, exc)
        else:
            checks.append(Check(name, True))
    return checks


def ready_answer(services: Services) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of ``GET /readyz``."""
    checks = readiness(services)
    failed = [c.name for c in checks if not c.ok]
    body: dict[str, Any] = {
        "status": "not ready" if failed else "ready",
        "checks": {c.name: c.detail for c in checks},
    }
    if failed:
        body["failed"] = failed
    return (503 if failed else 200), body


LIVE_ANSWER: dict[str, Any] = {"status": "ok"}


class HealthListener:
    """``/healthz``, ``/readyz`` and ``/metrics`` on a plain threaded HTTP server, for a
    process that runs no web app (``vms serve --role media`` or ``jobs``)."""

    def __init__(self, services: Services, host: str, port: int) -> None:
        self.services = services
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def version_string(self) -> str:  # no Python version in the Server header
                return SERVER_NAME

            def do_GET(self) -> None:
                listener.answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("health listener: " + format, *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(request, 200, "application/json", json.dumps(LIVE_ANSWER).encode())
        elif path == "/readyz":
            status, body = ready_answer(self.services)
            self._send(request, status, "application/json", json.dumps(body).encode())
        elif path == "/metrics":
            allowed = metrics.metrics_allowed(
                request.client_address[0],
                request.headers.get("Authorization"),
                self.services.config.secrets_dir,
            )
            if allowed:
                self._send(
                    request,
                    200,
                    metrics.CONTENT_TYPE,
                    metrics.render(
                        self.services.db,
                        self.services.clock,
                        self.services.config.cluster.camera_lease,
                    ),
                )
            else:
                self._send(request, 403, "application/json", json.dumps(METRICS_REFUSED).encode())
        else:
            self._send(request, 404, "application/json", json.dumps(NOT_HERE).encode())

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, kind: str, content: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(content)))
        request.send_header("Cache-Control", "no-store")
        request.end_headers()
        request.wfile.write(content)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="health-listener", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


METRICS_REFUSED = {
    "error": {
        "kind": "permission_denied",
        "message": "metrics: only clients on this machine, or with the bearer token of "
        f"the secrets folder's {metrics.TOKEN_FILE}",
    }
}
NOT_HERE = {
    "error": {"kind": "not_found", "message": "this role serves /healthz, /readyz and /metrics"}
}
