"""Playback playlists (issue 15.1): the plan of segments (pure), the HLS text, and the
service on both databases over catalog rows: gaps as discontinuities, program date
times, window boundaries, bad input (4xx naming the problem), roles (ACC-1, ACC-7) and
one audit entry per playback session (ACC-6); the session tokens."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from recorder.playback import (
    CHAIN_SEPARATOR,
    GAP_TOLERANCE,
    PlaybackService,
    PlaybackWindow,
    Playlist,
    SegmentPart,
    SessionClaims,
    SessionSigner,
    plan,
)
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.continued import MAX_CHAIN
from vms.db.models import AuditEntry, Device, MediaItem
from vms.errors import InvalidArgument, NotFound, PermissionDenied
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
CAMERA = "cam-playback"


@dataclasses.dataclass(frozen=True)
class Row:
    id: str
    recorded_start: dt.datetime
    recorded_end: dt.datetime | None
    duration_seconds: float | None = None
    officer_badge: str | None = None
    restricted: bool = False

    def __iter__(self) -> Iterator[Any]:  # as a database row: the columns in order
        return iter(dataclasses.astuple(self))


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def url(media_id: str, part: SegmentPart) -> str:
    return f"/p/{media_id}/{part.value}.mp4"


# -- the plan (pure) -------------------------------------------------------------------


def test_back_to_back_segments_play_without_a_discontinuity() -> None:
    rows = [Row("a", at(0), at(60)), Row("b", at(60), at(120)), Row("c", at(120), at(150.5))]
    segments = plan(rows)
    assert [s.media_id for s in segments] == ["a", "b", "c"]
    assert [s.duration for s in segments] == [60.0, 60.0, 30.5]
    assert [s.discontinuity for s in segments] == [False, False, False]
    assert [s.start for s in segments] == [at(0), at(60), at(120)]


def test_a_gap_or_an_overlap_beyond_the_tolerance_is_a_discontinuity() -> None:
    small = GAP_TOLERANCE.total_seconds() / 2
    rows = [
        Row("a", at(0), at(60)),
        Row("b", at(60 + small), at(120)),  # jitter: continuous
        Row("c", at(300), at(360)),  # recording stopped for 3 min
        Row("d", at(359), at(420)),  # overlaps the previous by 1 s
    ]
    assert [s.discontinuity for s in plan(rows)] == [False, False, True, True]


def test_segments_without_a_duration_are_left_out_and_an_open_end_uses_the_duration() -> None:
    rows = [
        Row("a", at(0), None, 60.0),
        Row("empty", at(60), at(60)),
        Row("b", at(60), None, None),
        Row("c", at(60), at(90)),
    ]
    segments = plan(rows)
    assert [(s.media_id, s.duration, s.discontinuity) for s in segments] == [
        ("a", 60.0, False),
        ("c", 30.0, False),
    ]


def test_a_chain_of_segments_continued_without_a_keyframe_is_one_hls_segment() -> None:
    """A camera with an endless GOP (docs/design/playback.md, "Continued segments"): a
    segment that continues the one before it joins it, so a player never gets frames
    whose references it did not load; one whose chain's keyframe is not in the
    playlist is not independent, and the playlist then does not claim
    ``EXT-X-INDEPENDENT-SEGMENTS`` (RFC 8216 4.3.5.1)."""
    rows = [
        Row("k", at(0), at(180)),
        Row("c1", at(180), at(360)),
        Row("c2", at(360), at(400)),
        Row("k2", at(400), at(460)),
        Row("c3", at(600), at(660)),  # after a gap: its keyframe was never catalogued
    ]
    segments = plan(rows, {"c1", "c2", "c3"})
    assert [(s.media_id, s.duration, s.independent) for s in segments] == [
        (f"k{CHAIN_SEPARATOR}c1{CHAIN_SEPARATOR}c2", 400.0, True),
        ("k2", 60.0, True),
        ("c3", 60.0, False),
    ]
    text = Playlist(CAMERA, at(0), at(700), "tok", tuple(segments), 0.0).m3u8(url)
    assert "#EXT-X-INDEPENDENT-SEGMENTS" not in text
    assert f"/p/k{CHAIN_SEPARATOR}c1{CHAIN_SEPARATOR}c2/media.mp4" in text
    whole = Playlist(CAMERA, at(0), at(460), "tok", tuple(segments[:2]), 0.0).m3u8(url)
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in whole
    # A chain longer than MAX_CHAIN + 1 segments is split: the rest is not independent.
    long = [Row("k", at(0), at(1))] + [
        Row(f"c{n}", at(n), at(n + 1)) for n in range(1, MAX_CHAIN + 3)
    ]
    split = plan(long, {r.id for r in long[1:]})
    assert [len(s.media_id.split(CHAIN_SEPARATOR)) for s in split] == [MAX_CHAIN + 1, 2]
    assert [s.independent for s in split] == [True, False]


def test_the_playlist_text_has_a_map_a_date_and_a_duration_per_segment() -> None:
    rows = [Row("a", at(0), at(59.6)), Row("b", at(59.6), at(120)), Row("c", at(400), at(401))]
    playlist = Playlist(CAMERA, at(30), at(500), "tok", tuple(plan(rows)), 30.0)
    lines = playlist.m3u8(url).splitlines()
    assert lines[:8] == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:60",  # 60.4 rounds to 60 (RFC 8216 4.3.3.1)
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-START:TIME-OFFSET=30.000,PRECISE=YES",
    ]
    assert lines[8:] == [
        '#EXT-X-MAP:URI="/p/a/init.mp4"',
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-20T08:00:00.000Z",
        "#EXTINF:59.600,",
        "/p/a/media.mp4",
        '#EXT-X-MAP:URI="/p/b/init.mp4"',
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-20T08:00:59.600Z",
        "#EXTINF:60.400,",
        "/p/b/media.mp4",
        "#EXT-X-DISCONTINUITY",
        '#EXT-X-MAP:URI="/p/c/init.mp4"',
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-20T08:06:40.000Z",
        "#EXTINF:1.000,",
        "/p/c/media.mp4",
        "#EXT-X-ENDLIST",
    ]


# -- the service, on both databases ----------------------------------------------------


def seed(services: Services, rows: list[Row], camera: str = CAMERA) -> None:
    with services.db.transaction() as s:
        if s.get(Device, camera) is None:
            s.add(Device(id=camera, kind="fixed", name=camera, created_at=T0))
        for row in rows:
            s.add(
                MediaItem(
                    id=row.id,
                    source="fixed",
                    media_type="video",
                    content_type="video/mp4",
                    device_id=camera,
                    officer_badge=row.officer_badge,
                    recorded_start=row.recorded_start,
                    recorded_end=row.recorded_end,
                    duration_seconds=row.duration_seconds,
                    size_bytes=1000,
                    sha256=hashlib.sha256(row.id.encode()).hexdigest(),
                    ingested_at=T0,
                    ingested_by="recorder",
                    recorded_start_origin="container",
                    restricted=row.restricted,
                )
            )


def playback(services: Services) -> PlaybackService:
    service = services.ports.find(PlaybackService)
    assert service is not None
    return service


def entries(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).scalars()
        )


def open_window(
    services: Services, actor: Actor, start: float, end: float, camera: str = CAMERA
) -> Playlist:
    window = PlaybackWindow(camera, at(start), at(end), purpose="investigation")
    return playback(services).open(actor, window, remote="127.0.0.1")


def day_with_a_gap(services: Services) -> None:
    seed(
        services,
        [
            Row("seg-before", at(-120), at(-60)),  # ends before the window: not listed
            Row("seg-1", at(-60), at(0)),  # ends exactly at the window start: not listed
            Row("seg-2", at(0), at(60)),
            Row("seg-3", at(60), at(120)),
            Row("seg-4", at(600), at(660)),  # after a 8-minute stop
            Row("seg-5", at(660), at(720)),  # starts exactly at the window end: not listed
        ],
    )
    # Another camera's segment in the same window is never listed.
    seed(services, [Row("other-cam", at(0), at(60))], camera="cam-other")


def test_a_camera_s_segments_are_read_through_its_own_index(services: Services) -> None:
    """SQLite without statistics would pick the source index and read every camera's
    segments in the window (bench/playlist.py: 26 ms instead of 4 for one of 20 cameras):
    both queries of a playlist (the floor seek and the range) use the camera's index."""
    if services.db.engine.dialect.name != "sqlite":
        pytest.skip("the planner's choice checked is SQLite's (PostgreSQL has statistics)")
    day_with_a_gap(services)
    for camera in ("cam-b", "cam-c"):
        seed(
            services, [Row(f"{camera}-{i}", at(60 * i), at(60 * i + 60)) for i in range(5)], camera
        )
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM media_items" in statement:
            statements.append((statement, parameters))

    event.listen(services.db.engine, "before_cursor_execute", capture)
    try:
        rows = playback(services).segments(CAMERA, at(30), at(660))
    finally:
        event.remove(services.db.engine, "before_cursor_execute", capture)
    assert [r.id for r in rows] == ["seg-2", "seg-3", "seg-4"]
    assert len(statements) == 2
    with services.db.engine.connect() as conn:
        for statement, parameters in statements:
            plan_rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            details = " ".join(str(r[-1]) for r in plan_rows)
            assert "USING INDEX ix_media_items_device_time" in details, (statement, details)


