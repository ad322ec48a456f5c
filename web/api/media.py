"""The catalog API: search, detail, content (HTTP Range, audited), tag changes, categories."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, send_file

from vms.catalog import MediaQuery, media_json
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
    return jsonify({"items": [media_json(i) for i in page.items], "next_cursor": page.next_cursor})


@bp.get("/media/<media_id>")
def detail(media_id: str) -> Any:
    actor = require_actor()
    return jsonify(services().catalog.get(actor, media_id))


@bp.get("/media/<media_id>/content")
def content(media_id: str) -> Any:
    actor = require_actor()
    download = request.args.get("download") in {"1", "true", "yes"}
    ranges = request.range.ranges if request.range else []
    item, path = services().catalog.open_content(
        actor,
        media_id,
        download=download,
        remote=remote_addr(),
        # A later byte range of a playback in progress: not a new viewing.
        continuation=bool(ranges) and ranges[0][0] > 0,
    )
    response = send_file(
        path,
        mimetype=item.content_type,
        conditional=True,
        as_attachment=download,
        download_name=item.original_filename or f"{item.id}",
        etag=item.sha256,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
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
