"""The masks, live and recording routes on the API contract (issue 11, items 3 and 7):
bodies and queries parsed into models (a 400 naming the field and the value, never a
500), services handed command values, the JSON written from domain values as before.
The media engine here records no camera: the recording state says so (``engine``
null) and the pictures answer 404 once their query is valid."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from vms.clock import ManualClock
from vms.db.models import AuditEntry
from vms.services import Services

CAMERA = "cam-live"
MASKS = f"/api/v1/cameras/{CAMERA}/masks"
STATE = f"/api/v1/cameras/{CAMERA}/recording/state"
SQUARE = [[10.0, -5.0], [20.0, -5.0], [20.0, 5.0], [10.0, 5.0]]


def auth(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def refused(r: Any, *fragments: str) -> str:
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.json["error"]["kind"] == "invalid_argument"
    message = str(r.json["error"]["message"])
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- masks --------------------------------------------------------------------------------


def test_mask_json_is_as_before(client: Any, tokens: dict[str, str], clock: ManualClock) -> None:
    admin = auth(tokens, "admin")
    created = client.post(MASKS, json={"name": "window", "polygon": SQUARE}, headers=admin)
    assert created.status_code == 201
    mask = created.json
    assert mask == {
        "id": mask["id"],
        "name": "window",
        "polygon": SQUARE,
        "since_version": 1,
        "created_at": "2026-11-20T12:00:00Z",
        "created_by": "admin",
    }
    assert client.get(MASKS, headers=admin).json == {
        "camera_id": CAMERA,
        "version": 1,
        "masks": [mask],
    }
    deleted = client.delete(f"{MASKS}/{mask['id']}", headers=admin)
    assert deleted.json == {"id": mask["id"], "deleted": True, "version": 2}
    missing = client.delete(f"{MASKS}/{mask['id']}", headers=admin)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"name": "x", "polygon": [[1, 2, 3], [0, 0], [1, 1]]}, ("polygon[0]", "[1, 2, 3]")),
        ({"name": "x", "polygon": [[0, "a"], [0, 0], [1, 1]]}, ("polygon[0][1]", "'a'")),
        ({"name": "x", "polygon": "square"}, ("polygon", "'square'")),
        ({"name": 7, "polygon": SQUARE}, ("name", "7")),
        ({"name": "", "polygon": SQUARE}, ("name", "''", "empty")),
        ({"name": "x" * 201, "polygon": SQUARE}, ("name", "200 characters")),
        ({"name": "x", "polygon": SQUARE, "colour": "red"}, ("colour is not a field",)),
        ({"name": "x", "polygon": [[0, 0]] * 257}, ("polygon", "256")),
    ],
)
def test_a_bad_mask_body_is_refused_by_the_model(
    client: Any, tokens: dict[str, str], services: Services, body: Any, fragments: tuple[str]
) -> None:
    r = client.post(MASKS, json=body, headers=auth(tokens, "admin"))
    refused(r, *fragments)


@pytest.mark.parametrize("body", [[], ["name"], "x", 3, None])
def test_a_mask_body_that_is_not_an_object_is_400(
    client: Any, tokens: dict[str, str], body: Any
) -> None:
    r = client.post(MASKS, json=body, headers=auth(tokens, "admin"))
    refused(r, "JSON object")


def test_a_mask_change_keeps_what_is_left_out(client: Any, tokens: dict[str, str]) -> None:
    admin = auth(tokens, "admin")
    mask = client.post(MASKS, json={"name": "window", "polygon": SQUARE}, headers=admin).json
    renamed = client.put(f"{MASKS}/{mask['id']}", json={"name": "door"}, headers=admin)
    assert renamed.status_code == 200
    assert (renamed.json["name"], renamed.json["polygon"]) == ("door", SQUARE)
    refused(client.put(f"{MASKS}/{mask['id']}", json={"name": " "}, headers=admin), "name")
    both = {"polygon": SQUARE, "image_polygon": [[0, 0], [1, 0], [0, 1]]}
    refused(client.put(f"{MASKS}/{mask['id']}", json=both, headers=admin), "not both")


# -- recording state ------------------------------------------------------------------------


def test_recording_state_json_is_as_before(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    assert client.get(STATE, headers=auth(tokens, "dispatcher")).json == {
        "camera_id": CAMERA,
        "recording": True,
        "changed_at": None,
        "changed_by": None,
        "engine": None,  # the engine does not record it
    }
    switched = client.put(
        STATE, json={"recording": False, "reason": "  maintenance "}, headers=auth(tokens, "admin")
    )
    assert switched.status_code == 200, switched.json
    after = {
        "camera_id": CAMERA,
        "recording": False,
        "changed_at": "2026-11-20T12:00:00Z",
        "changed_by": "admin",
    }
    assert switched.json == after
    assert client.get(STATE, headers=auth(tokens, "dispatcher")).json == after | {"engine": None}
    with services.db.session() as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "recording.set")
        ).scalar_one()
    assert entry.details == {"old": True, "new": False, "reason": "maintenance"}


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({}, ("recording is required",)),
        ({"recording": "yes"}, ("recording", "'yes'")),
        ({"recording": 1}, ("recording", "1")),
        ({"recording": True, "reason": 5}, ("reason", "5")),
        ({"recording": True, "reason": "r" * 201}, ("reason", "200 characters")),
        ({"recording": True, "by": "me"}, ("by is not a field",)),
    ],
)
def test_a_bad_recording_switch_is_refused_by_the_model(
    client: Any, tokens: dict[str, str], services: Services, body: Any, fragments: tuple[str]
) -> None:
    refused(client.put(STATE, json=body, headers=auth(tokens, "admin")), *fragments)
    with services.db.session() as s:
        assert (
            s.execute(select(AuditEntry).where(AuditEntry.action == "recording.set")).first()
            is None
        )


def test_recording_switch_is_admin_only(client: Any, tokens: dict[str, str]) -> None:
    r = client.put(STATE, json={"recording": False}, headers=auth(tokens, "dispatcher"))
    assert r.status_code == 403


# -- timeline, playback, pictures -----------------------------------------------------------


def test_timeline_defaults_to_the_last_hour_of_the_clock(
    client: Any, tokens: dict[str, str]
) -> None:
    r = client.get(f"/api/v1/cameras/{CAMERA}/timeline", headers=auth(tokens, "investigator"))
    assert r.json == {
        "camera_id": CAMERA,
        "start": "2026-11-20T11:00:00Z",
        "end": "2026-11-20T12:00:00Z",
        "segments": [],
        "gaps": [],
    }
    r = client.get(
        f"/api/v1/cameras/{CAMERA}/timeline",
        query_string={"end": "2026-11-20T10:00:00Z", "start": "2026-11-20T11:00:00Z"},
        headers=auth(tokens, "investigator"),
    )
    refused(r, "end", "must be after start")


@pytest.mark.parametrize(
    ("query", "fragments"),
    [
        ({}, ("at is required",)),
        ({"at": "yesterday"}, ("at", "'yesterday'")),
    ],
)
def test_playback_needs_a_moment(
    client: Any, tokens: dict[str, str], query: dict[str, str], fragments: tuple[str]
) -> None:
    r = client.get(
        f"/api/v1/cameras/{CAMERA}/recording",
        query_string=query,
        headers=auth(tokens, "investigator"),
    )
    refused(r, *fragments)


@pytest.mark.parametrize("fps", ["fast", "nan", "1e999", "0x10", "1_0"])
def test_a_bad_mjpeg_rate_is_400_before_the_view_is_opened(
    client: Any, tokens: dict[str, str], services: Services, fps: str
) -> None:
    r = client.get(
        f"/api/v1/cameras/{CAMERA}/live.mjpeg",
        query_string={"fps": fps},
        headers=auth(tokens, "dispatcher"),
    )
    refused(r, "fps", repr(fps))
    with services.db.session() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "live.view")).first() is None


@pytest.mark.parametrize("path", ["snapshot.jpg", "live.mjpeg?fps=2.5"])
def test_pictures_of_a_camera_not_recorded_are_404_and_not_audited_as_viewed(
    client: Any, tokens: dict[str, str], services: Services, path: str
) -> None:
    r = client.get(f"/api/v1/cameras/{CAMERA}/{path}", headers=auth(tokens, "dispatcher"))
    assert r.status_code == 404 and r.json["error"]["kind"] == "not_found"
    with services.db.session() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "live.view")).first() is None


def test_the_description_says_what_each_route_answers(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    camera = "/api/v1/cameras/{camera_id}"

    def content(path: str, method: str, status: str) -> list[str]:
        return list(paths[path][method]["responses"][status].get("content", {}))

    assert content(f"{camera}/masks", "post", "201") == ["application/json"]
    assert content(f"{camera}/masks/{{mask_id}}", "put", "200") == ["application/json"]
    assert content(f"{camera}/masks/{{mask_id}}", "delete", "200") == ["application/json"]
    assert content(f"{camera}/snapshot.jpg", "get", "200") == ["image/jpeg"]
    assert content(f"{camera}/live.mjpeg", "get", "200") == ["multipart/x-mixed-replace"]
    assert content(f"{camera}/recording", "get", "200") == ["video/mp4"]
    assert content(f"{camera}/recording/state", "put", "200") == ["application/json"]
    assert content(f"{camera}/timeline", "get", "200") == ["application/json"]
    params = {p["name"]: p for p in paths[f"{camera}/recording"]["get"]["parameters"]}
    assert params["at"]["required"] is True
    assert [p["name"] for p in paths[f"{camera}/live.mjpeg"]["get"]["parameters"]] == [
        "camera_id",
        "fps",
    ]
