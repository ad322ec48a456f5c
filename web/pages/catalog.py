"""Catalog pages: search (``/catalog``), one media item (``/media/<id>``) and the upload
page (``/upload``); the data come from the catalog service (ACC-2, ACC-8 scoping)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from vms.auth.permissions import Action, ItemFacts, decide
from vms.catalog import MediaQuery, media_json
from vms.errors import InvalidArgument
from web.api import int_arg, time_arg
from web.pages.blueprint import page_blueprint
from web.pages.filters import SOURCE_NAMES
from web.security import require_actor, services

# The upload page sends chunks of at most this size (and never more than the server's
# ``[web] max_chunk_bytes``): small enough that a dropped connection loses little.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024

bp = page_blueprint("catalog_pages", __name__)


@bp.get("/catalog")
def catalog() -> Any:
    actor = require_actor()
    args = request.args
    error = None
    items: list[dict[str, Any]] = []
    next_cursor = None
    try:
        page = services().catalog.search(
            actor,
            MediaQuery(
                source=args.get("source") or None,
                device_id=args.get("device_id") or None,
                officer_badge=args.get("officer_badge") or None,
                case_number=args.get("case_number") or None,
                category=args.get("category") or None,
                start=time_arg("start"),
                end=time_arg("end"),
                cursor=args.get("cursor") or None,
                limit=int_arg("limit", 50),
            ),
        )
        items = [media_json(i, names=page.names.get(i.id)) for i in page.items]
        next_cursor = page.next_cursor
    except InvalidArgument as exc:
        error = exc.message
    filtered = any(args.get(k) for k in args if k not in ("cursor", "limit"))
    html = render_template(
        "catalog.html",
        items=items,
        next_cursor=next_cursor,
        args=args,
        filtered=filtered,
        error=error,
        categories=services().categories.categories,
        sources=SOURCE_NAMES,
    )
    return html, 400 if error else 200  # the form again, with what was wrong (#10.10)


@bp.get("/media/<media_id>")
def media_detail(media_id: str) -> Any:
    actor = require_actor()
    body = services().catalog.get(actor, media_id)
    item_facts = ItemFacts(officer_badge=body["officer_badge"], restricted=body["restricted"])
    return render_template(
        "media.html",
        item=body,
        can_view=decide(actor, Action.MEDIA_VIEW, item_facts).allowed,
        can_edit=decide(actor, Action.MEDIA_EDIT, item_facts).allowed,
        categories=services().categories.categories,
    )


@bp.get("/upload")
def upload() -> Any:
    actor = require_actor()
    return render_template(
        "upload.html",
        can_upload=decide(actor, Action.MEDIA_UPLOAD).allowed,
        categories=services().categories.categories,
        chunk_bytes=min(UPLOAD_CHUNK_BYTES, services().config.web.max_chunk_bytes),
    )