def test_the_playlist_lists_the_window_with_dates_gaps_and_the_start_offset(
    services: Services, actors: dict[str, Actor]
) -> None:
    day_with_a_gap(services)
    playlist = open_window(services, actors["investigator"], 30, 660)
    assert [s.media_id for s in playlist.segments] == ["seg-2", "seg-3", "seg-4"]
    assert [s.discontinuity for s in playlist.segments] == [False, False, True]
    assert [s.start for s in playlist.segments] == [at(0), at(60), at(600)]
    assert playlist.start_offset == 30.0
    text = playlist.m3u8(url)
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == 3
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-11-20T08:10:00.000Z" in text
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert text.index("#EXT-X-DISCONTINUITY\n") < text.index("/p/seg-4/media.mp4")
    assert text.endswith("#EXT-X-ENDLIST\n")


def test_a_window_starting_in_a_gap_starts_at_the_next_recorded_instant(
    services: Services, actors: dict[str, Actor]
) -> None:
    day_with_a_gap(services)
    playlist = open_window(services, actors["investigator"], 300, 700)
    assert [s.media_id for s in playlist.segments] == ["seg-4", "seg-5"]
    assert playlist.segments[0].discontinuity is False  # the first one never is
    assert playlist.start_offset == 0.0


def test_bad_windows_are_refused_naming_the_problem(
    services: Services, actors: dict[str, Actor]
) -> None:
    day_with_a_gap(services)
    who = actors["investigator"]
    with pytest.raises(InvalidArgument, match="must be after start"):
        open_window(services, who, 60, 60)
    with pytest.raises(InvalidArgument, match="must be after start"):
        open_window(services, who, 60, 0)
    with pytest.raises(InvalidArgument, match=r"spans 25 h; playback spans at most 24 h"):
        open_window(services, who, 0, 25 * 3600)
    with pytest.raises(NotFound, match="camera 'nope' does not exist"):
        open_window(services, who, 0, 60, camera="nope")
    with pytest.raises(NotFound, match="has no recording between 2026-11-20T08:02:00Z"):
        open_window(services, who, 120, 600)
    assert entries(services, "media.playback") == []


