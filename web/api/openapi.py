"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of this API, built from the
routes' declared models (web/contract.py). Public: it says what the routes take and
answer, which the AGPL source says too; every route still checks its caller."""

from __future__ import annotations

import json

from flask import Response, current_app

from web.contract import ApiBlueprint, build_openapi
from web.vms_app import VmsApp

bp = ApiBlueprint("openapi_api", __name__, tag="meta")


@bp.operation(
    "GET",
    "/openapi.json",
    public=True,
    responses={
        200: {
            "description": "The OpenAPI 3.1 description",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def openapi() -> Response:
    """This API's OpenAPI 3.1 description."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(app, VmsApp):
        raise TypeError(f"{app!r} is not a VMS app")
    if app.openapi_json is None:
        app.openapi_json = json.dumps(build_openapi(app), separators=(",", ":"))
    return Response(app.openapi_json, mimetype="application/json")
