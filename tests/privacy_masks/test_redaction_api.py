"""The redactions API through the Flask client (issue 16, item 3): POST -> 202 ``{id,
state}``; the job analyses; GET shows the tracks; PATCH edits them (bad edits a 400
naming the field, 409 outside review); render -> 202; GET shows the derived item."""

from __future__ import annotations

from typing import Any

import pytest

from privacy_masks.redaction import RedactionService
from tests.privacy_masks.redaction_media import street_video
from tests.privacy_masks.test_redaction import ingest
from vms.services import Services


@pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)
def test_redaction_api_create_review_edit_render_issue_16_3(
    client: Any, tokens: dict[str, str], services: Services, store_backend: str
) -> None:
    """On either store backend (issue 13.6): on S3 the jobs analyse and render checked
    local copies, gone when they end, and the review page's video streams from the bucket."""
    original = street_video()
    media_id = ingest(services, original)
    h = {"Authorization": f"Bearer {tokens['investigator']}"}
    r = client.post(
        "/api/v1/redactions",
        json={"media_id": media_id, "detect": ["faces", "plates"], "audio_mute": [[0, 1]]},
        headers=h,
    )
    assert r.status_code == 202, r.get_json()
    created = r.get_json()
    assert set(created) == {"id", "state"} and created["state"] == "queued"
    url = f"/api/v1/redactions/{created['id']}"
    # Render before the analysis: 409; an edit too.
    assert client.post(f"{url}/render", headers=h).status_code == 409
    assert client.patch(url, json={"method": "solid"}, headers=h).status_code == 409
    services.ports.get(RedactionService).run_pending()
    body = client.get(url, headers=h).get_json()
    assert body["state"] == "review" and body["method"] == "blur"  # [redaction] method
    assert body["video"] == {
        "width": 320,
        "height": 180,
        "fps": 15.0,
        "frames": 30,
        "duration": 2.0,
        "has_audio": False,  # the mute range is kept, and not applied: no audio
        "start": 0.0,  # the first frame at 0 on the player's clock
    }
    assert body["audio_mute"] == [[0.0, 1.0]]
    classes = sorted(t["class"] for t in body["tracks"])
    assert classes == ["face", "face", "plate"], body["tracks"]
    track = body["tracks"][0]
    assert len(track["frames"]) == 30 and len(track["frames"][0]) == 5 and track["enabled"]
    # Bad edits name the field and value.
    bad = client.patch(url, json={"tracks": [{"id": 77, "enabled": False}]}, headers=h)
    assert bad.status_code == 400 and "tracks[0].id: 77" in bad.get_json()["error"]["message"]
    bad = client.patch(
        url, json={"add": [{"class": "face", "keyframes": [[5.0, 1, 1, 9, 9]]}]}, headers=h
    )
    assert bad.status_code == 400
    assert "add[0].keyframes[0]: t = 5 s is outside the video" in bad.get_json()["error"]["message"]
    bad = client.patch(url, json={"method": "smudge"}, headers=h)
    assert bad.status_code == 400 and "method" in bad.get_json()["error"]["message"]
    r = client.patch(
        url,
        json={
            "tracks": [{"id": track["id"], "enabled": False}],
            "add": [{"class": "face", "keyframes": [[0, 10, 10, 30, 30], [1.0, 40, 10, 30, 30]]}],
            "method": "pixelate",
        },
        headers=h,
    )
    assert r.status_code == 200, r.get_json()
    edited = r.get_json()
    assert edited["method"] == "pixelate"
    manual = [t for t in edited["tracks"] if t["manual"]]
    assert len(manual) == 1 and len(manual[0]["frames"]) == 16
    # Frame 8 of 0..15: x = 10 + 30 * 8/15 (linear between the keyframes).
    assert manual[0]["frames"][8] == [round(8 / 15, 4), 26.0, 10.0, 30.0, 30.0]
    # Remove the manual track again: only manual ones can be.
    assert client.patch(url, json={"remove": [track["id"]]}, headers=h).status_code == 400
    r = client.patch(url, json={"remove": [manual[0]["id"]]}, headers=h)
    assert r.status_code == 200 and not [t for t in r.get_json()["tracks"] if t["manual"]]
    # Render.
    r = client.post(f"{url}/render", headers=h)
    assert r.status_code == 202 and r.get_json()["state"] == "render_queued"
    services.ports.get(RedactionService).run_pending()
    done = client.get(url, headers=h).get_json()
    assert done["state"] == "done" and done["rendered"], done["error"]
    video = client.get(f"{url}/video", headers=h)
    assert video.status_code == 200 and video.data == original
    video.close()
    if store_backend == "s3":
        assert list(services.store.iter_objects()) == []  # nothing kept on local disk
        assert list(services.store.tmp.glob("*.copy.part")) == []  # the copies are gone
    # Another role that may not redact: 403; an unknown job: 404.
    auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
    assert client.get(url, headers=auditor).status_code == 403
    assert client.get("/api/v1/redactions/nope", headers=h).status_code == 404
    # Bad bodies: 400 before anything is queued.
    for payload in (
        {"media_id": media_id, "detect": []},
        {"media_id": media_id, "detect": ["ghosts"]},
        {"media_id": media_id, "detect": ["faces"], "audio_mute": [[1]]},
        {"media_id": media_id, "detect": ["faces"], "colour": "red"},
    ):
        assert client.post("/api/v1/redactions", json=payload, headers=h).status_code == 400
    missing = client.post(
        "/api/v1/redactions", json={"media_id": "nope", "detect": ["faces"]}, headers=h
    )
    assert missing.status_code == 404
