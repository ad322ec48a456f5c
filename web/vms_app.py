"""The Flask application class of the VMS: a Flask app that carries its :class:`Services`.

The services are a typed attribute of the app (``app.services``) instead of an entry in
Flask's string-keyed ``app.extensions`` (issue 11, item 1: no string-keyed lookups of our
own services).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from vms.services import Services

if TYPE_CHECKING:
    from web.nodes import MediaRouter


class VmsApp(Flask):
    """A Flask app with the process's services; built by :func:`web.app.create_app`."""

    def __init__(self, import_name: str, services: Services) -> None:
        super().__init__(import_name)
        self.services = services
        self.openapi_json: str | None = None  # built on first request (web/api/openapi.py)
        # Forwards a camera's live routes to its media node (web/nodes.py, issue 13.2).
        self.media_router: MediaRouter | None = None


def services_of(app: Flask) -> Services:
    """The services of ``app`` (the current app inside a request: ``current_app``)."""
    if not isinstance(app, VmsApp):
        raise TypeError(f"{app!r} is not a VMS app (web.app.create_app makes one)")
    return app.services
