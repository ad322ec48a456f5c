"""Mask lifts through the API and end to end (PSCS-1 exceptions, issue 14 item 6).

API (both backends): admins lift one mask with a stated reason for a bounded time, end
it early; bad input is a 400 naming the field and value; whoever watches live lists the
running lifts (the banner). End to end against the recording simulator: the lifted
mask's private pixels show in the live snapshot and in recorded frames only inside the
lift window, the segments recorded meanwhile carry the lift's mask version, and after
the window everything is masked again (the leak check of tests/recorder/test_leak.py's
signature colour).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from sqlalchemy import select

from onvif_control.simulator import SIGNATURE_TOLERANCE, SimulatedCamera, signature_mask
from tests.conftest import make_config
from tests.recorder.conftest import PASSWORD, USERNAME, Rig, rigged, wait_for
from tests.recorder.test_api import SQUARE, audit, auth
from vms.auth.permissions import Actor
from vms.clock import Clock, ManualClock, SystemClock
from vms.config import Config
from vms.db.models import MediaItem, Role
from vms.exports.service import ExportSource, NewExport
from vms.services import Services

CAMERA = "cam-lift"


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(
        data_dir,
        url,
        VMS_RECORDER_SEGMENT_SECONDS="2",
        VMS_CAMERAS_POSE_FAST_HZ="10",
        VMS_PRIVACY_MASKS_MAX_LIFT_MINUTES="120",
    )


@pytest.fixture
def clock(request: pytest.FixtureRequest, clock: ManualClock) -> Clock:
    """Real time for the recording simulator (see tests/recorder/test_api.py)."""
    return SystemClock() if "recording" in request.fixturenames else clock


def test_lift_api_admin_grants_lists_and_ends_PSCS_1(
    client: Any, tokens: dict[str, str], services: Services, clock: ManualClock
) -> None:
    admin = auth(tokens, "admin")
    url = f"/api/v1/cameras/{CAMERA}/mask-lifts"
    mask = client.post(
        f"/api/v1/cameras/{CAMERA}/masks", json={"name": "window", "polygon": SQUARE}, headers=admin
    ).get_json()
    created = client.post(
        url, json={"mask_id": mask["id"], "reason": "Warrant SW-88", "minutes": 90}, headers=admin
    )
    assert created.status_code == 201, created.get_json()
    lift = created.get_json()
    assert lift["mask_name"] == "window" and lift["reason"] == "Warrant SW-88"
    assert lift["from_version"] == 2 and lift["ended_at"] is None
    ends = dt.datetime.fromisoformat(lift["ends_at"])
    assert ends - dt.datetime.fromisoformat(lift["starts_at"]) == dt.timedelta(minutes=90)

    # Whoever watches the camera live sees it running (the banner).
    for user in ("dispatcher", "sergeant"):
        running = client.get(url, query_string={"running": "true"}, headers=auth(tokens, user))
        assert running.status_code == 200
        assert [r["id"] for r in running.get_json()["lifts"]] == [lift["id"]]

    ended = client.delete(f"{url}/{lift['id']}", headers=admin)
    assert ended.status_code == 200 and ended.get_json()["ended_by"] == "admin"
    assert (
        client.get(url, query_string={"running": "true"}, headers=admin).get_json()["lifts"] == []
    )
    assert client.get(url, headers=admin).get_json()["lifts"][0]["to_version"] == 3
    actions = [e.action for e in audit(services, "mask.lift.create", f"camera:{CAMERA}")]
    assert actions == ["mask.lift.create"]
    assert audit(services, "mask.lift.end", f"camera:{CAMERA}")[0].actor == "admin"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"reason": "warrant 1", "minutes": 10}, "mask_id"),
        ({"mask_id": "M", "minutes": 10}, "reason"),
        ({"mask_id": "M", "reason": "  ", "minutes": 10}, "reason"),
        ({"mask_id": "M", "reason": "warrant 1"}, "minutes"),
        ({"mask_id": "M", "reason": "warrant 1", "minutes": 121}, "minutes: 121"),
        ({"mask_id": "M", "reason": "warrant 1", "minutes": 0}, "minutes: 0"),
        ({"mask_id": "M", "reason": "warrant 1", "minutes": "soon"}, "minutes"),
    ],
)
def test_bad_lifts_are_refused_naming_the_field_PSCS_1(
    client: Any, tokens: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    admin = auth(tokens, "admin")
    mask = client.post(
        f"/api/v1/cameras/{CAMERA}/masks", json={"name": "window", "polygon": SQUARE}, headers=admin
    ).get_json()
    if body.get("mask_id") == "M":
        body = {**body, "mask_id": mask["id"]}
    response = client.post(f"/api/v1/cameras/{CAMERA}/mask-lifts", json=body, headers=admin)
    assert response.status_code == 400, response.get_json()
    assert fragment in str(response.get_json())


# -- end to end -----------------------------------------------------------------------------


@pytest.fixture
def recording(services: Services) -> Iterator[Rig]:
    """The simulator recorded in 2 s segments, looking at the window zone."""
    cam = SimulatedCamera("cam1", size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    cam.start()
    try:
        with rigged(services, cam) as rig:
            rig.recorder.start()
            rig.wait_streaming()
            wait_for(lambda: len(_segments(services, rig.camera_id)) >= 1, 30, "a segment")
            yield rig
    finally:
        cam.stop()


def _segments(services: Services, camera_id: str) -> list[MediaItem]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(MediaItem)
                .where(MediaItem.device_id == camera_id)
                .order_by(MediaItem.recorded_start)
            ).scalars()
        )


def _signature(data: bytes, fmt: str) -> list[tuple[float, int]]:
    """(frame time in seconds from the start, signature pixels) of every frame."""
    out = []
    with av.open(io.BytesIO(data), "r", format=fmt) as container:
        for frame in container.decode(video=0):
            rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            out.append(
                (float(frame.time or 0.0), int(signature_mask(rgb, SIGNATURE_TOLERANCE).sum()))
            )
    return out


def _snapshot(client: Any, headers: dict[str, str], camera_id: str) -> int:
    snap = client.get(f"/api/v1/cameras/{camera_id}/snapshot.jpg", headers=headers)
    assert snap.status_code == 200
    return _signature(snap.data, "mjpeg")[0][1]


def test_a_lifted_mask_shows_private_pixels_live_and_recorded_only_inside_the_window_PSCS_1(
    recording: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    cam = recording.camera_id
    admin, dispatcher = auth(tokens, "admin"), auth(tokens, "dispatcher")
    assert _snapshot(client, dispatcher, cam) == 0, "masked before the lift"
    listing = client.get(f"/api/v1/cameras/{cam}/masks", headers=admin).get_json()
    window = next(m for m in listing["masks"] if m["name"] == "flat-3b-window")
    lifted = client.post(
        f"/api/v1/cameras/{cam}/mask-lifts",
        json={"mask_id": window["id"], "reason": "Warrant 2026-SW-0412", "minutes": 0.1},
        headers=admin,
    )
    assert lifted.status_code == 201, lifted.get_json()
    lift = lifted.get_json()
    starts = dt.datetime.fromisoformat(lift["starts_at"])
    ends = dt.datetime.fromisoformat(lift["ends_at"])

    # Live: the private pixels show while it runs (the pipeline reloads within 1 s) ...
    wait_for(lambda: _snapshot(client, dispatcher, cam) > 50, 6, "the lifted window live")
    # ... and the mask is back after the window, with no restart.
    wait_for(lambda: dt.datetime.now(dt.UTC) > ends + dt.timedelta(seconds=1.5), 15, "expiry")
    for _ in range(5):
        assert _snapshot(client, dispatcher, cam) == 0, "masked again after the window"
    # Recorded: segments after the expiry were cut and ingested.
    wait_for(
        lambda: any(
            m.recorded_start > ends + dt.timedelta(seconds=1) for m in _segments(services, cam)
        ),
        20,
        "a segment after the lift",
    )
    timeline = client.get(
        f"/api/v1/cameras/{cam}/timeline",
        query_string={"start": (starts - dt.timedelta(minutes=5)).isoformat()},
        headers=admin,
    ).get_json()
    versions = {s["media_id"]: s["mask_version"] for s in timeline["segments"]}
    shown_in = []
    slack = dt.timedelta(seconds=0.3)
    for item in _segments(services, cam):
        content = client.get(
            f"/api/v1/media/{item.id}/content",
            query_string={"purpose": "investigation"},
            headers=admin,
        )
        assert content.status_code == 200
        data = content.data
        content.close()
        for at, pixels in _signature(data, "mp4"):
            when = item.recorded_start + dt.timedelta(seconds=at)
            if pixels:
                assert starts - slack <= when <= ends + slack, f"private pixels at {when}"
                assert versions[item.id] == lift["from_version"], (
                    "recorded under the lift's version"
                )
                shown_in.append(when)
    assert shown_in, "the lifted window was recorded"
    # The expiry was recorded: version bumped, audited.
    expired = audit(services, "mask.lift.expire", f"camera:{cam}")
    assert expired and expired[0].details["to_version"] == lift["from_version"] + 1
    # An export over the window says which footage was captured unmasked, and why.
    segments = _segments(services, cam)
    investigator = Actor(user_id=0, username="det-smith", role=Role.INVESTIGATOR)
    record = services.exports.create(
        investigator,
        NewExport(
            purpose="court copy",
            sources=(
                ExportSource(cam, None, segments[0].recorded_start, segments[-1].recorded_start),
            ),
            case_number=None,
            cut="keyframe",
            include_audit=False,
        ),
    )
    final = services.exports.run(record.id)
    assert final.state == "done", final.error
    package = services.exports.package(investigator, record.id, remote="test")
    with zipfile.ZipFile(package.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    by_version = {
        s["media_id"]: (s["mask_version"], s["masks_lifted"]) for s in manifest["sources"]
    }
    lifted = [m for m, (v, lifts) in by_version.items() if lifts]
    assert lifted and all(by_version[m][0] == lift["from_version"] for m in lifted)
    assert all(not lifts for v, lifts in by_version.values() if v != lift["from_version"])
    (shown,) = by_version[lifted[0]][1]
    assert shown["mask"] == "flat-3b-window" and shown["reason"] == "Warrant 2026-SW-0412"
    assert shown["granted_by"] == "admin"
