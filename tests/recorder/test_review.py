"""The review of a window across sources (issue 15.2): spans merged from segments
(pure), and the service on both databases: what each role is offered (ACC-1, ACC-2,
ACC-7), recording interruptions with their cause (OPS-4), the chosen sources, bad input
as a 4xx naming the problem, and one audit entry with the ids shown (ACC-6)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from sqlalchemy import select

from recorder.review import (
    ReviewQuery,
    ReviewService,
    ReviewWindow,
    Span,
    merge_spans,
)
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, Device, MediaItem, RecordingGap
from vms.errors import InvalidArgument, NotFound, PermissionDenied
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@dataclasses.dataclass(frozen=True)
class Row:
    recorded_start: dt.datetime
    recorded_end: dt.datetime | None
    duration_seconds: float | None = None


# -- spans (pure) ------------------------------------------------------------------------


def test_back_to_back_segments_merge_into_one_span_and_a_stop_starts_another() -> None:
    rows = [
        Row(at(0), at(60)),
        Row(at(60.2), at(120)),  # jitter within the playlist's tolerance
        Row(at(300), None, 60.0),  # recording stopped for 3 min; open end: its duration
        Row(at(360), None, None),  # still being written: nothing to show
    ]
    assert merge_spans(rows) == [Span(at(0), at(120)), Span(at(300), at(360))]


# -- the service, on both databases ------------------------------------------------------


def add_item(
    services: Services,
    media_id: str,
    source: str,
    device: str,
    start: float,
    end: float | None,
    *,
    badge: str | None = None,
    restricted: bool = False,
    media_type: str = "video",
) -> None:
    with services.db.transaction() as s:
        if s.get(Device, device) is None:
            s.add(Device(id=device, kind=source, name=f"{device} name", created_at=T0))
        s.add(
            MediaItem(
                id=media_id,
                source=source,
                media_type=media_type,
                content_type="video/mp4",
                device_id=device,
                officer_badge=badge,
                recorded_start=at(start),
                recorded_end=at(end) if end is not None else None,
                duration_seconds=None if end is None else end - start,
                size_bytes=1000,
                sha256=hashlib.sha256(media_id.encode()).hexdigest(),
                ingested_at=T0,
                ingested_by="setup",
                recorded_start_origin="container",
                restricted=restricted,
            )
        )


@pytest.fixture
def scene(services: Services) -> None:
    """Camera A recorded 0..120 s and 300..360 s (a logged interruption between),
    camera B one restricted segment, officer B1's and B2's body cameras, a dash
    recording before the window and a document."""
    for n, (start, end) in enumerate([(0, 60), (60, 120), (300, 360)]):
        add_item(services, f"a{n}", "fixed", "cam-a", start, end)
    add_item(services, "b0", "fixed", "cam-b", 0, 60, restricted=True)
    add_item(services, "bwc1", "bwc", "BWC-1", 30, 90, badge="B1")
    add_item(services, "bwc2", "bwc", "BWC-2", 100, 130, badge="B2")
    add_item(services, "dash", "dash", "DASH-1", -600, -500, badge="B1")
    add_item(services, "doc", "bwc", "BWC-1", 40, 41, badge="B1", media_type="document")
    with services.db.transaction() as s:
        s.add(RecordingGap(camera_id="cam-a", start=at(120), end=at(300), cause="camera_down"))


def review(services: Services) -> ReviewService:
    found = services.ports.find(ReviewService)
    assert found is not None
    return found


def look(
    services: Services,
    actor: Actor,
    start: float = -10,
    end: float = 400,
    cameras: tuple[str, ...] = (),
    media: tuple[str, ...] = (),
) -> ReviewWindow:
    return review(services).window(actor, ReviewQuery(at(start), at(end), cameras, media))


def entries(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).scalars()
        )


@pytest.mark.usefixtures("scene")
def test_an_investigator_is_offered_every_camera_and_recording_of_the_window_ACC_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    window = look(services, actors["investigator"], cameras=("cam-a",), media=("bwc1",))
    by_id = {s.id: s for s in window.sources}
    assert [s.id for s in window.sources] == ["cam-a", "bwc1", "cam-b", "bwc2"]
    a = by_id["cam-a"]
    assert (a.kind, a.selected, a.playable, a.name) == ("camera", True, True, "cam-a name")
    assert a.spans == (Span(at(0), at(120)), Span(at(300), at(360)))
    assert [(g.start, g.end, g.cause) for g in a.interruptions] == [
        (at(120), at(300), "camera_down")
    ]
    # Restricted recordings are listed (they exist) but not playable (ACC-7).
    b = by_id["cam-b"]
    assert (b.playable, b.restricted, b.selected) == (False, True, False)
    assert b.refusal is not None and "ACC-7" in b.refusal
    bwc = by_id["bwc1"]
    assert (bwc.kind, bwc.source, bwc.selected, bwc.playable) == ("item", "bwc", True, True)
    assert bwc.spans == (Span(at(30), at(90)),)
    assert "dash" not in by_id and "doc" not in by_id  # outside the window; not a recording
    assert not window.truncated

    [entry] = entries(services, "review.view")
    assert entry.actor == "investigator" and entry.outcome == "ok"
    assert entry.details["camera_ids"] == ["cam-a", "cam-b"]
    assert entry.details["media_ids"] == ["bwc1", "bwc2"]
    assert entry.details["selected"] == ["camera:cam-a", "item:bwc1"]


@pytest.mark.usefixtures("scene")
def test_an_officer_sees_only_their_own_recordings_and_is_refused_the_rest_ACC_2(
    services: Services, actors: dict[str, Actor]
) -> None:
    officer = actors["officer"]  # badge B1
    window = look(services, officer)
    assert [(s.id, s.playable) for s in window.sources] == [("bwc1", True)]
    for cameras, media in ((("cam-a",), ()), ((), ("bwc2",))):
        with pytest.raises(PermissionDenied, match="own recordings"):
            look(services, officer, cameras=cameras, media=media)
    denied = [e for e in entries(services, "media.search") if e.outcome == "denied"]
    assert [e.target for e in denied] == ["camera:cam-a", "media:bwc2"]
    with pytest.raises(PermissionDenied):
        look(services, actors["dispatcher"])
    # A records commander searches but does not play media: listed, not playable.
    listed = look(services, actors["commander"])
    assert {s.id for s in listed.sources} == {"cam-a", "cam-b", "bwc1", "bwc2"}
    assert not any(s.playable for s in listed.sources)


@pytest.mark.usefixtures("scene")
def test_bad_windows_and_sources_are_refused_naming_the_problem(
    services: Services, actors: dict[str, Actor]
) -> None:
    who = actors["investigator"]
    with pytest.raises(InvalidArgument, match="must be after start"):
        look(services, who, 100, 100)
    with pytest.raises(InvalidArgument, match=r"spans 25 h.*playback_max_hours"):
        look(services, who, 0, 25 * 3600)
    with pytest.raises(NotFound, match="camera 'nope' does not exist"):
        look(services, who, cameras=("nope",))
    with pytest.raises(NotFound, match="media 'nope' does not exist"):
        look(services, who, media=("nope",))
    with pytest.raises(InvalidArgument, match=r"dash was recorded .* outside the window"):
        look(services, who, media=("dash",))
    with pytest.raises(InvalidArgument, match="a fixed video item"):
        look(services, who, media=("a0",))
    # A camera with nothing in the window is shown as such when chosen.
    empty = look(services, who, 200, 290, cameras=("cam-a",))
    [a] = [s for s in empty.sources if s.id == "cam-a"]
    assert (a.spans, a.playable) == ((), False)
    assert [g.cause for g in a.interruptions] == ["camera_down"]
