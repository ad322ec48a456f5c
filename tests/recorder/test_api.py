"""API tests (both backends): privacy masks (admin only, audited, degrees and image
polygons, version bumps; PSCS-1), and against a recording simulator: timeline, playback
from a moment, snapshot and MJPEG (``live.view`` role check, audited, masked; ACC-6,
INV-5)."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from sqlalchemy import select

from onvif_control.simulator import SIGNATURE_TOLERANCE, SimulatedCamera, signature_mask
from privacy_masks.service import MaskService
from tests.conftest import make_config
from tests.recorder.conftest import PASSWORD, USERNAME, Rig, rigged, wait_for
from vms.camera_model import Calibration, Pose
from vms.clock import Clock, ManualClock, SystemClock
from vms.config import Config
from vms.db.models import AuditEntry, MediaItem
from vms.services import Services

CAMERA = "cam-api"
SQUARE = [[10.0, -5.0], [20.0, -5.0], [20.0, 5.0], [10.0, 5.0]]


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(
        data_dir, url, VMS_RECORDER_SEGMENT_SECONDS="2", VMS_CAMERAS_POSE_FAST_HZ="10"
    )


@pytest.fixture
def clock(request: pytest.FixtureRequest, clock: ManualClock) -> Clock:
    """A test of the recording simulator (``recording``) runs in real time: packets
    arrive in real seconds and their capture times, hence the segments, follow the clock
    that reads the arrivals, so its services take the system clock explicitly
    (docs/design/time.md); the mask tests keep the fixed clock."""
    return SystemClock() if "recording" in request.fixturenames else clock


def auth(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def audit(services: Services, action: str, target: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == action, AuditEntry.target == target)
                .order_by(AuditEntry.seq)
            ).scalars()
        )


# -- masks --------------------------------------------------------------------------------


def test_masks_crud_by_admin_bumps_the_version_and_is_audited_PSCS_1(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    url = f"/api/v1/cameras/{CAMERA}/masks"
    admin = auth(tokens, "admin")
    created = client.post(url, json={"name": "window", "polygon": SQUARE}, headers=admin)
    assert created.status_code == 201, created.get_json()
    mask = created.get_json()
    listed = client.get(url, headers=admin).get_json()
    assert listed["version"] == 1 and [m["id"] for m in listed["masks"]] == [mask["id"]]
    assert listed["masks"][0]["polygon"] == SQUARE

    moved = [[p + 1.0, t] for p, t in SQUARE]
    updated = client.put(f"{url}/{mask['id']}", json={"polygon": moved}, headers=admin)
    assert updated.status_code == 200 and updated.get_json()["polygon"] == moved
    assert client.get(url, headers=admin).get_json()["version"] == 2
    assert services.ports.get(MaskService).current(CAMERA).polygons[0].vertices == tuple(
        (p, t) for p, t in moved
    )

    deleted = client.delete(f"{url}/{mask['id']}", headers=admin)
    assert deleted.status_code == 200 and deleted.get_json()["version"] == 3
    after = client.get(url, headers=admin).get_json()
    assert after == {"camera_id": CAMERA, "version": 3, "masks": []}

    target = f"camera:{CAMERA}"
    assert [e.details["version"] for e in audit(services, "mask.create", target)] == [1]
    assert audit(services, "mask.update", target)[0].details["new"]["polygon"] == moved
    assert audit(services, "mask.delete", target)[0].actor == "admin"


@pytest.mark.parametrize("user", ["dispatcher", "supervisor_like", "auditor", "officer"])
def test_masks_are_admin_only_and_refusals_are_audited(
    client: Any, tokens: dict[str, str], services: Services, user: str
) -> None:
    user = "sergeant" if user == "supervisor_like" else user
    url = f"/api/v1/cameras/{CAMERA}/masks"
    headers = auth(tokens, user)
    assert client.get(url, headers=headers).status_code == 403
    refused = client.post(url, json={"name": "x", "polygon": SQUARE}, headers=headers)
    assert refused.status_code == 403
    assert client.get(url).status_code == 401
    denied = [e for e in audit(services, "cameras.manage", f"camera:{CAMERA}") if e.actor == user]
    assert denied and all(e.outcome == "denied" for e in denied)
    assert services.ports.get(MaskService).version(CAMERA) == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "x", "polygon": [[0, 0], [1, 1]]}, "3 or more"),
        ({"name": "x", "polygon": [[0, 0], [1, 95], [2, 0]]}, "tilt 95"),
        ({"name": "x", "image_polygon": [[0, 0], [1.5, 0], [0, 1]]}, "0..1"),
        ({"polygon": SQUARE}, "name"),
    ],
)
def test_bad_masks_are_refused_with_the_value(
    client: Any, tokens: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    response = client.post(
        f"/api/v1/cameras/{CAMERA}/masks", json=body, headers=auth(tokens, "admin")
    )
    assert response.status_code == 400
    assert fragment in str(response.get_json())


def test_image_polygon_is_unprojected_through_the_current_pose(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    masks = services.ports.get(MaskService)
    url = f"/api/v1/cameras/{CAMERA}/masks"
    centre = [[0.45, 0.45], [0.55, 0.45], [0.55, 0.55], [0.45, 0.55]]
    # Pose unknown: refused, never placed at a guess.
    masks.view_provider = lambda camera_id: None
    response = client.post(
        url, json={"name": "drawn", "image_polygon": centre}, headers=auth(tokens, "admin")
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["kind"] == "failed_precondition"
    masks.view_provider = lambda camera_id: (Pose(40.0, -10.0, 0.0), Calibration(), (320, 180))
    response = client.post(
        url, json={"name": "drawn", "image_polygon": centre}, headers=auth(tokens, "admin")
    )
    assert response.status_code == 201, response.get_json()
    polygon = np.asarray(response.get_json()["polygon"])
    # The middle of the picture at pan 40, tilt -10, 60 degrees wide: about +-3 degrees.
    assert 36.5 < polygon[:, 0].min() < polygon[:, 0].max() < 43.5
    assert -13.5 < polygon[:, 1].min() < polygon[:, 1].max() < -6.5
    entry = audit(services, "mask.create", f"camera:{CAMERA}")[-1]
    assert entry.details["drawn_on_image"] is True


# -- a recording camera --------------------------------------------------------------------


@pytest.fixture
def recording(services: Services) -> Iterator[Rig]:
    """The simulator recorded in 2 s segments, looking at the window zone."""
    cam = SimulatedCamera("cam1", size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    cam.start()
    try:
        with rigged(services, cam) as rig:
            rig.recorder.start()
            rig.wait_streaming()
            wait_for(lambda: segments(services, rig.camera_id) >= 2, 30, "two segments")
            yield rig
    finally:
        cam.stop()


def segments(services: Services, camera_id: str) -> int:
    with services.db.session() as s:
        return len(list(s.execute(select(MediaItem.id).where(MediaItem.device_id == camera_id))))


def no_signature(jpeg_or_mp4: bytes, fmt: str) -> int:
    """Frames decoded; asserts none shows a private-signature pixel."""
    n = 0
    with av.open(io.BytesIO(jpeg_or_mp4), "r", format=fmt) as container:
        for frame in container.decode(video=0):
            rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            assert not signature_mask(rgb, SIGNATURE_TOLERANCE).any(), "INV-5"
            n += 1
    return n


def test_timeline_and_playback_from_a_moment(
    recording: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    cam = recording.camera_id
    headers = auth(tokens, "investigator")
    now = dt.datetime.now(dt.UTC)
    start = (now - dt.timedelta(minutes=5)).isoformat()
    timeline = client.get(
        f"/api/v1/cameras/{cam}/timeline", query_string={"start": start}, headers=headers
    )
    assert timeline.status_code == 200, timeline.get_json()
    body = timeline.get_json()
    assert len(body["segments"]) >= 2
    first = body["segments"][0]
    assert first["masked"] is True and first["mask_version"] == 1
    assert dt.datetime.fromisoformat(first["end"]) > dt.datetime.fromisoformat(first["start"])
    # The segments follow each other without a gap (keyframe-aligned cuts).
    second = body["segments"][1]
    assert abs(
        dt.datetime.fromisoformat(second["start"]) - dt.datetime.fromisoformat(first["end"])
    ) < dt.timedelta(seconds=0.5)

    at = dt.datetime.fromisoformat(first["start"]) + dt.timedelta(seconds=1)
    played = client.get(
        f"/api/v1/cameras/{cam}/recording",
        query_string={"at": at.isoformat(), "purpose": "investigation"},  # ACC-4
        headers=headers,
    )
    assert played.status_code == 200
    assert played.headers["X-Media-Id"] == first["media_id"]
    assert 0.9 < float(played.headers["X-Recording-Offset"]) < 1.1
    assert played.mimetype == "video/mp4"
    content = played.data
    played.close()
    assert no_signature(content, "mp4") >= 10
    viewed = audit(services, "media.view", f"media:{first['media_id']}")
    assert viewed and viewed[-1].actor == "investigator"

    # Roles: an officer searches only their own items (none of a fixed camera's) and may
    # not play them; a dispatcher may not search at all; no 'at' is refused.
    officer = auth(tokens, "officer")
    own = client.get(f"/api/v1/cameras/{cam}/timeline", headers=officer)
    assert own.status_code == 200 and own.get_json()["segments"] == []
    played_by_officer = client.get(
        f"/api/v1/cameras/{cam}/recording", query_string={"at": at.isoformat()}, headers=officer
    )
    assert played_by_officer.status_code == 403
    played_by_officer.close()
    dispatcher = auth(tokens, "dispatcher")
    assert client.get(f"/api/v1/cameras/{cam}/timeline", headers=dispatcher).status_code == 403
    assert client.get(f"/api/v1/cameras/{cam}/recording", headers=headers).status_code == 400
    later = (now + dt.timedelta(hours=1)).isoformat()
    missing = client.get(
        f"/api/v1/cameras/{cam}/recording",
        query_string={"at": later, "purpose": "investigation"},
        headers=headers,
    )
    assert missing.status_code == 404


def test_snapshot_and_mjpeg_are_role_checked_audited_and_masked_ACC_6_INV_5(
    recording: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    cam = recording.camera_id
    target = f"camera:{cam}"
    dispatcher = auth(tokens, "dispatcher")
    # The home view shows the window zone: the raw picture would have signature pixels.
    home = recording.sim.render_rgb()
    assert signature_mask(home, SIGNATURE_TOLERANCE).sum() > 100

    snap = client.get(f"/api/v1/cameras/{cam}/snapshot.jpg", headers=dispatcher)
    assert snap.status_code == 200 and snap.mimetype == "image/jpeg"
    assert snap.headers["Cache-Control"] == "private, no-store"
    assert no_signature(snap.data, "mjpeg") == 1

    live = client.get(f"/api/v1/cameras/{cam}/live.mjpeg?fps=5", headers=dispatcher)
    assert live.status_code == 200 and live.mimetype == "multipart/x-mixed-replace"
    chunks = live.response
    frames, buffer, deadline = 0, b"", time.monotonic() + 20
    while frames < 3 and time.monotonic() < deadline:
        buffer += next(chunks)
        while b"\r\n\r\n" in buffer and b"--vmsframe" in buffer:
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            if len(rest) < length:
                break
            assert no_signature(rest[:length], "mjpeg") == 1
            frames += 1
            buffer = rest[length + 2 :]
    live.close()
    assert frames >= 3

    views = [e.details["kind"] for e in audit(services, "live.view", target)]
    assert views == ["snapshot", "mjpeg"]
    # Roles without live.view are refused and the refusal audited.
    for user in ("officer", "investigator"):
        assert (
            client.get(
                f"/api/v1/cameras/{cam}/snapshot.jpg", headers=auth(tokens, user)
            ).status_code
            == 403
        )
    denied = [e for e in audit(services, "live.view", target) if e.outcome == "denied"]
    assert {e.actor for e in denied} == {"officer", "investigator"}
    assert client.get(f"/api/v1/cameras/{cam}/snapshot.jpg").status_code == 401
    assert client.get("/api/v1/cameras/nope/snapshot.jpg", headers=dispatcher).status_code == 404


def test_a_head_of_a_live_picture_is_not_recorded_as_a_live_view_ACC_6(
    recording: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    """A HEAD of ``snapshot.jpg`` or ``live.mjpeg`` (answered by the GET view, the body
    dropped) shows nobody the camera, yet it was recorded as a ``live.view`` (and the
    MJPEG one took a stream slot). Nothing is recorded for a HEAD; the role check still
    holds (a refused HEAD is audited, INV-4) and the GET after it is recorded."""
    cam = recording.camera_id
    target = f"camera:{cam}"
    dispatcher = auth(tokens, "dispatcher")
    for path in ("snapshot.jpg", "live.mjpeg?fps=5"):
        head = client.head(f"/api/v1/cameras/{cam}/{path}", headers=dispatcher)
        assert head.status_code == 200 and head.data == b"", path
        head.close()
    assert audit(services, "live.view", target) == []
    refused = client.head(f"/api/v1/cameras/{cam}/snapshot.jpg", headers=auth(tokens, "officer"))
    assert refused.status_code == 403
    assert [(e.actor, e.outcome) for e in audit(services, "live.view", target)] == [
        ("officer", "denied")
    ]
    snap = client.get(f"/api/v1/cameras/{cam}/snapshot.jpg", headers=dispatcher)
    assert snap.status_code == 200 and snap.data[:2] == b"\xff\xd8"
    views = [(e.actor, e.outcome) for e in audit(services, "live.view", target)]
    assert views == [("officer", "denied"), ("dispatcher", "ok")]
