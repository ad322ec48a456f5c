"""Live stills, recording state, timeline and playback of recorded cameras.

``snapshot.jpg`` and ``live.mjpeg`` come from the media engine's *masked* packets
(INV-5), are role-checked (``live.view``) and audited as live views (ACC-6) by
:class:`~recorder.live_views.LiveViews`. They are
served by a process that runs the media role (``vms serve --role all``); a web-only
process answers 503 until the internal media API forwards them (a later issue).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

from flask import Response, request

from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from recorder.recording import RecordingLog, RecordingSetting, Timeline
from vms.auth.permissions import Action
from vms.errors import InvalidArgument, NotFound, Unavailable
from vms.metrics import LIVE_VIEWERS
from web.api.media import send_media, sends_body
from web.api.playback import may_play_back
from web.contract import ApiBlueprint, binary, text
from web.schemas.live import (
    MjpegQuery,
    PlaybackQuery,
    RecordingSettingOut,
    RecordingStateOut,
    RecordingSwitchIn,
    TimelineOut,
    TimelineQuery,
    WallLayoutIn,
    WallLayoutOut,
)
from web.security import StreamGuard, current_credential, remote_addr, require_actor, services

log = logging.getLogger(__name__)

bp = ApiBlueprint("live_api", __name__, tag="live")

BOUNDARY = "vmsframe"
FPS_DEFAULT, FPS_MIN, FPS_MAX = 10.0, 0.5, 15.0


def recorder() -> Recorder:
    try:
        return get_recorder(services())
    except NotFound:
        raise Unavailable("no media engine runs in this process") from None


def recording() -> RecordingLog:
    found = services().ports.find(RecordingLog)
    if found is None:
        raise Unavailable("recording is not installed")
    return found


@bp.operation(
    "GET",
    "/cameras/<camera_id>/snapshot.jpg",
    responses={200: binary("image/jpeg", "The latest masked picture")},
)
def snapshot(camera_id: str) -> Any:
    """The camera's live picture, masked (JPEG).

    Role-checked (``live.view``) and audited as a live view (ACC-6); 503 in a process
    without the media engine."""
    actor = require_actor()
    # A HEAD shows nobody the picture: not recorded as a view (ACC-6).
    views = recorder().live_views
    preview = views.open(actor, camera_id, "snapshot", remote_addr(), viewed=sends_body())
    response = Response(preview.snapshot(), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _may_watch() -> None:
    """ACC-1: ``live.view`` before ``fps`` is read, so a role that may not watch is
    refused (403, audited) whatever rate it asked, never answered an unaudited 400
    (docs/design/web-layer.md, "Order of answers"); opening the view asks again."""
    camera_id = (request.view_args or {})["camera_id"]
    services().authoriser.require(require_actor(), Action.LIVE_VIEW, f"camera:{camera_id}")


@bp.operation(
    "GET",
    "/cameras/<camera_id>/live.mjpeg",
    query=MjpegQuery,
    before=_may_watch,
    responses={
        200: binary(
            "multipart/x-mixed-replace",
            f"Masked JPEG frames, each a part (boundary {BOUNDARY}), until the viewer "
            "closes or the credential is revoked",
        )
    },
)
def live_mjpeg(camera_id: str, query: MjpegQuery) -> Any:
    """The camera's live picture, masked, as an MJPEG stream.

    ``fps`` is clamped to 0.5..15 (default 10). Role-checked (``live.view``) and audited
    as a live view (ACC-6); the stream ends when its session or token is revoked. A user
    holding ``[web] max_mjpeg_streams_per_user`` streams already gets 429 (audited)."""
    actor = require_actor()
    mimetype = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    if not sends_body():  # a HEAD: no stream, no slot taken, no view recorded (ACC-6)
        recorder().live_views.open(actor, camera_id, "mjpeg", remote_addr(), viewed=False)
        response = Response(mimetype=mimetype)
        response.headers["Cache-Control"] = "private, no-store"
        return response
    preview, release = recorder().live_views.open_mjpeg(actor, camera_id, remote_addr())
    fps = min(FPS_MAX, max(FPS_MIN, FPS_DEFAULT if query.fps is None else query.fps))
    # ACC-1: the stream re-checks the session or token it was opened with and ends when
    # it is revoked or the user disabled (not hours later when the viewer closes it).
    guard = StreamGuard(services(), current_credential())

    def stream() -> Iterator[bytes]:
        frames = preview.frames(max_fps=fps)
        LIVE_VIEWERS.inc()  # vms_live_viewers (issue 13, item 7)
        try:
            for jpeg in frames:
                if not guard.still_valid():
                    log.info(
                        "camera %s: MJPEG of %s closed: credential revoked",
                        camera_id,
                        actor.username,
                    )
                    return
                yield (
                    (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n"
                    ).encode()
                    + jpeg
                    + b"\r\n"
                )
        finally:
            LIVE_VIEWERS.dec()
            frames.close()
            release()

    response = Response(stream(), mimetype=mimetype)
    # The slot is given back when the server closes the response, also one whose
    # stream never started (the client left at once: a generator's finally never runs).
    response.call_on_close(release)
    response.headers["Cache-Control"] = "private, no-store"
    return response


SDP = "application/sdp"


@bp.operation(
    "POST",
    "/cameras/<camera_id>/whep",
    raw_body={SDP: {"schema": {"type": "string"}}},
    responses={
        201: {
            **text(SDP, "The SDP answer (complete: non-trickle ICE, host candidates)"),
            "headers": {
                "Location": {
                    "description": "The session; DELETE it to end the view",
                    "schema": {"type": "string"},
                }
            },
        }
    },
)
def whep_offer(camera_id: str) -> Any:
    """Watch the camera live over WebRTC (WHEP, RFC 9725): send the SDP offer.

    The answer sends the media engine's H.264 packets as they are (a masked camera's
    masked stream, INV-5; no encode per viewer). Role-checked (``live.view``, refusals
    audited) and audited as a live view (ACC-6); the session ends when its session or
    token is revoked (ACC-1), or when it has not connected within
    ``[webrtc] connect_timeout_seconds``. An offer that is not SDP or offers no H.264
    gets 400 with the reason."""
    actor = require_actor()
    live_views = recorder().live_views
    # ACC-1: the role check comes before anything about the body.
    live_views.authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
    kind = request.mimetype
    if kind != SDP:
        raise InvalidArgument(f"Content-Type must be {SDP}, not {kind or 'none'!r}")
    offer = request.get_data(cache=False, as_text=False)
    try:
        sdp = offer.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("the SDP offer is not UTF-8 text") from None
    answer = live_views.open_webrtc(actor, camera_id, sdp, current_credential(), remote_addr())
    response = Response(answer.sdp, status=201, mimetype=SDP)
    response.headers["Location"] = f"/api/v1/cameras/{camera_id}/whep/{answer.session_id}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.operation("DELETE", "/cameras/<camera_id>/whep/<session_id>")
def whep_end(camera_id: str, session_id: str) -> None:
    """End a WebRTC live view (the viewer's own session; 404 for any other).

    Role-checked (``live.view``) as opening one."""
    actor = require_actor()
    live_views = recorder().live_views
    live_views.authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
    live_views.webrtc.close(actor, camera_id, session_id)


@bp.operation("GET", "/cameras/<camera_id>/recording/state", response=RecordingStateOut)
def recording_state(camera_id: str) -> RecordingSetting:
    """Whether the camera is recorded, and the media engine's reading of it.

    ``engine`` is null in a process without the media engine or for a camera it does
    not record."""
    state = recording().state(require_actor(), camera_id)
    try:
        engine = recorder().status(camera_id)
    except (NotFound, Unavailable):
        engine = None
    return dataclasses.replace(state, engine=engine)


@bp.operation(
    "PUT",
    "/cameras/<camera_id>/recording/state",
    body=RecordingSwitchIn,
    response=RecordingSettingOut,
)
def set_recording_state(camera_id: str, body: RecordingSwitchIn) -> RecordingSetting:
    """Turn the camera's recording on or off.

    Admins (``cameras.manage``); audited with the old and new state and the reason."""
    return recording().set_enabled(require_actor(), camera_id, body.command())


@bp.operation("GET", "/cameras/<camera_id>/timeline", query=TimelineQuery, response=TimelineOut)
def timeline(camera_id: str, query: TimelineQuery) -> Timeline:
    """The camera's recorded segments and gaps between ``start`` and ``end``.

    Default: the last hour; at most 31 days. Same role check as catalog search; roles
    scoped to their own items see no fixed camera's segments or gaps."""
    return recording().timeline(require_actor(), camera_id, query.command())


@bp.operation(
    "GET",
    "/cameras/<camera_id>/recording",
    query=PlaybackQuery,
    before=may_play_back,
    responses={
        200: binary("video/mp4", "The segment recorded at ``at``"),
        206: binary("video/mp4", "A range of it"),
        304: {"description": "Not modified (conditional request)"},
    },
)
def playback(camera_id: str, query: PlaybackQuery) -> Any:
    """The segment recorded at ``at``.

    Served through the catalog (audited, ``media.view`` role check);
    ``X-Recording-Offset`` says where ``at`` falls in it (seconds)."""
    actor = require_actor()
    media_id, offset = recording().segment_at(actor, camera_id, query.at)
    access = services().catalog.authorise_content(
        actor, media_id, download=False, purpose=query.purpose
    )
    response = send_media(actor, access)
    response.headers["X-Media-Id"] = media_id
    response.headers["X-Recording-Offset"] = f"{offset:.3f}"
    response.headers["Content-Location"] = f"/api/v1/media/{media_id}/content#t={offset:.3f}"
    return response


@bp.operation("PUT", "/me/wall-layout", body=WallLayoutIn, response=WallLayoutOut)
def set_wall_layout(body: WallLayoutIn) -> dict[str, int]:
    """Save the signed-in user's live wall layout: 1, 4, 9 or 16 tiles over WebRTC
    (``live.view``; issue 12.2). A preference: not audited."""
    actor = require_actor()
    services().authoriser.require(actor, Action.LIVE_VIEW, "live")
    return {"layout": services().users.set_wall_layout(actor, body.layout)}