def test_the_maximum_window_is_the_configured_one(
    services: Services, actors: dict[str, Actor]
) -> None:
    day_with_a_gap(services)
    assert services.config.recorder.playback_max_hours == 24.0
    assert open_window(services, actors["investigator"], 0, 24 * 3600).segments  # exactly 24 h


def test_opening_is_audited_once_with_the_window(
    services: Services, actors: dict[str, Actor]
) -> None:
    day_with_a_gap(services)
    playlist = open_window(services, actors["investigator"], 30, 660)
    claims = playback(services).signer.verify(playlist.session)
    (entry,) = entries(services, "media.playback")
    assert (entry.actor, entry.target, entry.outcome) == ("investigator", f"camera:{CAMERA}", "ok")
    assert entry.details["session"] == claims.session_id
    assert entry.details["segments"] == 3
    assert entry.details["start"] == "2026-11-20T08:00:30Z"
    assert entry.details["first_media_id"] == "seg-2"
    assert entry.details["last_media_id"] == "seg-4"
    assert entry.details["purpose"] == "investigation"  # ACC-4


def test_a_camera_is_played_for_a_stated_purpose_ACC_4(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A fixed camera's segments are nobody's own recording: the reviewer states why."""
    day_with_a_gap(services)
    service = playback(services)
    for purpose, wrong in ((None, "purpose is required"), ("fun", "'fun' is not one of")):
        window = PlaybackWindow(CAMERA, at(30), at(660), purpose=purpose)
        with pytest.raises(InvalidArgument, match=wrong) as refused:
            service.open(actors["admin"], window, remote="127.0.0.1")
        assert "internal_affairs" in refused.value.message
    assert not entries(services, "media.playback")


def test_an_officer_may_not_play_a_fixed_camera_and_the_refusal_is_audited(
    services: Services, actors: dict[str, Actor]
) -> None:
    day_with_a_gap(services)
    with pytest.raises(PermissionDenied, match="own recordings"):
        open_window(services, actors["officer"], 0, 120)
    denied = [e for e in entries(services, "media.view") if e.outcome == "denied"]
    # Refused on the camera before its segments are looked up (ACC-1: the answer does
    # not tell an officer when the camera recorded).
    assert [(e.actor, e.target) for e in denied] == [("officer", f"camera:{CAMERA}")]
    assert entries(services, "media.playback") == []


def test_a_restricted_segment_is_played_by_administration_only_ACC_7(
    services: Services, actors: dict[str, Actor]
) -> None:
    seed(services, [Row("open", at(0), at(60)), Row("locked", at(60), at(120), restricted=True)])
    with pytest.raises(PermissionDenied, match="restricted"):
        open_window(services, actors["investigator"], 0, 120)
    # Before the locked one, the investigator may play.
    assert [s.media_id for s in open_window(services, actors["investigator"], 0, 60).segments] == [
        "open"
    ]
    assert [s.media_id for s in open_window(services, actors["admin"], 0, 120).segments] == [
        "open",
        "locked",
    ]


def test_a_dispatcher_may_not_play(services: Services, actors: dict[str, Actor]) -> None:
    day_with_a_gap(services)
    with pytest.raises(PermissionDenied):
        open_window(services, actors["dispatcher"], 0, 120)
    (denied,) = entries(services, "media.view")
    assert (denied.actor, denied.target, denied.outcome) == (
        "dispatcher",
        f"camera:{CAMERA}",
        "denied",
    )


# -- sessions ---------------------------------------------------------------------------


def test_a_session_token_round_trips_and_refuses_any_change() -> None:
    signer = SessionSigner(b"k" * 32)
    claims = SessionClaims("sid", "investigator", CAMERA, at(0), at(60), at(0), at(3600))
    token = signer.sign(claims)
    assert signer.verify(token) == claims
    payload, _, mac = token.partition(".")
    forged = SessionSigner(b"x" * 32).sign(dataclasses.replace(claims, username="admin"))
    for bad in (forged, payload + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"), "", "..."):
        with pytest.raises(NotFound, match="no such playback session"):
            signer.verify(bad)


def test_segment_links_are_for_their_user_their_window_and_their_lifetime(
    services: Services, actors: dict[str, Actor], clock: ManualClock
) -> None:
    day_with_a_gap(services)
    service = playback(services)
    token = open_window(services, actors["investigator"], 30, 660).session
    # Another user's session: refused, audited.
    with pytest.raises(PermissionDenied, match="another user's"):
        service.segment(actors["admin"], token, "seg-2", SegmentPart.MEDIA)
    denied = [e for e in entries(services, "media.view") if e.outcome == "denied"]
    assert [(e.actor, e.target) for e in denied] == [("admin", "media:seg-2")]
    # An item outside the window, or of another camera: not part of the session.
    for media_id in ("seg-1", "seg-5", "other-cam", "missing"):
        with pytest.raises(NotFound, match="not a segment of this playback session"):
            service.segment(actors["investigator"], token, media_id, SegmentPart.MEDIA)
    # In the session, but these seeded rows have no file: the check got that far.
    with pytest.raises(NotFound, match="missing from the store"):
        service.segment(actors["investigator"], token, "seg-2", SegmentPart.MEDIA)
    clock.advance(dt.timedelta(hours=12))
    with pytest.raises(PermissionDenied, match="expired"):
        service.segment(actors["investigator"], token, "seg-2", SegmentPart.MEDIA)
    # INV-4: the refusal of an expired session's link is audited too.
    denied = [e for e in entries(services, "media.view") if e.outcome == "denied"]
    assert [(e.actor, e.target) for e in denied][-1] == ("investigator", "media:seg-2")
    assert "expired" in denied[-1].details["reason"]


def test_the_api_answers_400_404_and_403_naming_the_problem(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    day_with_a_gap(services)
    headers = {"Authorization": f"Bearer {tokens['investigator']}"}
    base = f"/api/v1/cameras/{CAMERA}/playback.m3u8"

    def get(path: str, who: dict[str, str] = headers, **query: str) -> Any:
        return client.get(path, query_string={"purpose": "investigation", **query}, headers=who)

    missing = get(base, start=at(0).isoformat())
    assert (
        missing.status_code == 400 and "end is required" in missing.get_json()["error"]["message"]
    )
    bad = get(base, start="yesterday", end=at(60).isoformat())
    assert bad.status_code == 400 and "'yesterday'" in bad.get_json()["error"]["message"]
    inverted = get(base, start=at(60).isoformat(), end=at(0).isoformat())
    assert inverted.status_code == 400
    assert "must be after start" in inverted.get_json()["error"]["message"]
    long = get(base, start=at(0).isoformat(), end=at(48 * 3600).isoformat())
    assert long.status_code == 400 and "at most 24 h" in long.get_json()["error"]["message"]
    unknown = get(
        "/api/v1/cameras/nope/playback.m3u8", start=at(0).isoformat(), end=at(60).isoformat()
    )
    assert unknown.status_code == 404 and "'nope'" in unknown.get_json()["error"]["message"]
    empty = get(base, start=at(200).isoformat(), end=at(300).isoformat())
    assert empty.status_code == 404 and "no recording" in empty.get_json()["error"]["message"]
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    assert get(base, officer, start=at(0).isoformat(), end=at(60).isoformat()).status_code == 403

    ok = get(base, start=at(30).isoformat(), end=at(660).isoformat())
    assert ok.status_code == 200, ok.get_json()
    assert ok.mimetype == "application/vnd.apple.mpegurl"
    text = ok.get_data(as_text=True)
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:7\n")
    links = [line for line in text.splitlines() if line.startswith("/api/v1/playback/")]
    assert len(links) == 3 and links[0].endswith("/seg-2/media.mp4")
    prefix = links[0].rsplit("/", 2)[0]
    assert get(f"{prefix}/seg-2/other.mp4").status_code == 404
    assert get(f"{prefix}/seg-9/media.mp4").status_code == 404
    assert get("/api/v1/playback/forged.token/seg-2/media.mp4").status_code == 404
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    assert get(links[0], admin).status_code == 403
    assert client.get(links[0]).status_code == 401


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    camera=st.text(min_size=1, max_size=80),
    start=st.one_of(st.text(max_size=40), st.datetimes().map(lambda d: d.isoformat())),
    end=st.one_of(st.text(max_size=40), st.datetimes().map(lambda d: d.isoformat())),
    session=st.text(min_size=1, max_size=300),
    media_id=st.text(min_size=1, max_size=80),
    part=st.text(min_size=1, max_size=10),
)
def test_any_input_gets_an_answer_never_a_500(
    client: Any,
    tokens: dict[str, str],
    camera: str,
    start: str,
    end: str,
    session: str,
    media_id: str,
    part: str,
) -> None:
    headers = {"Authorization": f"Bearer {tokens['investigator']}"}
    path = quote(camera, safe="")
    answer = client.get(
        f"/api/v1/cameras/{path}/playback.m3u8",
        query_string={"start": start, "end": end, "purpose": "investigation"},
        headers=headers,
    )
    # 308: werkzeug's redirect of a path with "." or ".." segments, not our answer.
    assert answer.status_code in {308, 400, 404}, answer.get_data(as_text=True)
    segment = "/".join(quote(p, safe="") for p in (session, media_id, part))
    fetched = client.get(f"/api/v1/playback/{segment}.mp4", headers=headers)
    assert fetched.status_code in {308, 400, 404}, fetched.get_data(as_text=True)
