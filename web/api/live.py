"""Live stills, recording state, timeline and playback of recorded cameras.

``snapshot.jpg`` and ``live.mjpeg`` come from the media engine's *masked* packets
(INV-5), are role-checked (``live.view``) and audited as live views (ACC-6). They are
served by a process that runs the media role (``vms serve --role all``); a web-only
process answers 503 until the internal media API forwards them (a later issue).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request

from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from recorder.recording import RecordingLog
from vms.auth.authoriser import who
from vms.auth.permissions import Action, Actor
from vms.errors import InvalidArgument, NotFound, Unavailable
from web.api import json_body, time_arg
from web.api.media import send_media
from web.security import StreamGuard, current_credential, remote_addr, require_actor, services

log = logging.getLogger(__name__)

bp = Blueprint("live_api", __name__)

BOUNDARY = "vmsframe"


def recorder() -> Recorder:
    try:
        return get_recorder(services())
    except NotFound:
        raise Unavailable("no media engine runs in this process") from None


def recording() -> RecordingLog:
    found: RecordingLog | None = services().extensions.get("recording")
    if found is None:
        raise Unavailable("recording is not installed")
    return found


def _live_view(actor: Actor, camera_id: str, kind: str) -> None:
    """Role check and audit entry of a live view (ACC-6)."""
    svc = services()
    svc.authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
    recorder().preview(camera_id)  # 404 before auditing a view of nothing
    svc.audit.record(
        svc.db,
        who(actor),
        "live.view",
        f"camera:{camera_id}",
        details={"kind": kind, "remote_addr": remote_addr()},
    )


@bp.get("/cameras/<camera_id>/snapshot.jpg")
def snapshot(camera_id: str) -> Any:
    actor = require_actor()
    _live_view(actor, camera_id, "snapshot")
    jpeg = recorder().preview(camera_id).snapshot()
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/cameras/<camera_id>/live.mjpeg")
def live_mjpeg(camera_id: str) -> Any:
    actor = require_actor()
    _live_view(actor, camera_id, "mjpeg")
    try:
        fps = min(15.0, max(0.5, float(request.args.get("fps", "10"))))
    except ValueError:
        raise InvalidArgument(f"fps must be a number, not {request.args.get('fps')!r}") from None
    preview = recorder().preview(camera_id)
    # ACC-1: the stream re-checks the session or token it was opened with and ends when
    # it is revoked or the user disabled (not hours later when the viewer closes it).
    guard = StreamGuard(services(), current_credential())

    def stream() -> Iterator[bytes]:
        frames = preview.frames(max_fps=fps)
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
            frames.close()

    response = Response(stream(), mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/cameras/<camera_id>/recording/state")
def recording_state(camera_id: str) -> Any:
    actor = require_actor()
    out = recording().state_json(actor, camera_id)
    try:
        out["engine"] = recorder().status(camera_id)
    except (NotFound, Unavailable):
        out["engine"] = None
    return jsonify(out)


@bp.put("/cameras/<camera_id>/recording/state")
def set_recording_state(camera_id: str) -> Any:
    body = json_body()
    enabled = body.get("recording")
    if not isinstance(enabled, bool):
        raise InvalidArgument("recording must be true or false")
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise InvalidArgument("reason must be text")
    return jsonify(recording().set_enabled(require_actor(), camera_id, enabled, reason))


@bp.get("/cameras/<camera_id>/timeline")
def timeline(camera_id: str) -> Any:
    actor = require_actor()
    end = time_arg("end") or services().clock.now()
    start = time_arg("start") or end - dt.timedelta(hours=1)
    return jsonify(recording().timeline(actor, camera_id, start, end))


@bp.get("/cameras/<camera_id>/recording")
def playback(camera_id: str) -> Any:
    """The segment recorded at ``at`` (ISO UTC), served through the catalog (audited,
    ``media.view`` role check); ``X-Recording-Offset`` says where ``at`` falls in it."""
    actor = require_actor()
    at = time_arg("at")
    if at is None:
        raise InvalidArgument("at (ISO 8601 UTC time) is required")
    media_id, offset = recording().segment_at(camera_id, at)
    access = services().catalog.authorise_content(actor, media_id, download=False)
    response = send_media(actor, access)
    response.headers["X-Media-Id"] = media_id
    response.headers["X-Recording-Offset"] = f"{offset:.3f}"
    response.headers["Content-Location"] = f"/api/v1/media/{media_id}/content#t={offset:.3f}"
    return response
