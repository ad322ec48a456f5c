"""Live view pages for dispatchers: the camera wall (``/live``) and one camera with PTZ
steering (``/live/<camera_id>``).

The pages draw what the APIs already serve and check: the masked MJPEG and snapshots of
``web/api/live.py`` (INV-5, each view audited), PTZ sessions from ``web/api/ptz.py`` and
commands over the ``ptz.command`` Socket.IO event (INV-6). Scripts: ``static/live_view.js``
(pictures, health and controller of every camera shown), ``static/whep.js`` (WebRTC
pictures over WHEP on the camera page and the wall's tiles, MJPEG as the fallback),
``static/wall.js`` (the layout: 1, 4, 9 or 16 tiles, saved per user) and ``static/ptz_control.js``
(the steering panel). Roles without ``live.view`` get the 403 page; the refusal is
audited as every other (``Catalog.require``).

A running privacy-mask lift (PSCS-1 exception) shows as a banner on the camera page and
on its wall tile (rendered here, kept current by ``live_view.js`` from
``GET /api/v1/cameras/<id>/mask-lifts?running=true``, hidden at its end). Admins get the
lift action on the camera page (``static/mask_lift.js``: POST and DELETE of the API).

Alarms (issue 12.3, docs/design/alarms.md): each tile and the camera page have a slot
for the camera's open alarms and the page a slot for the site's (the disk alarm), filled
and kept current by ``static/alarms.js`` from ``GET /api/v1/alarms?open=true`` and the
``alarm.*`` Socket.IO events.
"""

from __future__ import annotations

from typing import Any

from flask import render_template

from onvif_control.cameras import target
from onvif_control.plugin import get
from privacy_masks.model import MaskLift, MaskListing
from privacy_masks.service import MaskService
from recorder.recording import RecordingLog
from vms.auth.permissions import Action, Actor
from vms.auth.users import WALL_LAYOUTS
from web.pages.blueprint import page_blueprint
from web.security import require_actor, services

bp = page_blueprint("live_pages", __name__)

# The wall (issue 12.2): the first tiles of the user's layout (1, 4, 9 or 16) play over
# WebRTC (WHEP: no HTTP connection held, no per-viewer encode), each falling back to its
# masked MJPEG at WALL_FPS; tiles beyond the layout show a snapshot refreshed every
# WALL_SNAPSHOT_SECONDS.
WALL_FPS = 2
WALL_SNAPSHOT_SECONDS = 10
CAMERA_FPS = 10


def _running_lifts(actor: Actor, camera_ids: list[str]) -> dict[str, list[MaskLift]]:
    """Each camera's running mask lifts (PSCS-1 exceptions: the banner)."""
    masks = services().ports.find(MaskService)
    if masks is None:
        return {c: [] for c in camera_ids}
    return {c: masks.lifts(actor, c, running_only=True) for c in camera_ids}


@bp.get("/live")
def wall() -> Any:
    actor = require_actor()
    services().authoriser.require(actor, Action.LIVE_VIEW, "live")
    control = get(services())
    cameras = control.cameras.list_cameras(actor)
    ids = [c.id for c in cameras]
    recording = services().ports.find(RecordingLog)
    # Who controls each camera and the session sequence that is as of (P6): the page
    # draws no event older than what it was rendered with.
    states = {c.id: control.ptz.control(c.id) for c in cameras}
    return render_template(
        "live_wall.html",
        cameras=cameras,
        controllers={c: state.controller for c, state in states.items()},
        session_seqs={c: state.session_seq for c, state in states.items()},
        lifts=_running_lifts(actor, ids),
        recording=recording.wall_states(actor, ids) if recording is not None else {},
        layout=services().users.wall_layout(actor),
        layouts=WALL_LAYOUTS,
        fps=WALL_FPS,
        snapshot_seconds=WALL_SNAPSHOT_SECONDS,
        ice_servers=ice_servers(),
    )


@bp.get("/live/<camera_id>")
def camera(camera_id: str) -> Any:
    actor = require_actor()
    services().authoriser.require(actor, Action.LIVE_VIEW, target(camera_id))
    control = get(services())
    body = control.cameras.get(actor, camera_id)
    state = control.ptz.control(camera_id)
    controller = state.controller
    # A reload keeps the operator's own open session (the API shows it to them anyway).
    own_session = (
        controller.session_id
        if controller is not None and controller.username == actor.username
        else None
    )
    masks = services().ports.find(MaskService)
    manage = masks is not None and services().authoriser.allows(actor, Action.CAMERAS_MANAGE)
    listing: MaskListing | None = masks.list_masks(actor, camera_id) if manage and masks else None
    return render_template(
        "live_camera.html",
        lifts=_running_lifts(actor, [camera_id])[camera_id],
        masks=listing,
        max_lift_minutes=masks.max_lift_minutes if masks is not None else 0,
        camera=body,
        controller=controller,
        own_session=own_session,
        session_seq=state.session_seq,  # what the page shows is as of this (P6)
        can_control=body.ptz_supported and services().authoriser.allows(actor, Action.PTZ_CONTROL),
        purposes=control.ptz.purposes,
        fps=CAMERA_FPS,
        ice_servers=ice_servers(),
    )


def ice_servers() -> list[dict[str, Any]]:
    """The STUN/TURN servers the browser's WebRTC peer uses (``[webrtc] ice_servers``);
    empty on a LAN, where host candidates connect."""
    cfg = services().config.webrtc
    urls = list(cfg.ice_server_list)
    if not urls:
        return []
    server: dict[str, Any] = {"urls": urls}
    if cfg.ice_username:
        server |= {"username": cfg.ice_username, "credential": cfg.ice_credential}
    return [server]
