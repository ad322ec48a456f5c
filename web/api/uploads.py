"""Resumable uploads (TAG-5): create, PUT chunks with Content-Range, status, complete."""

from __future__ import annotations

from flask import Response, after_this_request, jsonify, request

from vms.errors import VMSError
from vms.uploads import CompletedUpload, UploadRecord, parse_content_range
from web.contract import ApiBlueprint
from web.schemas.uploads import CompletedUploadOut, NewUploadIn, UploadOut
from web.security import require_actor, services

bp = ApiBlueprint("uploads_api", __name__, tag="uploads")

CHUNK_BODY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@bp.operation("POST", "/uploads", body=NewUploadIn, response=UploadOut, status=201)
def create(body: NewUploadIn) -> UploadRecord:
    """Start an upload.

    Refused before a byte is sent when the file could not be catalogued (size limit,
    free space, the device claim, an implausible recorded time); audited."""
    return services().uploads.create(require_actor(), body.command())


@bp.operation("GET", "/uploads/<upload_id>", response=UploadOut)
def status(upload_id: str) -> UploadRecord:
    """An upload's state and how many bytes arrived (where to resume).

    Only the user who started it may read or continue it."""
    return services().uploads.status(require_actor(), upload_id)


@bp.operation("PUT", "/uploads/<upload_id>", raw_body=CHUNK_BODY, response=UploadOut)
def put_chunk(upload_id: str) -> UploadRecord | Response:
    """Send the next chunk (``Content-Range: bytes START-END/TOTAL``).

    The chunk must start at the received offset (else 409 with ``offset`` and an
    ``Upload-Offset`` header); a dropped connection keeps what arrived.
    ``X-Chunk-SHA256`` has the chunk checked (a corrupt one is discarded, 422)."""
    actor = require_actor()
    content_range = parse_content_range(request.headers.get("Content-Range"))
    try:
        record = services().uploads.put_chunk(
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

    @after_this_request
    def offset_header(response: Response) -> Response:
        response.headers["Upload-Offset"] = str(record.received)
        return response

    return record


@bp.operation("POST", "/uploads/<upload_id>/complete", response=CompletedUploadOut)
def complete(upload_id: str) -> CompletedUpload:
    """Verify size and SHA-256 and catalogue the file (INV-1).

    Repeating it is harmless and answers the same item; once the retention purge has
    destroyed that item, 409 citing the destruction record (``details.destruction``)."""
    return services().uploads.complete(require_actor(), upload_id)
