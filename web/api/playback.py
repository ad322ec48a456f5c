"""Playback across segments by time (issue 15.1; docs/design/playback.md).

``GET /cameras/{id}/playback.m3u8?start=&end=`` opens a playback session (role-checked
on every segment, audited once) and writes its HLS playlist; the playlist's links
``/playback/{session}/{media_id}/{init|media}.mp4`` serve the segments' bytes as fMP4,
with HTTP Range, checked per request and not audited again.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, request

from recorder.playback import (
    CHAIN_SEPARATOR,
    PLAYLIST_TYPE,
    PlaybackService,
    SegmentBytes,
    SegmentPart,
)
from vms.auth.permissions import Action, ItemFacts
from vms.errors import NotFound, Unavailable
from web.api.media import sends_body
from web.contract import API_PREFIX, ApiBlueprint, binary, text
from web.schemas.playback import PlaybackQuery
from web.security import remote_addr, require_actor, services

bp = ApiBlueprint("playback_api", __name__, tag="playback")

CHUNK = 256 * 1024
# Why part of the playlist does not decode (Playlist.notice); read by static/playback.js.
NOTICE_HEADER = "X-Playback-Notice"


def playback() -> PlaybackService:
    found = services().ports.find(PlaybackService)
    if found is None:
        raise Unavailable("recording is not installed")
    return found


def may_play_back() -> None:
    """ACC-1: the role that may view a fixed camera's footage (``media.view`` with a
    segment's facts: no officer's badge) before the request is read, so a role that may
    not is refused (403, audited) whatever it asked, never answered an unaudited 400 or
    404 (docs/design/playback.md). The service asks again (an allowed check writes
    nothing) and then checks each segment."""
    args = request.view_args or {}
    if "camera_id" in args:
        target = f"camera:{args['camera_id']}"
    else:  # a segment of a session: the first of the chain it names
        target = f"media:{str(args['media_id']).split(CHAIN_SEPARATOR)[0]}"
    services().authoriser.require(
        require_actor(), Action.MEDIA_VIEW, target, ItemFacts(None, False)
    )


@bp.operation(
    "GET",
    "/cameras/<camera_id>/playback.m3u8",
    query=PlaybackQuery,
    before=may_play_back,
    responses={200: text(PLAYLIST_TYPE, "HLS media playlist (version 7, fMP4 segments)")},
)
def playlist(camera_id: str, query: PlaybackQuery) -> Response:
    """The camera's recording from ``start`` to ``end`` as an HLS playlist.

    One segment per recorded segment with its wall-clock start
    (``EXT-X-PROGRAM-DATE-TIME``), a discontinuity where recording stopped, and links
    valid for this user for a limited time. Opening it is audited once
    (``media.playback``)."""
    # A HEAD hands over no playlist (no segment link): no playback recorded (ACC-6).
    value = playback().open(
        require_actor(), query.command(camera_id), remote=remote_addr(), viewed=sends_body()
    )
    prefix = f"{API_PREFIX}/playback/{value.session}"
    body = value.m3u8(lambda media_id, part: f"{prefix}/{media_id}/{part.value}.mp4")
    response = Response(body, mimetype=PLAYLIST_TYPE)
    response.headers["Cache-Control"] = "private, no-store"
    if value.notice is not None:
        # A chain of segments without a keyframe not followed back to it: said, not
        # shown as grey pictures (docs/design/playback.md, "How far back a chain is
        # followed"); the page shows it.
        response.headers[NOTICE_HEADER] = value.notice
    return response


@bp.operation(
    "GET",
    "/playback/<session>/<media_id>/<part>.mp4",
    responses={
        200: binary("video/mp4", "the part of the segment (fMP4)"),
        206: binary("video/mp4", "a byte range of it"),
        416: {"description": "the byte range asked for lies outside the part"},
    },
    before=may_play_back,
)
def segment(session: str, media_id: str, part: str) -> Response:
    """One part (``init`` or ``media``) of a segment of a playback session (HTTP Range)."""
    try:
        which = SegmentPart(part)
    except ValueError:
        raise NotFound(f"no part {part!r} (init or media)") from None
    return _ranged(playback().segment(require_actor(), session, media_id, which))


def _ranged(data: SegmentBytes) -> Response:
    """``data`` whole (200) or the one byte range asked for (206, 416 when unsatisfiable)."""
    length = data.length
    start, stop, status = 0, length, 200
    if request.range is not None:
        found = request.range.range_for_length(length)
        if found is None or len(request.range.ranges) != 1:
            data.release()
            response = Response(status=416)
            response.headers["Content-Range"] = f"bytes */{length}"
            return response
        start, stop, status = found[0], found[1], 206

    def body() -> Iterator[bytes]:
        with data.open() as reader:
            reader.seek(start)
            left = stop - start
            while left > 0:
                chunk = reader.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    response = Response(body(), status=status, mimetype="video/mp4", direct_passthrough=True)
    response.call_on_close(data.release)  # also when the body was never read
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Content-Length"] = str(stop - start)
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{length}"
    response.headers["Cache-Control"] = "private, no-store"
    return response
