"""The catalog API: search, detail, content (HTTP Range, audited), tag changes, categories."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, request, send_file

from vms.auth.permissions import Actor
from vms.catalog_values import ContentAccess, MediaDetail, MediaRecord, Page
from vms.filenames import content_disposition
from web.contract import API_PREFIX, ApiBlueprint, binary
from web.schemas.media import (
    CategoriesOut,
    MediaChangesIn,
    MediaDetailOut,
    MediaOut,
    MediaPageOut,
    MediaSearchQuery,
    RestrictionIn,
)
from web.security import remote_addr, require_actor, services

bp = ApiBlueprint("media_api", __name__, tag="media")

# Set on the content of a recorder segment that continues the one before it without a
# keyframe (an endless GOP): the media id of the segment it continues.
CONTINUES_HEADER = "X-Continues-Without-Keyframe"


@bp.operation("GET", "/media", query=MediaSearchQuery, response=MediaPageOut)
def search(query: MediaSearchQuery) -> Page:
    """Search the catalog, newest first.

    Officers see their own items, supervisors their officers' (ACC-2, ACC-8). A full
    page carries ``next_cursor`` for the next, older one."""
    return services().catalog.search(require_actor(), query.command())


@bp.operation("GET", "/media/<media_id>", response=MediaDetailOut)
def detail(media_id: str) -> MediaDetail:
    """One item with its chain of custody and the items derived from it."""
    return services().catalog.get(require_actor(), media_id)


@bp.operation(
    "GET",
    "/media/<media_id>/content",
    responses={
        200: binary("*/*", "The item's file, in its own content type"),
        206: binary("*/*", "A byte range of the file (HTTP Range)"),
    },
)
def content(media_id: str) -> Response:
    """The item's file, with HTTP Range; each viewing or download is audited (ACC-6).

    ``?download=1`` (or ``true``, ``yes``) sends it as an attachment. ``?purpose=``: one
    of ``[access] review_purposes``, required of a reviewer outside their own scope (not their
    own or their supervised officers' recording; ACC-4), kept in the audit entry. The
    officer's own review of a critical-incident item needs a recorded approval (ACC-2);
    an active review grant opens an item otherwise out of reach (ACC-3). An export's
    package (the signed ZIP) only for its creator while they may export, or an admin, as
    ``/exports/{id}/package`` (403 audited otherwise)."""
    actor = require_actor()
    download = request.args.get("download") in {"1", "true", "yes"}
    ranges = request.range.ranges if request.range else []
    access = services().catalog.authorise_content(
        actor,
        media_id,
        download=download,
        # A later byte range of a playback in progress: not a new viewing.
        continuation=bool(ranges) and ranges[0][0] > 0,
        purpose=request.args.get("purpose"),
    )
    return send_media(actor, access)


def send_media(actor: Actor, access: ContentAccess) -> Response:
    """The file of ``access`` as a (conditional, ranged) response. The view or download is
    recorded (ACC-6) only once the response is built and carries content (200, 206): a
    refused range, a HEAD or a failure records nothing (issue 10, item 5)."""
    item = access.item
    if access.path is None:
        response = stream_stored(item.sha256, item.size_bytes, item.content_type)
    else:
        response = send_file(
            access.path,
            mimetype=item.content_type,
            conditional=True,
            etag=item.sha256,
            max_age=0,
        )
    # RFC 6266/5987, from the cleaned name: rows stored before names were cleaned too.
    response.headers["Content-Disposition"] = content_disposition(
        item.original_filename,
        attachment=access.download,
        default=item.id,
        content_type=item.content_type,
    )
    response.headers["Cache-Control"] = "private, no-store"
    if access.continues is not None:
        # The stored bytes, unchanged (evidence: the hash matches), but a segment that
        # continues the one before it without a keyframe does not decode alone: said, with
        # where it does (docs/design/playback.md, "A continued segment on its own").
        continues = access.continues
        response.headers[CONTINUES_HEADER] = continues.previous_media_id or "unknown"
        links = [f'<{continues.playback}>; rel="alternate"']
        if continues.previous_media_id:
            links.insert(0, f'<{API_PREFIX}/media/{continues.previous_media_id}>; rel="prev"')
        response.headers["Link"] = ", ".join(links)
    if serves_content(response):
        try:
            # Decided again as it is recorded (ACC-7: restricted since the check): a
            # refusal is the answer, the file built above is closed unsent.
            services().catalog.record_content(actor, access, remote=remote_addr())
        except Exception:
            response.close()
            raise
    return response


def serves_content(response: Response) -> bool:
    """Whether ``response`` hands over content, so that it is recorded (ACC-6): a 200 or
    206 to a GET. A HEAD (answered by the GET view, body dropped) sends none, and the
    chain of custody must not say the item was viewed or downloaded."""
    return response.status_code in (200, 206) and sends_body()


def sends_body() -> bool:
    """Whether this request's answer carries a body: not a HEAD (Flask answers it with
    the GET view and drops the body), which views nothing and is recorded as no viewing,
    playback or live view (ACC-6)."""
    return request.method != "HEAD"


def stream_stored(
    sha256: str,
    size: int,
    content_type: str,
    *,
    conditional: bool = True,
    body: Iterator[bytes] | None = None,
) -> Response:
    """An original in the object store as a conditional, ranged response whose body is
    streamed from the store chunk by chunk (a Range is asked of the store as a Range):
    nothing is staged on local disk nor held whole in memory (issue 13.6).
    ``conditional=False``: always the whole file (like ``send_file``'s), from ``body``
    when the caller already asked the store for it (a counted share download)."""
    if body is not None and not conditional:
        response = Response(body, status=200, mimetype=content_type, direct_passthrough=True)
        response.content_length = size
        response.set_etag(sha256)
        return response
    store = services().store
    if conditional and request.if_none_match.contains(sha256):
        response = Response(status=304)
        response.set_etag(sha256)
        return response
    start, stop, status = 0, size, 200
    if conditional and request.range is not None:
        found = request.range.range_for_length(size)
        if found is None:
            response = Response(status=416)
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        start, stop = found
        status = 206
    if stop <= start:
        chunks: Iterator[bytes] = iter(())
    else:
        chunks = store.read(sha256, start, stop - 1)
    response = Response(chunks, status=status, mimetype=content_type, direct_passthrough=True)
    response.content_length = stop - start
    response.accept_ranges = "bytes"
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    response.set_etag(sha256)
    return response


@bp.operation("PATCH", "/media/<media_id>", body=MediaChangesIn, response=MediaOut)
def update(media_id: str, body: MediaChangesIn) -> MediaRecord:
    """Change an item's title, categories, case or incident number (TAG-1).

    Only the fields sent change; audited with the old and new values (ACC-6). A change
    that would keep the item for less time than before (an open case's number cleared, a
    category with a longer period taken off) is for records commanders and admins only:
    403 naming both expiries, audited (ACC-10, RET-12)."""
    return services().catalog.update(require_actor(), media_id, body.command())


@bp.operation("PUT", "/media/<media_id>/restricted", body=RestrictionIn, response=MediaOut)
def set_restricted(media_id: str, body: RestrictionIn) -> MediaRecord:
    """Mark an item restricted or clear the mark (ACC-7; admins only).

    A restricted item is viewed and exported by admins only. Audited with the reason,
    and a custody event on the item; 409 when the item is already in that state, but to
    a retry with the first request's ``request_id`` and reason: answered with the item
    (ACC-6)."""
    return services().catalog.set_restricted(require_actor(), media_id, body.command())


@bp.operation("GET", "/categories", response=CategoriesOut)
def categories() -> dict[str, object]:
    """The categories media can be tagged with, and how long each keeps it (TAG-4)."""
    require_actor()
    evidence_days = services().config.retention.evidence_days
    return {"categories": services().categories.retention(evidence_days)}
