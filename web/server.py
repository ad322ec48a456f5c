"""``vms serve`` from the web package: the web role's component, and the command.

The role runner is :mod:`vms.roles`; this module only contributes the web app (the web
role's main component, which blocks until the process stops) and registers the command
(entry point ``vms.commands``: ``serve = "web.server:register"``), passing
:func:`install` so ``vms`` itself never imports ``web``. The demo set-up lives with the
simulator (:mod:`onvif_control.demo`).

Which HTTP server (issue 13, item 4; docs/design/ports-and-roles.md, "The web server"):

- ``vms serve --role web``: **gunicorn**, ``gthread`` workers (``[web] workers``,
  ``--workers``; ``[web] threads`` each), the worker Flask-SocketIO documents for its
  ``threading`` mode, WebSocket through simple-websocket on ``gunicorn.socket``. Each
  worker builds its app after the fork on the services the master opened (database pool
  and event bus renewed in the child). More than one worker needs Redis (``redis_url``):
  events and Socket.IO then reach the connections of every worker.
- ``--role all`` (the embedded default, whose web app calls the in-process media engine
  for live video and PTZ) and ``--demo``: werkzeug's threaded server in this process.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from vms import roles
from vms.errors import FailedPrecondition
from vms.services import Services


def run_app(services: Services) -> None:
    """Serve the app on ``[web] host``/``port`` (the command line may override them):
    under gunicorn when the process runs the web role alone, else werkzeug's server."""
    serving = services.roles.serving
    if serving is not None and serving.roles == ("web",) and not serving.demo:
        run_gunicorn(services)
    else:
        run_werkzeug(services)


def run_werkzeug(services: Services) -> None:
    from web import hardening
    from web.app import create_app  # here: `vms --help` need not load Flask

    host, port = services.config.web.host, services.config.web.port
    app, socketio = create_app(services)
    roles.settle_heap()
    print(f"VMS listening on http://{host}:{port}/", flush=True)
    socketio.run(
        app,
        host=host,
        port=port,
        allow_unsafe_werkzeug=True,
        use_reloader=False,
        log_output=False,
        **hardening.serve_options(),  # no versions in the Server header
    )


def gunicorn_options(services: Services) -> dict[str, Any]:
    """gunicorn's settings for the web role (a test reads them too)."""
    web = services.config.web
    if web.workers > 1 and not services.config.bus_url:
        raise FailedPrecondition(
            f"[web] workers = {web.workers} needs redis_url: without Redis, events and "
            "Socket.IO messages stay in the worker that raised them"
        )
    host = f"[{web.host}]" if ":" in web.host else web.host
    return {
        "bind": [f"{host}:{web.port}"],
        "worker_class": "gthread",
        "workers": web.workers,
        "threads": web.threads,
        # A gthread worker's heartbeat does not wait for requests: long MJPEG and
        # WebSocket connections are not timed out by it.
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": services.config.log_level.lower(),
        "proc_name": "vms-web",
        "control_socket_disable": True,  # one fixed path per user: several servers clash
        # gunicorn sets the master's umask to this while it makes each worker's heartbeat
        # file (0 unless given): files other threads of the master made meanwhile were
        # open to every local user (#10.12).
        "umask": 0o077,
    }


def run_gunicorn(services: Services) -> None:
    import gunicorn.http.wsgi
    from gunicorn.app.base import BaseApplication

    from web import hardening

    options = gunicorn_options(services)
    gunicorn.http.wsgi.SERVER = hardening.SERVER_NAME

    def when_ready(server: Any) -> None:
        # The port actually bound (``--port 0``: an ephemeral one), for people and tests.
        port = server.LISTENERS[0].sock.getsockname()[1]
        print(
            f"VMS listening on http://{services.config.web.host}:{port}/ (gunicorn, "
            f"{options['workers']} worker(s) x {options['threads']} threads)",
            flush=True,
        )

    def post_fork(_server: Any, _worker: Any) -> None:
        # The master's pooled connections belong to the master: forget them unclosed.
        services.db.engine.dispose(close=False)

    class WebApplication(BaseApplication):
        def load_config(self) -> None:
            hooks = {"post_fork": post_fork, "when_ready": when_ready}
            for key, value in {**options, **hooks}.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from web.app import create_app

            app, _socketio = create_app(services)
            roles.settle_heap()  # in the worker, after the fork: its own heap
            return app

    master = os.getpid()
    try:
        WebApplication().run()
    except SystemExit as exit_:
        if os.getpid() == master:
            raise
        # A worker leaving (gunicorn has done its own clean-up): its services are the
        # master's copy, closed by the master; unwinding through `vms serve` would
        # close them again here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_.code if isinstance(exit_.code, int) else 1)


def install(services: Services) -> None:
    """The web role: the app, as its main component."""
    services.roles.add(roles.Component("web", "app", lambda: run_app(services), main=True))
    services.roles.node_listener = node_listener


def node_listener(services: Services, host: str, port: int) -> roles.Listener:
    """A media node's listener: health, metrics and the internal API (issue 13.2)."""
    from web.internal import NodeListener  # loaded only by a media node

    return NodeListener(services, host, port)


def register(subparsers: Any) -> None:
    roles.register(subparsers, plugins=(install,))
