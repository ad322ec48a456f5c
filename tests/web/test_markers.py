"""Device markers and the pre-event buffer (OPS-2, OPS-3, issue 14 item 5): uploads and
dock sidecars carry them; bad ones are a 400 naming the field and the value; they are
stored with the item, shown on the media page and searchable (``has_marker``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from tests.conftest import LiveServer, sign_in
from tests.media import make_video
from tests.vms.test_crash_safety import run_cli
from tests.vms.test_dock import settle
from tests.web.test_api_uploads import upload_body
from vms.config import Config
from vms.db.models import AuditEntry, MediaItem, MediaMarker
from vms.markers import MAX_MARKERS
from vms.services import Services

RECORDED = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def at(seconds: float) -> str:
    return (RECORDED + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


MARKERS = [
    {"kind": "mute", "at": at(2), "reason": "talking with the victim's doctor"},
    {"kind": "unmute", "at": at(3)},
    {"kind": "deactivation", "at": at(4), "reason": "long break, no contact"},
    {"kind": "reactivation", "at": at(5.5)},
]


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


def auth(tokens: dict[str, str], who: str = "officer") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def body_for(data: bytes, **extra: Any) -> dict[str, Any]:
    return upload_body(data, recorded_at=at(0), **extra)


def upload(http: httpx.Client, tokens: dict[str, str], data: bytes, **extra: Any) -> httpx.Response:
    """Create, send in one chunk, complete: the complete's response."""
    r = http.post("/api/v1/uploads", json=body_for(data, **extra), headers=auth(tokens))
    assert r.status_code == 201, r.text
    upload_id = r.json()["id"]
    r = http.put(
        f"/api/v1/uploads/{upload_id}",
        content=data,
        headers={**auth(tokens), "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    assert r.status_code == 200, r.text
    return http.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(tokens))


def test_an_upload_carries_its_buffer_and_markers_to_the_item_OPS_2_OPS_3(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=6, seed=21)
    r = upload(http, tokens, data, pre_event_buffer_seconds=3, markers=MARKERS)
    assert r.status_code == 200, r.text
    media_id = r.json()["media"]["id"]
    detail = http.get(f"/api/v1/media/{media_id}", headers=auth(tokens)).json()
    assert detail["pre_event_buffer_seconds"] == 3
    assert [(m["kind"], m["offset_seconds"], m["reason"]) for m in detail["markers"]] == [
        ("mute", 2.0, "talking with the victim's doctor"),
        ("unmute", 3.0, None),
        ("deactivation", 4.0, "long break, no contact"),
        ("reactivation", 5.5, None),
    ]
    assert detail["markers"][0]["at"] == "2026-11-20T10:00:02Z"
    with live_server.services.db.session() as s:
        entry = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "media.ingest", AuditEntry.target == f"media:{media_id}"
            )
        ).scalar_one()
    assert entry.details["markers"] == 4 and entry.details["pre_event_buffer_seconds"] == 3


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"pre_event_buffer_seconds": -1}, "pre_event_buffer_seconds"),
        ({"pre_event_buffer_seconds": 10_000}, "pre_event_buffer_seconds"),
        ({"markers": [{"kind": "nap", "at": at(1)}]}, "markers"),
        ({"markers": [{"kind": "mute", "at": "yesterday"}]}, "markers"),
        ({"markers": [{"kind": "mute"}]}, "markers"),
        ({"markers": [{"kind": "mute", "at": at(1), "why": "x"}]}, "markers"),
        ({"markers": [{"kind": "mute", "at": at(1)}] * (MAX_MARKERS + 1)}, "markers"),
        # Absurd times, refused before a byte is sent: before the start, a day after.
        ({"markers": [{"kind": "mute", "at": at(-3600)}]}, "markers[0].at"),
        ({"markers": [MARKERS[0], {"kind": "unmute", "at": at(90_000)}]}, "markers[1].at"),
    ],
)
def test_bad_buffers_and_markers_are_refused_at_create_naming_the_field_OPS_2_OPS_3(
    http: httpx.Client, tokens: dict[str, str], extra: dict[str, Any], named: str
) -> None:
    r = http.post("/api/v1/uploads", json=body_for(b"x" * 100, **extra), headers=auth(tokens))
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert named in error["message"]
    if named.endswith(".at"):
        assert "outside the recording" in error["message"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        # Inside a day but after the 2-second file ends.
        ({"markers": [{"kind": "mute", "at": at(60)}]}, "markers[0].at 2026-11-20T10:01:00Z"),
        ({"pre_event_buffer_seconds": 30}, "pre_event_buffer_seconds 30"),
    ],
)
def test_markers_outside_the_file_fail_the_upload_at_complete_OPS_2_OPS_3(
    http: httpx.Client,
    live_server: LiveServer,
    tokens: dict[str, str],
    extra: dict[str, Any],
    named: str,
) -> None:
    """The span is known once the file is probed: a marker after its end, or a buffer
    longer than the file, fails the upload with the reason; nothing is catalogued."""
    r = upload(http, tokens, make_video(seconds=2, seed=22), **extra)
    assert r.status_code == 400, r.text
    assert named in r.json()["error"]["message"]
    with live_server.services.db.session() as s:
        assert s.execute(select(func.count()).select_from(MediaItem)).scalar_one() == 0


