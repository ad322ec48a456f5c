"""``GET /api/v1/review`` (issue 15.2): the query (``camera`` and ``media_id`` once or
repeated), the JSON the page reads, and bad input as a 400 naming the field."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.recorder.test_review import add_item, at
from vms.db.models import RecordingGap
from vms.services import Services


@pytest.fixture
def scene(services: Services) -> None:
    add_item(services, "a0", "fixed", "cam-a", 0, 60)
    add_item(services, "a1", "fixed", "cam-a", 60, 120)
    add_item(services, "bwc1", "bwc", "BWC-1", 30, 90, badge="B1")
    add_item(services, "bwc2", "bwc", "BWC-2", 40, 50, badge="B2")
    with services.db.transaction() as s:
        s.add(RecordingGap(camera_id="cam-a", start=at(120), end=None, cause="disk_full"))


def get(client: Any, token: str, query: str) -> Any:
    return client.get(f"/api/v1/review?{query}", headers={"Authorization": f"Bearer {token}"})


WINDOW = "start=2026-11-20T08:00:00Z&end=2026-11-20T08:05:00Z"


@pytest.mark.usefixtures("scene")
def test_the_review_lists_sources_with_spans_and_marks_the_chosen_ones(
    client: Any, tokens: dict[str, str]
) -> None:
    r = get(client, tokens["investigator"], f"{WINDOW}&camera=cam-a&media_id=bwc1&media_id=bwc2")
    assert r.status_code == 200, r.json
    body = r.json
    assert (body["start"], body["end"], body["truncated"]) == (
        "2026-11-20T08:00:00Z",
        "2026-11-20T08:05:00Z",
        False,
    )
    assert [(s["kind"], s["id"], s["selected"]) for s in body["sources"]] == [
        ("camera", "cam-a", True),
        ("item", "bwc1", True),
        ("item", "bwc2", True),
    ]
    camera = body["sources"][0]
    assert camera["spans"] == [{"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T08:02:00Z"}]
    assert camera["interruptions"] == [
        {"start": "2026-11-20T08:02:00Z", "end": None, "cause": "disk_full", "detail": None}
    ]
    assert body["sources"][1]["officer_label"] == "officer (B1)"
    # An officer (B1) gets their own recording only.
    mine = get(client, tokens["officer"], WINDOW).json
    assert [s["id"] for s in mine["sources"]] == ["bwc1"]


@pytest.mark.usefixtures("scene")
def test_bad_queries_are_400s_naming_the_field(client: Any, tokens: dict[str, str]) -> None:
    token = tokens["investigator"]
    r = get(client, token, "start=2026-11-20T08:00:00Z&end=yesterday")
    assert r.status_code == 400 and r.json["error"]["message"].startswith("end: 'yesterday'")
    r = get(client, token, "start=2026-11-20T08:05:00Z&end=2026-11-20T08:00:00Z")
    assert r.status_code == 400 and "must be after start" in r.json["error"]["message"]
    r = get(client, token, f"{WINDOW}&camera={'x' * 65}")
    assert r.status_code == 400 and r.json["error"]["message"].startswith("camera[0]: ")
    r = get(client, token, f"{WINDOW}&camera=nope")
    assert r.status_code == 404 and r.json["error"]["message"] == "camera 'nope' does not exist"


@pytest.mark.usefixtures("scene")
def test_the_page_refuses_who_may_not_search_and_names_bad_input(
    client: Any, tokens: dict[str, str]
) -> None:
    def page(role: str, query: str = "") -> Any:
        return client.get(f"/review?{query}", headers={"Authorization": f"Bearer {tokens[role]}"})

    assert page("dispatcher").status_code == 403
    empty = page("investigator")
    assert empty.status_code == 200 and b'id="review-data"' not in empty.data
    listed = page("investigator", WINDOW)
    assert listed.status_code == 200
    assert b'data-source="camera:cam-a"' in listed.data and b'id="review-data"' not in listed.data
    chosen = page("investigator", f"{WINDOW}&camera=cam-a&media_id=bwc1")
    assert b'id="review-data"' in chosen.data
    assert b"Export this range" in chosen.data  # investigators export (issue 15.4)
    commander = page("commander", f"{WINDOW}&camera=cam-a&media_id=bwc1")
    assert commander.status_code == 200 and b"Export this range" not in commander.data
    assert b"Bookmark this instant" in chosen.data
    # "Find sources" for a new window drops the old choice.
    found = page("investigator", f"{WINDOW}&camera=cam-a&find=1")
    assert b'id="review-data"' not in found.data
    five = "&".join(["camera=cam-a", *(f"media_id=m{n}" for n in range(4))])
    refused = page("investigator", f"{WINDOW}&{five}")
    assert refused.status_code == 400 and b"at most 4 side by side" in refused.data
    # An auditor sees the sources and is told they are not played; no bookmarking.
    audited = page("auditor", f"{WINDOW}&camera=cam-a")
    assert audited.status_code == 200 and b"Bookmark this instant" not in audited.data
    assert b"not playable: role auditor may not media.view" in audited.data


@pytest.mark.usefixtures("scene")
def test_no_play_button_for_who_may_play_nothing_chosen(
    client: Any, tokens: dict[str, str]
) -> None:
    """An auditor (metadata, never content) or a records commander reads the timeline of
    what was recorded; a Play button that plays nothing and a purpose to open recordings
    with are not offered to them (ACC-4). Before, both were."""

    def page(role: str) -> str:
        r = client.get(
            f"/review?{WINDOW}&camera=cam-a&media_id=bwc1",
            headers={"Authorization": f"Bearer {tokens[role]}"},
        )
        assert r.status_code == 200
        return str(r.get_data(as_text=True))

    for role in ("auditor", "commander"):
        body = page(role)
        assert 'id="review-data"' in body  # the timeline is still drawn
        assert 'id="review-play"' not in body, f"{role} is offered a Play button"
        assert 'name="purpose"' not in body, f"{role} is asked for a purpose"
        assert "None of the chosen sources plays for you" in body
    played = page("investigator")
    assert 'id="review-play"' in played and 'name="purpose"' in played
    assert "None of the chosen sources plays for you" not in played


def test_the_case_pages_review_link_promises_only_what_the_role_may_do(
    app: Any, services: Services
) -> None:
    """The case page's "Review the case's range" said "bookmark and export from there" to
    every role; an auditor may do neither (nor play), a records commander may bookmark
    but not export."""
    import io

    from tests.conftest import sign_in
    from tests.media import make_video
    from vms.audit.log import Who
    from vms.db.models import SourceKind
    from vms.ingest import IngestRequest

    services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=3)),
        IngestRequest(
            source=SourceKind.BWC, device_id="BWC-3", officer_badge="B1", case_number="C-3"
        ),
        Who("officer", "officer"),
    )
    admin = app.test_client()
    csrf = sign_in(admin, "admin")
    assert admin.post("/cases", data={"csrf_token": csrf, "case_number": "C-3"}).status_code
    said = {}
    for role in ("auditor", "commander", "investigator"):
        client = app.test_client()
        sign_in(client, role)
        body = client.get("/cases/C-3").get_data(as_text=True)
        assert 'id="case-review"' in body, role
        said[role] = body.split('id="case-review"', 1)[1].split("</p>", 1)[0]
    assert "from there" not in said["auditor"] and "played" not in said["auditor"]
    assert "bookmark from there" in said["commander"] and "export" not in said["commander"]
    assert "bookmark and export from there" in said["investigator"]
    assert "played on one clock" in said["investigator"]


@pytest.mark.usefixtures("scene")
def test_a_bad_window_or_too_many_sources_is_said_inside_the_form(
    client: Any, tokens: dict[str, str]
) -> None:
    """The review's form keeps what was typed and ticked and says what was wrong inside
    it (a 400). Before, a mistyped time or a fifth source replaced the page with the
    error page, and the window and choices were gone."""
    headers = {"Authorization": f"Bearer {tokens['investigator']}"}
    r = client.get("/review?start=2026-11-20T08:00:00Z&end=yesterday", headers=headers)
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert 'aria-label="Choose a window and sources"' in body, "the error page replaced the form"
    form = body.split('aria-label="Choose a window and sources"', 1)[1].split("</form>")[0]
    assert "End: &#39;yesterday&#39;" in form, "the reason is not inside the form"
    assert 'value="yesterday"' in form and 'value="2026-11-20T08:00:00Z"' in form
    five = "camera=cam-a&media_id=bwc1&media_id=bwc2&media_id=m0&media_id=m1"
    r = client.get(f"/review?{WINDOW}&{five}", headers=headers)
    assert r.status_code == 400
    form = r.get_data(as_text=True).split('aria-label="Choose a window and sources"', 1)[1]
    assert "plays at most 4 side by side" in form.split("</form>")[0]
    # The window's sources are listed with the choice still ticked, to untick some;
    # nothing plays.
    ticked = re.findall(r'data-source="([^"]+)"', form.split("</form>")[0])
    assert ticked == ["camera:cam-a", "item:bwc1", "item:bwc2"]
    assert form.count(" checked ") == 3 and 'id="review-data"' not in form
