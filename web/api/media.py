"""The catalog API: search, detail, content (HTTP Range, audited), tag changes, categories."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file

from vms.auth.permissions import Actor
from vms.catalog import ContentAccess, MediaQuery, media_json
from vms.filenames import content_disposition
from web.api import int_arg, json_body, time_arg
from web.security import remote_addr, require_actor, services

bp = Blueprint("media_api", __name__)


@bp.get("/media")
def search() -> Any:
    actor = require_actor()
    args = request.args
    page = services().catalog.search(
        actor,
        MediaQuery(
            source=args.get("source") or None,
            device_id=args.get("device_id") or args.get("device") or None,
            officer_badge=args.get("officer_badge") or args.get("officer") or None,
            case_number=args.get("case_number") or args.get("case") or None,
            category=args.get("category") or None,
            start=time_arg("start"),
            end=time_arg("end"),
            cursor=args.get("cursor") or None,
            limit=int_arg("limit", 50),
        ),
    )
    items = [media_json(i, names=page.names.get(i.id)) for i in page.items]
    return jsonify({"items": items, "next_cursor": page.next_cursor})


@bp.get("/media/<media_id>")
def detail(media_id: str) -> Any:
    actor = require_actor()
    return jsonify(services().catalog.get(actor, media_id))


@bp.get("/media/<media_id>/content")
def content(media_id: str) -> Any:
    actor = require_actor()
    download = request.args.get("download") in {"1", "true", "yes"}
    ranges = request.range.ranges if request.range else []
    access = services().catalog.authorise_content(
        actor,
        media_id,
        download=download,
        # A later byte range of a playback in progress: not a new viewing.
        continuation=bool(ranges) and ranges[0][0] > 0,
    )
    return send_media(actor, access)


def send_media(actor: Actor, access: ContentAccess) -> Response:
    """The file of ``access`` as a (conditional, ranged) response. The view or download is
    recorded (ACC-6) only once the response is built and carries content (200, 206): a
    refused range or a failure records nothing (issue 10, item 5)."""
    item = access.item
    response = send_file(
        access.path,
        mimetype=item.content_type,
        conditional=True,
        etag=item.sha256,
        max_age=0,
    )
    # RFC 6266/5987, from the cleaned name: rows stored before names were cleaned too.
    response.headers["Content-Disposition"] = content_disposition(
        item.original_filename, attachment=access.download, default=item.id
    )
    response.headers["Cache-Control"] = "private, no-store"
    if response.status_code in (200, 206):
        services().catalog.record_content(actor, access, remote=remote_addr())
    return response


@bp.patch("/media/<media_id>")
def update(media_id: str) -> Any:
    actor = require_actor()
    return jsonify(services().catalog.update(actor, media_id, json_body()))


@bp.get("/categories")
def categories() -> Any:
    require_actor()
    config = services().config.retention
    out = []
    for category in services().categories.categories:
        if category.retention_days is not None:
            days, basis = category.retention_days, "category"
        elif category.evidence:
            days, basis = config.evidence_days, "evidence (RET-7)"
        else:
            days, basis = None, "source default (RET-1, RET-4)"
        out.append(
            {
                "name": category.name,
                "evidence": category.evidence,
                "retention_days": days,
                "retention_basis": basis,
            }
        )
    return jsonify({"categories": out})