def test_search_by_marker_kind_in_the_api_and_the_catalog_page_OPS_3(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    muted = upload(http, tokens, make_video(seconds=6, seed=23), markers=MARKERS[:2]).json()
    plain = upload(http, tokens, make_video(seconds=6, seed=24)).json()
    switched = upload(http, tokens, make_video(seconds=6, seed=25), markers=MARKERS[2:]).json()
    muted_id, plain_id, switched_id = (x["media"]["id"] for x in (muted, plain, switched))

    def ids(**params: str) -> set[str]:
        r = http.get("/api/v1/media", params=params, headers=auth(tokens))
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    assert ids() == {muted_id, plain_id, switched_id}
    assert ids(has_marker="mute") == {muted_id}
    assert ids(has_marker="deactivation") == {switched_id}
    assert ids(has_marker="deactivation", device_id="BWC-0042") == {switched_id}
    r = http.get("/api/v1/media", params={"has_marker": "nap"}, headers=auth(tokens))
    assert r.status_code == 400 and "has_marker" in r.text
    # The search's audit entry records the filter (ACC-6).
    with live_server.services.db.session() as s:
        last = s.execute(
            select(AuditEntry)
            .where(AuditEntry.action == "media.search")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).scalar_one()
    assert last.details["filters"]["has_marker"] == "deactivation"
    # The catalog page has the filter.
    client = _client(live_server.services)
    sign_in(client, "officer")
    page = client.get("/catalog?has_marker=mute").get_data(as_text=True)
    assert 'name="has_marker"' in page
    assert muted_id in page and plain_id not in page and switched_id not in page


def _client(services: Services) -> FlaskClient:
    from web.app import create_app

    app, _socketio = create_app(services, testing=True)
    return app.test_client()


def test_the_media_page_shows_the_buffer_and_the_markers_on_a_timeline_OPS_2_OPS_3(
    http: httpx.Client, live_server: LiveServer, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=6, seed=26)
    media_id = upload(http, tokens, data, pre_event_buffer_seconds=3, markers=MARKERS).json()[
        "media"
    ]["id"]
    client = _client(live_server.services)
    sign_in(client, "officer")
    page = client.get(f"/media/{media_id}").get_data(as_text=True)
    assert 'id="pre-event-buffer">3 s' in page
    assert "talking with the victim&#39;s doctor" in page
    assert page.count('<tr class="marker ') == 4
    # The timeline: the buffer is the first half (3 of 6 s), muted 2-3 s, deactivated 4-5.5 s.
    assert 'class="buffer" x="0" y="1" width="50.0"' in page
    assert 'class="span mute" x="33.333" y="1" width="16.667"' in page
    assert 'class="span deactivation" x="66.667" y="1" width="25.0"' in page
    assert page.count('data-offset="') == 4  # the officer's own: times seek the player


def test_the_review_timeline_carries_an_items_markers_OPS_3(
    http: httpx.Client, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=6, seed=35)
    media_id = upload(http, tokens, data, markers=MARKERS).json()["media"]["id"]
    r = http.get(
        "/api/v1/review",
        params={"start": at(-60), "end": at(600)},
        headers=auth(tokens),
    )
    assert r.status_code == 200, r.text
    [source] = [s for s in r.json()["sources"] if s["id"] == media_id]
    assert [(m["kind"], m["at"], m["reason"]) for m in source["markers"]] == [
        (m["kind"], m["at"], m.get("reason")) for m in MARKERS
    ]


def test_a_dock_sidecar_carries_them_and_a_bad_one_is_rejected_with_the_reason_OPS_3(
    services: Services,
) -> None:
    device = services.config.dock_dir / "BWC-7"
    device.mkdir(parents=True)
    good, bad = device / "good.mp4", device / "bad.mp4"
    make_video(good, seconds=6, seed=27)
    make_video(bad, seconds=6, seed=28)
    sidecar = {"officer_badge": "B1", "recorded_at": at(0), "pre_event_buffer_seconds": 2}
    (device / "good.mp4.json").write_text(json.dumps(sidecar | {"markers": MARKERS}))
    (device / "bad.mp4.json").write_text(
        json.dumps(sidecar | {"markers": [{"kind": "snooze", "at": at(1)}]})
    )
    for path in (good, bad):
        settle(path, services.clock)
    outcomes = {o.path.name: o for o in services.dock.scan()}
    assert outcomes["good.mp4"].status == "ingested"
    assert outcomes["bad.mp4"].status == "rejected"
    assert "markers[0].kind 'snooze'" in outcomes["bad.mp4"].detail
    reason = (device / "rejected" / "bad.mp4.error.txt").read_text()
    assert "markers[0].kind 'snooze'" in reason
    with services.db.session() as s:
        item = s.execute(select(MediaItem)).scalar_one()
        kinds = s.execute(
            select(MediaMarker.kind).where(MediaMarker.media_id == item.id).order_by(MediaMarker.at)
        ).scalars()
        assert item.pre_event_buffer_seconds == 2
        assert list(kinds) == ["mute", "unmute", "deactivation", "reactivation"]


def test_the_cli_lists_by_marker_kind_OPS_3(services: Services, config: Config) -> None:
    device = services.config.dock_dir / "BWC-9"
    device.mkdir(parents=True)
    for name, markers in (("muted.mp4", MARKERS[:2]), ("plain.mp4", [])):
        make_video(device / name, seconds=6, seed=30 + len(markers))
        (device / f"{name}.json").write_text(json.dumps({"recorded_at": at(0), "markers": markers}))
        settle(device / name, services.clock)
    outcomes = services.dock.scan()
    assert [o.status for o in outcomes] == ["ingested", "ingested"]
    muted = next(o.detail for o in outcomes if o.path.name == "muted.mp4")
    r = run_cli(config, "media", "list", "--has-marker", "mute", "--json")
    assert r.returncode == 0, r.stderr
    assert [i["id"] for i in json.loads(r.stdout)] == [muted]
    r = run_cli(config, "media", "list", "--has-marker", "nap")
    assert r.returncode != 0 and "nap" in r.stderr


def test_markers_go_with_their_item_OPS_3(services: Services) -> None:
    """A purge deletes item rows with one statement: the database removes the markers."""
    device = services.config.dock_dir / "BWC-8"
    device.mkdir(parents=True)
    clip = device / "clip.mp4"
    make_video(clip, seconds=6, seed=29)
    (device / "clip.mp4.json").write_text(
        json.dumps({"recorded_at": at(0), "markers": MARKERS[:2]})
    )
    settle(clip, services.clock)
    assert [o.status for o in services.dock.scan()] == ["ingested"]
    with services.db.transaction() as s:
        assert s.execute(select(func.count()).select_from(MediaMarker)).scalar_one() == 2
        s.execute(delete(MediaItem))
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(MediaMarker)).scalar_one() == 0
