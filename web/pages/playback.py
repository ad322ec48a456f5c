"""The playback page (``/playback?camera=&start=&end=``, issue 15.1): a camera's recording
over a window, played across segments by hls.js and seekable by wall-clock time.

The page only draws the player; the playlist it loads
(``GET /api/v1/cameras/{id}/playback.m3u8``) is where the window is checked, the role
checked on every segment and the viewing audited (recorder/playback.py). hls.js is
served from ``static/vendor`` (installed from npm by scripts/install-web-assets.sh,
never a CDN: CSP ``script-src 'self'``); ``static/playback.js`` drives it.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for

from vms.auth.permissions import Action
from vms.bounded import parse_time
from vms.clock import isoformat
from web.pages.blueprint import page_blueprint
from web.security import require_actor, services

bp = page_blueprint("playback_pages", __name__)


@bp.get("/playback")
def playback() -> Any:
    actor = require_actor()
    services().authoriser.require(actor, Action.MEDIA_VIEW, "playback")
    camera = request.args.get("camera", "").strip()
    start_text = request.args.get("start", "").strip()
    end_text = request.args.get("end", "").strip()
    # ACC-4: a camera's recording is nobody's own: the reviewer states a purpose.
    purposes = services().config.access.purpose_list
    purpose = request.args.get("purpose", "").strip()
    purpose = purpose if purpose in purposes else ""
    playlist = None
    if camera and start_text and end_text and purpose:
        start, end = parse_time(start_text, "start"), parse_time(end_text, "end")
        playlist = url_for(
            "playback_api.playlist",
            camera_id=camera,
            start=isoformat(start),
            end=isoformat(end),
            purpose=purpose,
        )
    return render_template(
        "playback.html",
        camera=camera,
        start=start_text,
        end=end_text,
        playlist=playlist,
        purposes=purposes,
        purpose=purpose,
    )
