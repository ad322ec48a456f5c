"""``vms serve`` from the web package: the web role's component, and the command.

The role runner is :mod:`vms.roles`; this module only contributes the web app (the web
role's main component, which blocks until the process stops) and registers the command
(entry point ``vms.commands``: ``serve = "web.server:register"``), passing
:func:`install` so ``vms`` itself never imports ``web``. The demo set-up lives with the
simulator (:mod:`onvif_control.demo`).
"""

from __future__ import annotations

from typing import Any

from vms import roles
from vms.services import Services


def run_app(services: Services) -> None:
    """Serve the app on ``[web] host``/``port`` (the command line may override them)."""
    from web import hardening
    from web.app import create_app  # here: `vms --help` need not load Flask

    host, port = services.config.web.host, services.config.web.port
    app, socketio = create_app(services)
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


def install(services: Services) -> None:
    """The web role: the app, as its main component."""
    services.roles.add(roles.Component("web", "app", lambda: run_app(services), main=True))


def register(subparsers: Any) -> None:
    roles.register(subparsers, plugins=(install,))
