"""HTTP-level hardening of the web role (issue 10, item 13).

- **Proxies.** ``X-Forwarded-For/-Proto/-Host/-Port`` are honoured only from the number
  of reverse proxies ``[web] trusted_proxies`` says are in front (werkzeug's ProxyFix);
  with 0 (the default) anyone could send them, so they are ignored.
- **Cookies.** The session cookie is ``Secure`` whenever the request came over HTTPS
  (directly or through a trusted proxy), and always with ``[web] secure_cookies``.
- **Server header.** ``vms serve`` answers ``Server: VMS``: no werkzeug or Python
  version for an attacker to match against known flaws.
- **Caching.** Every dynamic response (API and HTML pages, which show evidence metadata)
  is ``Cache-Control: no-store`` unless the route chose otherwise; static files are not.
- **NUL in a path.** A path value with a NUL character (``/api/v1/cases/a%00b``) is a
  404 naming the parameter and the value, before any look-up: no id or name the VMS
  makes or accepts holds one, and PostgreSQL cannot hold one in a text value (the look-up,
  or the audit entry of a refusal under that id, failed in the driver: a 500). Anyone
  gets this 404, signed in or not: it tells nothing about which ids exist.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

from vms.bounded import shown
from vms.config import WebConfig
from vms.errors import NotFound

SERVER_NAME = "VMS"


class QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler without versions in the ``Server`` header."""

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return SERVER_NAME

    sys_version = ""

    def version_string(self) -> str:
        return SERVER_NAME


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, marked ``Secure`` on HTTPS requests."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if super().get_cookie_secure(app):
            return True
        return has_request_context() and request.is_secure


def install(app: Flask, config: WebConfig) -> None:
    """Apply the hardening to ``app``; call it last (ProxyFix must wrap everything,
    Socket.IO's middleware included)."""
    app.session_interface = SessionInterface()
    if config.trusted_proxies > 0:
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n
        )

    app.before_request(refuse_nul_in_path)

    @app.after_request
    def _no_store(response: Response) -> Response:
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def refuse_nul_in_path() -> None:
    """NotFound (404) naming the path parameter whose value holds a NUL character."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and "\x00" in value:
            raise NotFound(
                f"{name} {shown(value)} does not exist: no id or name holds a NUL character",
                field=name,
                value=shown(value),
            )


def serve_options() -> dict[str, Any]:
    """Keyword arguments for werkzeug's server (``socketio.run``/``run_simple``)."""
    return {"request_handler": QuietRequestHandler}
