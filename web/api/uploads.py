"""Resumable uploads (TAG-5): create, PUT chunks with Content-Range, status, complete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from vms.errors import VMSError
from vms.uploads import parse_content_range
from web.api import json_body
from web.security import require_actor, services

bp = Blueprint("uploads_api", __name__)


@bp.post("/uploads")
def create() -> Any:
    actor = require_actor()
    return jsonify(services().uploads.create(actor, json_body())), 201


@bp.get("/uploads/<upload_id>")
def status(upload_id: str) -> Any:
    actor = require_actor()
    return jsonify(services().uploads.status(actor, upload_id))


@bp.put("/uploads/<upload_id>")
def put_chunk(upload_id: str) -> Any:
    actor = require_actor()
    content_range = parse_content_range(request.headers.get("Content-Range"))
    try:
        body = services().uploads.put_chunk(
            actor,
            upload_id,
            content_range,
            request.stream,
            chunk_sha256=request.headers.get("X-Chunk-SHA256"),
        )
    except VMSError as exc:
        offset = exc.details.get("offset")
        response = jsonify(exc.to_json() | ({"offset": offset} if offset is not None else {}))
        response.status_code = exc.http_status
        if offset is not None:
            response.headers["Upload-Offset"] = str(offset)
        return response
    response = jsonify(body)
    response.headers["Upload-Offset"] = str(body["received"])
    return response


@bp.post("/uploads/<upload_id>/complete")
def complete(upload_id: str) -> Any:
    actor = require_actor()
    return jsonify(services().uploads.complete(actor, upload_id))
