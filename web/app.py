"""The Flask app factory (nothing happens at import)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, url_for
from flask_socketio import SocketIO
from werkzeug.exceptions import HTTPException

from vms.errors import Unauthenticated, VMSError
from vms.out_files import storage_full
from vms.secrets import load_or_create_key
from vms.services import Services
from web import hardening, limits, nodes, ops, security
from web.api import access as access_api
from web.api import alarms as alarms_api
from web.api import audit as audit_api
from web.api import auth as auth_api
from web.api import cameras as cameras_api
from web.api import devices as devices_api
from web.api import exports as exports_api
from web.api import live as live_api
from web.api import masks as masks_api
from web.api import media as media_api
from web.api import monthly as monthly_api
from web.api import openapi as openapi_api
from web.api import playback as playback_api
from web.api import ptz as ptz_api
from web.api import redactions as redactions_api
from web.api import uploads as uploads_api
from web.pages import register as register_pages
from web.socket import init_socketio
from web.vms_app import VmsApp

log = logging.getLogger(__name__)


def create_app(services: Services, *, testing: bool = False) -> tuple[Flask, SocketIO]:
    """Build the web app on top of ``services``; returns the app and its Socket.IO."""
    app = VmsApp(__name__, services)
    config = services.config
    app.config.update(
        SECRET_KEY=load_or_create_key(config.secrets_dir, "session.key"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.web.secure_cookies,
        SESSION_COOKIE_NAME="vms_session",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=config.web.session_hours),
        TESTING=testing,
        JSON_SORT_KEYS=False,
    )
    limits.install(app, config.web)  # body size and JSON depth limits (issue 10, item 6)
    app.media_router = nodes.install(app, services)  # issue 13.2: to the camera's node

    app.register_blueprint(auth_api.bp, url_prefix="/api/v1")
    app.register_blueprint(media_api.bp, url_prefix="/api/v1")
    app.register_blueprint(access_api.bp, url_prefix="/api/v1")
    app.register_blueprint(uploads_api.bp, url_prefix="/api/v1")
    app.register_blueprint(audit_api.bp, url_prefix="/api/v1")
    app.register_blueprint(masks_api.bp, url_prefix="/api/v1")
    masks_api.forget_deleted_cameras(services)
    app.register_blueprint(live_api.bp, url_prefix="/api/v1")
    app.register_blueprint(cameras_api.bp, url_prefix="/api/v1")
    app.register_blueprint(devices_api.bp, url_prefix="/api/v1")
    app.register_blueprint(alarms_api.bp, url_prefix="/api/v1")
    app.register_blueprint(exports_api.bp, url_prefix="/api/v1")
    app.register_blueprint(redactions_api.bp, url_prefix="/api/v1")
    app.register_blueprint(ptz_api.bp, url_prefix="/api/v1")
    app.register_blueprint(monthly_api.bp, url_prefix="/api/v1")
    app.register_blueprint(playback_api.bp, url_prefix="/api/v1")
    app.register_blueprint(openapi_api.bp, url_prefix="/api/v1")
    app.register_blueprint(ops.bp)  # /healthz, /readyz, /metrics (issue 13, item 7)
    register_pages(app)
    app.context_processor(security.template_globals)

    install_error_handlers(app)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; "
            # An injected <base> or <form> cannot send forms (a password) elsewhere; no
            # page may be framed (X-Frame-Options says it to older browsers).
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        )
        return response

    socketio = init_socketio(app, services)
    hardening.install(app, config.web)  # last: its ProxyFix wraps Socket.IO too
    return app, socketio


def install_error_handlers(app: Flask) -> None:
    """JSON errors under ``/api/`` (the kind and a message; never a traceback), the
    sign-in page for pages: on the web app and a media node's internal app."""

    @app.errorhandler(VMSError)
    def _vms_error(exc: VMSError) -> Any:
        if isinstance(exc, Unauthenticated) and not request.path.startswith("/api/"):
            return redirect(url_for("auth_pages.login", next=request.path))
        response = jsonify(exc.to_json())
        response.status_code = exc.http_status
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not request.path.startswith("/api/"):
            return exc
        kinds = {
            400: "invalid_argument",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            415: "unsupported_media_type",
        }
        response = jsonify(
            {
                "error": {
                    "kind": kinds.get(exc.code or 500, "http_error"),
                    "message": exc.description or exc.name,
                }
            }
        )
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        full = storage_full(exc)
        if full is not None:
            # A full disk or inode table met where no check expected it (a file or folder
            # being made: free bytes are not a free inode), or the database's disk full
            # (SQLite shares the data folder with the media): 507 with the reason, never
            # a bare 500. The path stays in the log.
            log.error("storage full on %s %s: %s", request.method, request.path, exc)
            return _vms_error(full)
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = jsonify({"error": {"kind": "internal", "message": "internal error"}})
        response.status_code = 500
        return response
